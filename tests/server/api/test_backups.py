"""Backups through the API, as an operator's control panel uses them; restore stays on the command line."""

from __future__ import annotations

import pytest

from appliance.backups import lock
from appliance.services import build_scheduler
from server.app import create_app
from server.openapi import document as openapi

PASSWORD = "a long enough passphrase for tests"


@pytest.fixture
def world(services, settings):
    scheduler = build_scheduler(services)
    scheduler.start()
    client = create_app(services, settings=settings, scheduler=scheduler).test_client()
    operator = services.users.create_operator(email="op@example.com", password=PASSWORD)
    workspace = services.workspaces.create(name="Acme", owner_id=operator.id, actor_id=operator.id,
                                           client_address=None)
    token = client.post("/api/v1/auth/login", json={"email": "op@example.com", "password": PASSWORD}).get_json()
    yield client, {"Authorization": f"Bearer {token['token']}"}, operator, workspace.id
    scheduler.shutdown(wait=True)
    services.knowledge.close()


def test_an_operator_makes_lists_reads_and_verifies_a_backup(world, services):
    client, operator_auth, operator, workspace_id = world

    created = client.post("/api/v1/backups", headers=operator_auth)

    assert created.status_code == 201, created.get_json()
    backup = created.get_json()["backup"]
    assert backup["status"] == "complete" and backup["workspace_ids"] == [workspace_id]
    assert backup["file_present"] and backup["key_id"] == "backup:1" and backup["verification"] is None
    listed = client.get("/api/v1/backups", headers=operator_auth).get_json()["backups"]
    assert [b["id"] for b in listed] == [backup["id"]]
    assert client.get(f"/api/v1/backups/{backup['id']}", headers=operator_auth).get_json()["backup"] == backup

    verified = client.post(f"/api/v1/backups/{backup['id']}/verify", headers=operator_auth)

    assert verified.status_code == 200
    result = verified.get_json()["backup"]
    assert result["verification_status"] == "passed" and result["verification"]["passed"] is True
    assert {f["name"] for f in result["verification"]["files"]} == {"control.db", f"workspaces/{workspace_id}.db"}
    events = services.audit.events(action="backup")
    assert [(e.action, e.actor_type, e.actor_id) for e in events] == [("backup.create", "user", operator.id),
                                                                      ("backup.verify", "user", operator.id)]


def test_unknown_backups_answer_404_and_a_busy_directory_409(world, services):
    client, operator_auth, _, _ = world
    assert client.get("/api/v1/backups/nope", headers=operator_auth).status_code == 404
    assert client.post("/api/v1/backups/nope/verify", headers=operator_auth).status_code == 404
    services.backups.directory.mkdir(parents=True, exist_ok=True)

    with lock.holding(services.backups.directory):
        busy = client.post("/api/v1/backups", headers=operator_auth)

    assert busy.status_code == 409 and "already running" in busy.get_json()["message"]


def test_a_workspace_owner_who_is_not_an_operator_is_refused(world, services):
    client, operator_auth, _, workspace_id = world
    owner = services.users.create_operator(email="other@example.com", password=PASSWORD)
    with services.appliance.control_db.transaction() as conn:
        conn.execute("UPDATE users SET is_operator = 0 WHERE id = ?", (owner.id,))
    token = client.post("/api/v1/auth/login", json={"email": "other@example.com", "password": PASSWORD}).get_json()
    member = {"Authorization": f"Bearer {token['token']}"}

    for method, path in (("post", "/api/v1/backups"), ("get", "/api/v1/backups")):
        response = getattr(client, method)(path, headers=member)
        assert response.status_code == 403 and response.get_json()["message"] == "only appliance operators may do this"
    assert services.backups.list() == []


def test_the_api_description_says_why_restore_is_command_line_only():
    document = openapi.document()
    tag = next(t for t in document["tags"] if t["name"] == "backups")
    assert "chatspark backup restore" in tag["description"] and "stopped, fresh appliance" in tag["description"]
    assert not any("restore" in path for path in document["paths"])
