"""An operator-owned workspace whose widget agent is trained on a small handbook: what the widget tests talk to."""

from __future__ import annotations

from appliance.agent.agents import Agent
from appliance.services import Services

PASSWORD = "a long enough passphrase for tests"


def handbook_agent(services: Services, handbook: bytes, settings: dict) -> tuple[str, Agent]:
    """The workspace's id and its agent (`settings` as the agents API takes them), the handbook indexed."""
    operator = services.users.create_operator(email="op@example.com", password=PASSWORD)
    workspace = services.workspaces.create(name="Acme", owner_id=operator.id, actor_id=operator.id,
                                           client_address=None)
    services.knowledge.sources(workspace.id).add_file(filename="handbook.md", data=handbook,
                                                      media_type="text/markdown")
    agent = services.agents.of(workspace.id).create(settings)
    assert services.knowledge.wait_idle(30)
    return workspace.id, agent
