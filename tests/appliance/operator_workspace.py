"""A workspace of one operator, made through the services as the panel makes it: what core tests index into."""

from __future__ import annotations

from appliance.services import Services
from appliance.storage.database import Database

PASSWORD = "violet anchor drizzle 42"


def operator_workspace(services: Services) -> tuple[str, Database]:
    """The new workspace's id and its open database."""
    owner = services.users.create_operator(email="op@example.com", password=PASSWORD)
    workspace = services.workspaces.create(name="Acme", owner_id=owner.id, actor_id=owner.id, client_address=None)
    return workspace.id, services.appliance.workspaces.open(workspace.id)
