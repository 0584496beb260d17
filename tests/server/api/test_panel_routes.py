"""What the control panel needs of the API, which integrators get too: the caller's permissions per workspace, the
appliance at a glance, creating operators, pruning backups, verifying the audit chain now, and invitation links for
appliances whose mail cannot leave."""

from __future__ import annotations

import pytest

from appliance.services import build_scheduler
from server.app import create_app
from tests.appliance.mail.queued_mail import last_mail_to, token_in
from tests.waiting import wait_for

PASSWORD = "quartz lantern meadow 93"


@pytest.fixture
def world(services, settings):
    scheduler = build_scheduler(services)
    scheduler.start()
    client = create_app(services, settings=settings, scheduler=scheduler).test_client()
    operator = services.users.create_operator(email="op@example.com", password=PASSWORD)
    workspace = services.workspaces.create(name="Acme", owner_id=operator.id, actor_id=operator.id,
                                           client_address=None)

    def auth(email: str = "op@example.com", password: str = PASSWORD) -> dict:
        answer = client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert answer.status_code == 200, answer.get_json()
        return {"Authorization": f"Bearer {answer.get_json()['token']}"}

    yield client, auth, workspace.id
    scheduler.shutdown(wait=True)


def _member(client, auth, services, workspace_id: str, email: str, role: str) -> dict:
    invited = client.post(f"/api/v1/workspaces/{workspace_id}/invitations", headers=auth(),
                          json={"email": email, "role": role})
    assert invited.status_code == 201, invited.get_json()
    token = invited.get_json()["accept_url"].split("token=")[1]
    accepted = client.post("/api/v1/invitations/accept", json={"token": token, "password": PASSWORD})
    assert accepted.status_code == 200, accepted.get_json()
    verify = token_in(last_mail_to(services, email)["body"], "/account/verify")
    assert client.post("/api/v1/auth/verify-email", json={"token": verify}).status_code == 200
    return auth(email)


def test_me_says_what_the_callers_role_allows_in_each_workspace(world, services, settings):
    client, auth, workspace_id = world
    viewer = _member(client, auth, services, workspace_id, "vera@example.com", "viewer")

    mine = client.get("/api/v1/me", headers=auth()).get_json()
    theirs = client.get("/api/v1/me", headers=viewer).get_json()

    [owner_membership] = mine["workspaces"]
    assert {"api_keys.manage", "members.manage", "workspace.cancel"} <= set(owner_membership["permissions"])
    [viewer_membership] = theirs["workspaces"]
    assert viewer_membership["role"] == "viewer" and "members.read" in viewer_membership["permissions"]
    assert not {"api_keys.manage", "members.manage", "conversations.read"} & set(viewer_membership["permissions"])
    assert "backups.create" in mine["operator_permissions"] and theirs["operator_permissions"] == []
    assert mine["appliance"]["mail_relay_configured"] is False
    assert mine["appliance"]["cancellation_purge_days"] == settings.cancellation_purge_days


def test_an_invitation_answers_with_its_link_which_lets_the_invitee_join_and_is_audited(world, services):
    client, auth, workspace_id = world

    viewer = _member(client, auth, services, workspace_id, "ivy@example.com", "editor")

    assert client.get(f"/api/v1/workspaces/{workspace_id}", headers=viewer).status_code == 200
    [event] = services.audit.events(action="invitation.create")
    assert event.details["link_returned"] is True
    resent = client.post(f"/api/v1/workspaces/{workspace_id}/invitations", headers=auth(),
                         json={"email": "later@example.com", "role": "viewer"}).get_json()
    again = client.post(f"/api/v1/workspaces/{workspace_id}/invitations/{resent['invitation']['id']}/resend",
                        headers=auth())
    assert again.status_code == 201 and again.get_json()["accept_url"] != resent["accept_url"]


def test_an_operator_sees_the_appliance_at_a_glance(world, services):
    client, auth, _ = world

    overview = client.get("/api/v1/overview", headers=auth())

    assert overview.status_code == 200
    facts = overview.get_json()
    assert facts["health"] == {"status": "ready", "checks": {"databases": "ok", "disk": "ok", "scheduler": "ok"}}
    assert facts["databases"]["workspaces"] == 1 and facts["disk"]["free_bytes"] > 0
    assert "localhost" in facts["certificate"]["names"] and facts["certificate"]["days_left"] > 300
    assert {job["id"] for job in facts["jobs"]} >= {"backup", "send_outbox", "verify_audit_log"}
    assert facts["backups"] == {"count": 0, "newest_verified": None}
    assert facts["mail"]["relay_configured"] is False and facts["audit"]["last_verification"] is None

    backup = client.post("/api/v1/backups", headers=auth()).get_json()["backup"]
    client.post(f"/api/v1/backups/{backup['id']}/verify", headers=auth())
    client.post("/api/v1/jobs/verify_audit_log/run", headers=auth())
    wait_for(lambda: client.get("/api/v1/overview", headers=auth()).get_json()["audit"]["last_verification"])

    later = client.get("/api/v1/overview", headers=auth()).get_json()
    assert later["backups"]["newest_verified"]["id"] == backup["id"]
    assert later["audit"]["last_verification"]["ok"] is True


