"""API keys through the API as an integrator uses them: one workspace, its scopes, no query strings, rate limits."""

from __future__ import annotations

import pytest

from appliance.services import build_scheduler
from server.app import create_app

PASSWORD = "a long enough passphrase for tests"


@pytest.fixture
def world(services, settings):
    scheduler = build_scheduler(services)
    scheduler.start()
    client = create_app(services, settings=settings, scheduler=scheduler).test_client()
    admin = services.users.create_operator(email="op@example.com", password=PASSWORD)
    acme = services.workspaces.create(name="Acme", owner_id=admin.id, actor_id=admin.id, client_address=None)
    other = services.workspaces.create(name="Other", owner_id=admin.id, actor_id=admin.id, client_address=None)
    token = client.post("/api/v1/auth/login", json={"email": "op@example.com", "password": PASSWORD}).get_json()
    services.knowledge.sources(acme.id).add_text(title="Parking", text="Staff park on level B2 of the north garage.")
    services.knowledge.wait_idle(30)
    agent = services.agents.of(acme.id).create({"name": "Bot"})
    yield client, {"Authorization": f"Bearer {token['token']}"}, acme.id, other.id, agent.id
    scheduler.shutdown(wait=True)
    services.knowledge.close()


def make_key(client, admin, workspace_id, **body):
    response = client.post(f"/api/v1/workspaces/{workspace_id}/api-keys", headers=admin,
                           json={"name": "CRM", "scopes": ["chat"], **body})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_chat_key_asks_its_workspaces_agent(world):
    client, admin, acme, _, agent = world
    created = make_key(client, admin, acme)
    assert created["key"].startswith("csk_") and "shown only this once" in created["message"]
    listed = client.get(f"/api/v1/workspaces/{acme}/api-keys", headers=admin).get_json()["api_keys"]
    assert created["key"] not in str(listed) and listed[0]["prefix"] == f"csk_{created['api_key']['id']}_"

    response = client.post(f"/api/v1/workspaces/{acme}/agents/{agent}/ask",
                           headers={"Authorization": f"Bearer {created['key']}"},
                           json={"question": "Where do staff park?"})
    assert response.status_code == 200 and "B2" in response.get_json()["reply"]


def test_a_key_reaches_neither_other_workspaces_nor_missing_scopes_nor_people_endpoints(world):
    client, admin, acme, other, agent = world
    key = {"Authorization": f"Bearer {make_key(client, admin, acme)['key']}"}
    assert client.get(f"/api/v1/workspaces/{other}/agents", headers=key).status_code == 404
    missing = client.get(f"/api/v1/workspaces/{acme}/sources", headers=key)
    assert missing.status_code == 403 and "sources:read" in missing.get_json()["message"]
    assert client.get(f"/api/v1/workspaces/{acme}/members", headers=key).status_code == 403
    assert client.get(f"/api/v1/workspaces/{acme}/api-keys", headers=key).status_code == 403
    assert client.get("/api/v1/me", headers=key).status_code == 403


def test_a_key_in_the_query_string_is_refused_with_the_reason(world):
    client, admin, acme, _, agent = world
    key = make_key(client, admin, acme)["key"]
    response = client.post(f"/api/v1/workspaces/{acme}/agents/{agent}/ask?api_key={key}",
                           json={"question": "Where do staff park?"})
    assert response.status_code == 400 and "query string" in response.get_json()["message"]


def test_rate_limited_key_gets_429_with_retry_after_and_revoked_key_401(world):
    client, admin, acme, _, agent = world
    created = make_key(client, admin, acme, rate_limit_per_minute=2)
    key = {"Authorization": f"Bearer {created['key']}"}
    ask = f"/api/v1/workspaces/{acme}/agents/{agent}/ask"
    first = client.post(ask, headers=key, json={"question": "Where do staff park?"})
    assert first.status_code == 200
    assert first.headers["X-RateLimit-Limit"] == "2" and first.headers["X-RateLimit-Remaining"] == "1"
    assert client.post(ask, headers=key, json={"question": "Where do staff park?"}).status_code == 200
    limited = client.post(ask, headers=key, json={"question": "Where do staff park?"})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1

    assert client.delete(f"/api/v1/workspaces/{acme}/api-keys/{created['api_key']['id']}",
                         headers=admin).status_code == 204
    assert client.post(ask, headers=key, json={"question": "Where do staff park?"}).status_code == 401


def test_rotation_returns_a_new_key_for_the_same_id(world):
    client, admin, acme, _, agent = world
    created = make_key(client, admin, acme)
    rotated = client.post(f"/api/v1/workspaces/{acme}/api-keys/{created['api_key']['id']}/rotate", headers=admin)
    assert rotated.status_code == 201
    body = rotated.get_json()
    assert body["key"] != created["key"] and body["api_key"]["id"] == created["api_key"]["id"]
    assert body["api_key"]["previous_valid_until"]
