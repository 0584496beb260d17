"""The control database's routes from a widget's agent id to its workspace: kept with the agent, repaired at start."""

from __future__ import annotations

from appliance.agent.answer import wants_person


def test_creating_and_deleting_an_agent_keeps_its_route(services):
    operator = services.users.create_operator(email="op@example.com", password="a long enough passphrase here")
    workspace = services.workspaces.create(name="Acme", owner_id=operator.id, actor_id=operator.id,
                                           client_address=None)
    routes = services.widget._routes
    agent = services.agents.of(workspace.id).create({"name": "Helper"})
    route = routes.find(agent.public_id)
    assert (route.workspace_id, route.agent_id) == (workspace.id, agent.id)

    with services.appliance.control_db.transaction() as conn:  # as if the process died between the two writes
        conn.execute("DELETE FROM agent_routes")
    assert routes.find(agent.public_id) is None
    services.agents.repair_routes([workspace.id])
    assert routes.find(agent.public_id).agent_id == agent.id

    services.agents.of(workspace.id).delete(agent.id)
    assert routes.find(agent.public_id) is None
    services.knowledge.close()


def test_asking_for_a_person_is_told_apart_from_questions_about_people():
    for wanted in ("Can I talk to a person?", "I'd like to speak with someone from sales", "please contact me",
                   "human please", "Agent", "Can someone call me back?"):
        assert wants_person(wanted), wanted
    for question in ("Who is the person in charge of parking?", "How do humans get leave?", "talk about leave",
                     "What does the support team do?"):
        assert not wants_person(question), question
