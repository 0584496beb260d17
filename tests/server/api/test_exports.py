"""Exports through the API: a workspace's admins download it encrypted (cancelled workspaces too), API keys need every
read scope and `export`, and a subject export searches only the workspaces the caller administers."""

from __future__ import annotations

import hashlib
import json

import pytest

from appliance.conversations.chat import Visitor
from appliance.exports.unpacking import decrypt_export
from server.app import create_app
from tests.appliance.accounts.account_steps import PASSWORD, make_user
from tests.appliance.conversations.chats import OWNER_PASSWORD, PAGE, PARKING, start_chats
from tests.appliance.exports.workspaces import PASSPHRASE, read_json, train

READ_SCOPES = ["sources:read", "agents:read", "conversations:read", "leads:read", "analytics:read"]


class Api:
    def __init__(self, services, app, trained) -> None:
        self.services, self.client, self.trained = services, app.test_client(), trained
        self.workspace_id = trained.workspace_id
        self.passwords = {"op@example.com": OWNER_PASSWORD}

    def member(self, email: str, role: str, workspace_id: str | None = None):
        user = self.services.users.find_by_email(email) or make_user(self.services, email)
        with self.services.appliance.control_db.transaction() as conn:
            self.services.workspaces.add_member(conn, workspace_id=workspace_id or self.workspace_id,
                                                user_id=user.id, role=role)
        return user

    def token(self, email: str) -> str:
        response = self.client.post("/api/v1/auth/login",
                                    json={"email": email, "password": self.passwords.get(email, PASSWORD)})
        assert response.status_code == 200, response.get_json()
        return response.get_json()["token"]

    def key(self, *scopes: str) -> str:
        owner = self.services.workspaces.get(self.workspace_id).owner_id
        return self.services.api_keys.create(self.workspace_id, name="Backup job", scopes=list(scopes),
                                             actor_id=owner, client_address=None)[0]

    def post(self, credential: str, path: str, body: dict):
        bearer = credential if credential.startswith("csk_") else self.token(credential)
        return self.client.post(f"/api/v1{path}", json=body, headers={"Authorization": f"Bearer {bearer}"})

    def export(self, credential: str, passphrase: str = PASSPHRASE):
        return self.post(credential, f"/workspaces/{self.workspace_id}/export", {"passphrase": passphrase})


@pytest.fixture
def api(services, settings, clock, scheduler):
    trained = train(start_chats(services, clock))
    yield Api(services, create_app(services, settings=settings, scheduler=scheduler), trained)
    services.knowledge.close()


def opened(response, tmp_path) -> dict:
    """The downloaded export decrypted: its manifest, and the directory it was unpacked into."""
    path = tmp_path / response.headers["Content-Disposition"].split('filename="')[1].rstrip('"')
    path.write_bytes(response.get_data())
    result = decrypt_export(path, PASSPHRASE, tmp_path / f"{path.name}-opened")
    return {"manifest": result.manifest, "directory": result.directory}


def test_an_admin_downloads_the_workspace_encrypted_as_an_attachment(api, tmp_path):
    admin = api.member("admin@example.com", "admin")

    response = api.export("admin@example.com")

    assert response.status_code == 200
    assert response.mimetype == "application/octet-stream"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and f"chatspark-workspace-{api.workspace_id}-" in disposition
    assert int(response.headers["Content-Length"]) == len(response.get_data())
    result = opened(response, tmp_path)
    assert result["manifest"]["workspace"]["id"] == api.workspace_id
    assert read_json(result["directory"] / "leads/leads.json")[0]["id"] == api.trained.lead.id
    [event] = api.services.audit.events(action="workspace.export")
    assert (event.actor_type, event.actor_id, event.workspace_id) == ("user", admin.id, api.workspace_id)
    assert event.details["archive_bytes"] == len(response.get_data())


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_editors_and_viewers_may_not_export_the_workspace(api, role):
    api.member(f"{role}@example.com", role)

    response = api.export(f"{role}@example.com")

    assert response.status_code == 403
    assert "admin role" in response.get_json()["message"]
    assert api.services.audit.events(action="workspace.export") == []


def test_a_cancelled_workspace_can_still_be_exported(api, tmp_path):
    with api.services.appliance.control_db.transaction() as conn:
        conn.execute("UPDATE workspaces SET status = 'cancelled' WHERE id = ?", (api.workspace_id,))

    response = api.export("op@example.com")

    assert response.status_code == 200, response.get_json()
    assert opened(response, tmp_path)["manifest"]["workspace"]["status"] == "cancelled"


@pytest.mark.parametrize(("body", "message"), [({}, "'passphrase' is required"),
                                               ({"passphrase": "too short"}, "at least 12 characters"),
                                               ({"passphrase": "x" * 1025}, "at most 1024 characters"),
                                               ({"passphrase": 123456789012345}, "passphrase: must be a string")])
def test_a_missing_or_short_passphrase_gets_a_400_saying_so(api, body, message):
    response = api.post("op@example.com", f"/workspaces/{api.workspace_id}/export", body)

    assert response.status_code == 400
    assert message in response.get_json()["message"]


