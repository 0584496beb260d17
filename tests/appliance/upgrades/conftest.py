"""What the upgrade tests share: an appliance with operators and a workspace (with an agent) in it."""

from __future__ import annotations

import pytest

from appliance.bootstrap import open_appliance
from appliance.services import build_services

OPERATORS = ("olga@example.com", "oscar@example.com")
PASSWORD = "violet anchor drizzle 42"


@pytest.fixture
def workspace_id(initialised, clock, settings) -> str:
    """Two operators and a workspace with an agent, made through the services and closed again."""
    appliance = open_appliance(initialised, clock=clock)
    services = build_services(appliance, settings)
    try:
        owner = services.users.create_operator(email=OPERATORS[0], password=PASSWORD)
        services.users.create_operator(email=OPERATORS[1], password=PASSWORD)
        workspace = services.workspaces.create(name="Support", owner_id=owner.id, actor_id=owner.id,
                                               client_address=None)
        services.agents.of(workspace.id).create({"name": "Helper"})
        return workspace.id
    finally:
        services.knowledge.close()
        appliance.close()