def test_an_operator_creates_another_operator_with_a_password_shown_once(world, services):
    client, auth, _ = world

    created = client.post("/api/v1/users", headers=auth(), json={"email": "olga@example.com",
                                                                   "display_name": "Olga", "generate_password": True})

    assert created.status_code == 201
    answer = created.get_json()
    assert answer["user"]["is_operator"] is True and len(answer["password"]) >= 20
    assert auth("olga@example.com", answer["password"])
    assert client.post("/api/v1/users", headers=auth(), json={"email": "olga@example.com",
                                                                "password": "another quartz meadow 17"}
                       ).status_code == 409
    weak = client.post("/api/v1/users", headers=auth(), json={"email": "pat@example.com", "password": "aaaaaaaaaaaa"})
    assert weak.status_code == 400 and "aaaa" not in weak.get_json()["message"]
    [event] = [e for e in services.audit.events(action="user.create_operator") if e.actor_type == "user"]
    assert event.target_id == answer["user"]["id"]


def test_the_audit_chain_is_verified_on_demand_and_a_changed_row_is_named(world, services):
    client, auth, _ = world
    assert client.post("/api/v1/audit/verify", headers=auth()).get_json()["ok"] is True

    with services.appliance.control_db.transaction() as conn:
        conn.execute("UPDATE audit_log SET action = 'forged' WHERE seq = 2")

    result = client.post("/api/v1/audit/verify", headers=auth()).get_json()
    assert result["ok"] is False and result["first_bad_seq"] == 2 and "row 2" in result["problem"]


def test_an_operator_prunes_backups_beyond_what_is_kept(world, services, settings):
    client, auth, _ = world
    made = [client.post("/api/v1/backups", headers=auth()).get_json()["backup"]["id"] for _ in range(3)]
    services.backups.keep = 1

    pruned = client.post("/api/v1/backups/prune", headers=auth())

    assert pruned.status_code == 200
    assert sorted(pruned.get_json()["deleted"]) == sorted(made[:2]) and pruned.get_json()["kept"] == 1


def test_workspaces_show_their_purge_date_to_members_and_their_hold_only_to_who_may_read_retention(world, services):
    client, auth, workspace_id = world
    editor = _member(client, auth, services, workspace_id, "eve@example.com", "editor")
    held = client.put(f"/api/v1/workspaces/{workspace_id}/legal-hold", headers=auth(),
                      json={"on": True, "reason": "Smith v. Acme"})
    assert held.status_code == 200, held.get_json()
    assert client.post(f"/api/v1/workspaces/{workspace_id}/cancel", headers=auth()).status_code == 200

    [listed] = client.get("/api/v1/workspaces?all=1", headers=auth()).get_json()["workspaces"]
    owner_view = client.get(f"/api/v1/workspaces/{workspace_id}", headers=auth()).get_json()["workspace"]
    editor_view = client.get(f"/api/v1/workspaces/{workspace_id}", headers=editor).get_json()["workspace"]

    purge_after = services.cancellation.get(workspace_id).purge_after
    assert listed["purge_after"] == owner_view["purge_after"] == editor_view["purge_after"] == purge_after
    assert listed["legal_hold"]["reason"] == owner_view["legal_hold"]["reason"] == "Smith v. Acme"
    assert "legal_hold" not in editor_view
    client.put(f"/api/v1/workspaces/{workspace_id}/legal-hold", headers=auth(), json={"on": False})
    assert client.get(f"/api/v1/workspaces/{workspace_id}", headers=auth()).get_json()["workspace"]["legal_hold"] \
        is None


def test_a_refusal_for_too_small_a_role_names_the_callers_role(world, services):
    client, auth, workspace_id = world
    viewer = _member(client, auth, services, workspace_id, "rory@example.com", "viewer")

    refused = client.get(f"/api/v1/workspaces/{workspace_id}/api-keys", headers=viewer)

    assert refused.status_code == 403
    assert refused.get_json()["role"] == "viewer" and refused.get_json()["error"] == "forbidden"
    operator_only = client.get("/api/v1/users", headers=viewer)
    assert operator_only.status_code == 403 and "role" not in operator_only.get_json()