@pytest.mark.parametrize(("scopes", "missing"), [
    (["export"], "sources:read"),
    (READ_SCOPES, "export"),
    ([*READ_SCOPES[:3], "analytics:read", "export"], "leads:read"),
])
def test_an_api_key_needs_every_read_scope_and_export(api, scopes, missing):
    response = api.export(api.key(*scopes))

    assert response.status_code == 403
    assert f"lacks the '{missing}' scope" in response.get_json()["message"]


def test_an_api_key_with_every_read_scope_and_export_downloads_it(api, tmp_path):
    key = api.key(*READ_SCOPES, "export")

    response = api.export(key)

    assert response.status_code == 200
    assert opened(response, tmp_path)["manifest"]["counts"]["leads"] == 1
    [event] = api.services.audit.events(action="workspace.export")
    assert event.actor_type == "api_key" and key.startswith(f"csk_{event.actor_id}_")


def test_an_api_key_of_another_workspace_sees_no_workspace(api):
    owner = api.services.workspaces.get(api.workspace_id).owner_id
    other = api.services.workspaces.create(name="Other", owner_id=owner, actor_id=owner, client_address=None)
    key = api.services.api_keys.create(other.id, name="Other", scopes=[*READ_SCOPES, "export"], actor_id=owner,
                                       client_address=None)[0]

    assert api.export(key).status_code == 404


def jane_in(api, workspace_id: str) -> str:
    """A lead Jane left through the widget of a new agent in the workspace; its id."""
    agent = api.services.agents.of(workspace_id).create({"name": "Helper"})
    visitor = Visitor("visitor-jane", PAGE, f"{PAGE}/hr", "203.0.113.9")
    conversation = api.services.conversations.chat(workspace_id).ask(agent, PARKING, visitor=visitor)
    return api.services.conversations.leads(workspace_id).submit(
        agent, conversation_id=conversation.conversation_id, visitor=visitor, fields={"email": "jane@example.com"},
        consent=True, consent_version=agent.consent_version).id


def test_a_subject_export_covers_the_workspaces_the_caller_administers_and_no_others(api, tmp_path):
    carol = api.member("carol@example.com", "admin")
    op = api.services.workspaces.get(api.workspace_id).owner_id
    owned = api.services.workspaces.create(name="Carol's", owner_id=carol.id, actor_id=op, client_address=None)
    viewed = api.services.workspaces.create(name="Viewed", owner_id=op, actor_id=op, client_address=None)
    api.member("carol@example.com", "viewer", viewed.id)
    leads = {w: jane_in(api, w) for w in (api.workspace_id, owned.id, viewed.id)}

    response = api.post("carol@example.com", "/subject-exports", {"email": "Jane@Example.com",
                                                                  "passphrase": PASSPHRASE})

    assert response.status_code == 200, response.get_json()
    subject = read_json(opened(response, tmp_path)["directory"] / "subject.json")
    found = {w["id"]: [lead["id"] for lead in w["leads"]] for w in subject["workspaces"]}
    assert found[owned.id] == [leads[owned.id]] and viewed.id not in found
    assert leads[api.workspace_id] in found[api.workspace_id]  # beside the lead the trained workspace already had
    assert {w["id"] for w in subject["workspaces_searched"]} == {api.workspace_id, owned.id}
    assert subject["account_scope"] == "workspaces"
    events = api.services.audit.events(action="subject.export")
    assert {e.workspace_id for e in events} == {None, api.workspace_id, owned.id}
    assert all(e.details["subject_sha256"] == hashlib.sha256(b"jane@example.com").hexdigest() for e in events)
    assert "jane" not in json.dumps([e.details for e in events]).lower()


def test_people_asking_about_themselves_get_their_whole_account(api, tmp_path):
    api.member("dave@example.com", "viewer")

    response = api.post("dave@example.com", "/subject-exports", {"email": "DAVE@example.com",
                                                                 "passphrase": PASSPHRASE})

    subject = read_json(opened(response, tmp_path)["directory"] / "subject.json")
    assert subject["workspaces_searched"] == []  # a viewer administers nothing
    assert subject["account_scope"] == "appliance"
    assert subject["account"]["email"] == "dave@example.com" and len(subject["account"]["sessions"]) == 1


def test_a_subject_export_needs_a_person_and_a_valid_address(api):
    key = api.key(*READ_SCOPES, "export")

    by_key = api.post(key, "/subject-exports", {"email": "jane@example.com", "passphrase": PASSPHRASE})
    bad = api.post("op@example.com", "/subject-exports", {"email": "jane", "passphrase": PASSPHRASE})
    anonymous = api.client.post("/api/v1/subject-exports", json={"email": "jane@example.com",
                                                                 "passphrase": PASSPHRASE})

    assert by_key.status_code == 403 and "signed-in user" in by_key.get_json()["message"]
    assert bad.status_code == 400 and "not an email address" in bad.get_json()["message"]
    assert anonymous.status_code == 401
    assert api.services.audit.events(action="subject.export") == []


@pytest.mark.parametrize("passphrase", ["Acme op@example.com", "op@example.com acme!"])
def test_an_export_passphrase_made_of_the_workspaces_name_or_the_callers_address_is_refused(api, passphrase):
    # The Acme workspace (tests/appliance/conversations/chats.py), exported by its owner op@example.com.
    response = api.post("op@example.com", f"/workspaces/{api.workspace_id}/export", {"passphrase": passphrase})

    assert response.status_code == 400, response.get_json()
    assert passphrase not in response.get_json()["message"]
