"""Lists answer a page at a time: `limit`, `after` and `next_after`, with clear errors for bad cursors."""

from __future__ import annotations

import pytest

from appliance.services import build_scheduler
from server.app import create_app

PASSWORD = "a long enough passphrase for tests"


@pytest.fixture
def api(services, settings):
    scheduler = build_scheduler(services)
    client = create_app(services, settings=settings, scheduler=scheduler).test_client()
    operator = services.users.create_operator(email="op@example.com", password=PASSWORD)
    for n in range(5):
        services.workspaces.create(name=f"W{n}", owner_id=operator.id, actor_id=operator.id, client_address=None)
    token = client.post("/api/v1/auth/login", json={"email": "op@example.com", "password": PASSWORD}).get_json()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token['token']}"
    yield client
    services.knowledge.close()


def test_walking_the_pages_returns_every_item_once_in_order(api):
    everything = api.get("/api/v1/workspaces").get_json()
    assert len(everything["workspaces"]) == 5 and everything["next_after"] is None
    seen, after = [], None
    while True:
        page = api.get("/api/v1/workspaces?limit=2" + (f"&after={after}" if after else "")).get_json()
        seen += [w["id"] for w in page["workspaces"]]
        after = page["next_after"]
        if after is None:
            break
    assert seen == [w["id"] for w in everything["workspaces"]]


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=ten", "after=not-a-cursor"])
def test_bad_limits_and_unknown_cursors_are_clear_errors(api, query):
    response = api.get(f"/api/v1/workspaces?{query}")
    assert response.status_code == 400
    assert "'limit'" in response.get_json()["message"] or "'after'" in response.get_json()["message"]
