"""Retention, cancellation and erasure through the API: policies with their preview, legal holds, a cancelled
workspace read-only at every endpoint until undone, operators' purge dates, and erasure receipts."""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest

from appliance.accounts.permissions import ALLOWED_WHILE_CANCELLED
from appliance.conversations.chat import Visitor
from appliance.retention.service import Actor
from tests.server.api import test_permissions
from tests.server.api.permission_routes import WORKSPACE_ROUTES
from tests.server.api.test_permissions import prepare
from tests.server.demo_appliance import start_demo

# The permission tests' appliance, callers and fresh workspaces, so every route of their table is tried here too.
world = test_permissions.world
workspace_id = test_permissions.workspace_id

READ_ONLY = "this workspace is cancelled and read-only; undo the cancellation to change it"


def _cancel(world, workspace_id: str) -> None:
    world.services.cancellation.cancel(workspace_id, actor=Actor("user", world.users["owner"].id))


def _lead(world, workspace_id: str, email: str, *, question: str | None = None) -> str:
    """A widget visitor's conversation (one question) and the lead they left in it."""
    services = world.services
    agent = services.agents.of(workspace_id).create({"name": "Helper"})
    visitor = Visitor(f"visitor-{uuid.uuid4().hex[:6]}", "https://example.com", None, "203.0.113.9")
    conversation = services.conversations.chat(workspace_id).ask(agent, question or "When is lunch?",
                                                                 conversation_id=uuid.uuid4().hex, visitor=visitor)
    return services.conversations.leads(workspace_id).submit(agent, conversation_id=conversation.conversation_id,
                                                             visitor=visitor, fields={"email": email}, consent=True,
                                                             consent_version=agent.consent_version).id


def test_an_admin_previews_then_applies_a_policy(world, workspace_id):
    w = f"/api/v1/workspaces/{workspace_id}"
    world.clock.advance(days=-3)  # the visitor came three days ago (sessions would not survive moving it on)
    try:
        _lead(world, workspace_id, "preview@example.com")
    finally:
        world.clock.advance(days=3)
    assert world.call("admin", "GET", f"{w}/retention").get_json() == {
        "policy": {"conversations_days": None, "leads_days": None, "analytics_events_days": None,
                   "visitor_addresses_days": None, "visitor_addresses_action": "truncate",
                   "uploaded_originals_days": None}, "legal_hold": None,
        "cancellation": {"workspace_id": workspace_id, "status": "active", "cancelled_at": None, "purge_after": None,
                         "purge_started_at": None, "legal_hold": False}}

    preview = world.call("admin", "POST", f"{w}/retention/preview",
                         {"policy": {"conversations_days": 2, "leads_days": 2}}).get_json()
    applied = world.call("admin", "PUT", f"{w}/retention", {"policy": {"conversations_days": 2, "leads_days": 2}})

    assert preview["would_delete"]["conversations"] == 1 and preview["would_delete"]["leads"] == 1
    assert preview["summary"] == "1 conversation, 2 messages and 1 lead will be deleted."
    assert applied.status_code == 200
    assert applied.get_json()["policy"]["conversations_days"] == 2
    event = world.services.audit.events(workspace_id=workspace_id, action="retention.update")[-1]
    assert (event.actor_id, event.details["before"]["leads_days"], event.details["after"]["leads_days"]) == (
        world.users["admin"].id, None, 2)


@pytest.mark.parametrize(("policy", "message"), [
    ({"conversations_days": 0}, "policy/conversations_days: must be at least 1"),
    ({"leads_days": 5000}, "policy/leads_days: must be at most 3650"),
    ({"visitor_addresses_action": "hash"}, "policy/visitor_addresses_action: must be one of"),
    ({"forever": True}, "policy: 'forever' is not a field here"),
])
def test_a_policy_out_of_bounds_is_refused_and_nothing_changes(world, workspace_id, policy, message):
    response = world.call("admin", "PUT", f"/api/v1/workspaces/{workspace_id}/retention", {"policy": policy})

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
    assert response.get_json()["message"].startswith(message)
    assert world.services.retention.get(workspace_id).policy.keeps_everything()


def test_api_keys_cannot_reach_retention(world, workspace_id):
    key, _ = world.services.api_keys.create(workspace_id, name="All", scopes=["chat", "conversations:read"],
                                            actor_id=world.users["owner"].id, client_address=None)

    response = world.send(key, "GET", f"/api/v1/workspaces/{workspace_id}/retention")

    assert response.status_code == 403


def test_the_owner_cancels_and_undoes_and_the_workspace_is_read_only_between(world, workspace_id):
    w = f"/api/v1/workspaces/{workspace_id}"

    cancelled = world.call("owner", "POST", f"{w}/cancel")
    refused = world.call("admin", "PATCH", w, {"name": "Renamed"})
    readable = world.call("viewer", "GET", w)
    undone = world.call("owner", "POST", f"{w}/cancel/undo")
    renamed = world.call("admin", "PATCH", w, {"name": "Renamed"})

    assert cancelled.status_code == 200
    assert cancelled.get_json()["cancellation"]["purge_after"] == "2026-12-29T12:00:00Z"
    assert (refused.status_code, refused.get_json()) == (409, {"error": "workspace_read_only", "message": READ_ONLY})
    assert readable.get_json()["workspace"]["status"] == "cancelled"
    assert undone.get_json()["cancellation"]["status"] == "active"
    assert renamed.status_code == 200


@pytest.mark.parametrize("endpoint", WORKSPACE_ROUTES)
def test_a_cancelled_workspace_refuses_every_change_but_reading_exports_holds_and_undo(world, workspace_id,
                                                                                        endpoint):
    route = WORKSPACE_ROUTES[endpoint]
    method, path, body = prepare(world, route, w=workspace_id)  # targets made while it is still active
    _cancel(world, workspace_id)

    response = world.call("owner", method, path, body)

    if endpoint == "retention.undo_cancellation":
        assert response.status_code == 200
    elif endpoint == "retention.cancel_workspace":
        assert response.status_code == 409 and "already cancelled" in response.get_json()["message"]
    elif route.access in ALLOWED_WHILE_CANCELLED:
        assert response.status_code == route.status, response.get_json()
    else:
        assert (response.status_code, response.get_json()["error"]) == (409, "workspace_read_only")


def test_an_api_key_cannot_change_a_cancelled_workspace_but_can_still_read_it(world, workspace_id):
    key, _ = world.services.api_keys.create(workspace_id, name="Sync", scopes=["sources:read", "sources:write"],
                                            actor_id=world.users["owner"].id, client_address=None)
    _cancel(world, workspace_id)
    w = f"/api/v1/workspaces/{workspace_id}"

    added = world.send(key, "POST", f"{w}/sources", {"kind": "text", "title": "Lunch", "text": "At noon."})
    listed = world.send(key, "GET", f"{w}/sources")

    assert (added.status_code, added.get_json()["error"]) == (409, "workspace_read_only")
    assert listed.status_code == 200


def test_the_widget_says_a_cancelled_workspaces_agent_is_unavailable(world, workspace_id):
    agent = world.services.agents.of(workspace_id).update(
        world.services.agents.of(workspace_id).create({"name": "Helper"}).id,
        {"allowed_origins": ["https://example.com"]})
    _cancel(world, workspace_id)

    response = world.app.test_client().post(f"/widget/v1/agents/{agent.public_id}/session", json={},
                                             headers={"Origin": "https://example.com"})

    assert response.status_code == 403
    assert response.get_json()["error"] == "not_available_here"


def test_operators_bring_a_purge_earlier_never_later(world, workspace_id):
    _cancel(world, workspace_id)
    path = f"/api/v1/cancellations/{workspace_id}/purge-date"

    listed = world.call("operator", "GET", "/api/v1/cancellations").get_json()["cancellations"]
    earlier = world.call("operator", "PUT", path, {"purge_after": "2026-12-10T00:00:00Z"})
    later = world.call("operator", "PUT", path, {"purge_after": "2026-12-20T00:00:00Z"})
    by_owner = world.call("owner", "PUT", path, {"purge_after": "2026-12-01T00:00:00Z"})

    assert workspace_id in [c["workspace_id"] for c in listed]
    assert earlier.get_json()["cancellation"]["purge_after"] == "2026-12-10T00:00:00Z"
    assert later.status_code == 400 and "only be brought earlier" in later.get_json()["message"]
    assert by_owner.status_code == 403
    assert world.services.cancellation.get(workspace_id).purge_after == "2026-12-10T00:00:00Z"


def test_admins_and_operators_set_a_legal_hold_even_on_a_cancelled_workspace(world, workspace_id):
    _cancel(world, workspace_id)

    by_admin = world.call("admin", "PUT", f"/api/v1/workspaces/{workspace_id}/legal-hold",
                          {"on": True, "reason": "Case 17"})
    by_operator = world.call("operator", "PUT", f"/api/v1/legal-holds/{workspace_id}", {"on": False})
    bad = world.call("admin", "PUT", f"/api/v1/workspaces/{workspace_id}/legal-hold", {"on": "please"})

    assert by_admin.get_json()["legal_hold"]["reason"] == "Case 17"
    assert by_operator.get_json() == {"legal_hold": None}
    assert bad.status_code == 400
    assert [e.details["on"] for e in world.services.audit.events(workspace_id=workspace_id,
                                                                  action="retention.legal_hold")] == [True, False]


def test_erasure_answers_with_a_receipt_and_the_audit_log_keeps_only_a_hash(world, workspace_id):
    email = f"Subject-{uuid.uuid4().hex[:8]}@Example.com"
    _lead(world, workspace_id, email.lower(), question=f"Reach me at {email}")
    digest = hashlib.sha256(email.lower().encode()).hexdigest()

    dry = world.call("admin", "POST", "/api/v1/erasure", {"email": email, "dry_run": True}).get_json()
    done = world.call("admin", "POST", "/api/v1/erasure", {"email": email}).get_json()

    [mine] = [w for w in done["workspaces"] if w["workspace_id"] == workspace_id]
    assert {k: v for k, v in mine.items() if k != "matches"} == {
        "workspace_id": workspace_id, "workspace_name": "W", "legal_hold": False,
        "deleted": {"leads": 1, "conversations": 1, "messages": 2, "analytics_questions": 1}}
    assert dry["deleted"] == done["deleted"] and dry["dry_run"] and not done["dry_run"]
    assert (done["subject_sha256"], done["by"]) == (digest, world.users["admin"].id)
    events = world.call("owner", "GET", f"/api/v1/workspaces/{workspace_id}/audit?action=erasure").get_json()
    assert [e["target_id"] for e in events["events"]] == [digest, digest]
    assert email.lower() not in str(events).lower()


def test_the_erasure_preview_shows_each_match_and_the_receipt_keeps_it_by_hash_only(world, workspace_id):
    email = f"jo-{uuid.uuid4().hex[:8]}@example.test"
    lead_id = _lead(world, workspace_id, email, question=f"Is {email.upper()} right?")
    longer = _lead(world, workspace_id, f"x{email}", question=f"Write to mary{email}")
    conversation_id = world.services.conversations.lead_records(workspace_id).get(lead_id).lead.conversation_id

    dry = world.call("admin", "POST", "/api/v1/erasure", {"email": f" {email} ", "dry_run": True}).get_json()
    done = world.call("admin", "POST", "/api/v1/erasure", {"email": email}).get_json()

    [previewed] = [w["matches"] for w in dry["workspaces"] if w["workspace_id"] == workspace_id]
    [kept] = [w["matches"] for w in done["workspaces"] if w["workspace_id"] == workspace_id]
    message = next(m["field"] for m in previewed if m["field"].startswith("messages."))
    assert previewed == [{"record": "lead", "id": lead_id, "field": "email", "matched": email},
                         {"record": "conversation", "id": conversation_id, "field": "lead", "via": lead_id},
                         {"record": "conversation", "id": conversation_id, "field": message,
                          "matched": email.upper()}]
    assert [{k: v for k, v in m.items() if k != "matched_sha256"} for m in kept] == [
        {k: v for k, v in m.items() if k != "matched"} for m in previewed]
    assert [m.get("matched_sha256") for m in kept] == [
        hashlib.sha256(m["matched"].encode()).hexdigest() if "matched" in m else None for m in previewed]
    assert email not in str(done).lower()
    assert world.services.conversations.lead_records(workspace_id).get(longer).lead.email == f"x{email}"


def test_erasure_is_refused_to_someone_who_administers_no_workspace(world, workspace_id):
    response = world.call("viewer", "POST", "/api/v1/erasure", {"email": "jane@example.com"})

    assert response.status_code == 403
    assert "administer none" in response.get_json()["message"]


def test_a_legal_hold_refuses_deleting_conversations_and_leads_on_demand(world, workspace_id):
    lead_id = _lead(world, workspace_id, "held@example.com")
    conversation_id = world.services.conversations.lead_records(workspace_id).get(lead_id).lead.conversation_id
    w = f"/api/v1/workspaces/{workspace_id}"
    world.call("admin", "PUT", f"{w}/legal-hold", {"on": True})

    conversation = world.call("admin", "DELETE", f"{w}/conversations/{conversation_id}")
    lead = world.call("admin", "DELETE", f"{w}/leads/{lead_id}")
    world.call("admin", "PUT", f"{w}/legal-hold", {"on": False})
    after = world.call("admin", "DELETE", f"{w}/leads/{lead_id}")

    assert (conversation.status_code, conversation.get_json()["error"]) == (409, "legal_hold")
    assert (lead.status_code, lead.get_json()["error"]) == (409, "legal_hold")
    assert after.status_code == 200


def test_over_https_an_erasure_matches_whole_addresses_only_and_its_preview_says_where(tmp_path):
    """The review's case: erasing e@example.test must not take the lead of joe.real@example.test, whose visitor
    wrote joe@example.test; erasing joe@example.test takes that conversation alone, and the lead stays."""
    demo = start_demo(tmp_path)
    try:
        token, base = demo.login(), f"/api/v1/workspaces/{demo.workspace_id}"
        headers = {"Origin": demo.site_origin}
        path = f"/widget/v1/agents/{demo.public_id}"
        _, opened = demo.running.api("POST", f"{path}/session", {}, headers=headers)
        visitor = {**headers, "Authorization": f"Bearer {opened['token']}"}
        demo.running.api("POST", f"{path}/messages", {"text": "My old address was joe@example.test"},
                         headers=visitor)
        status, left = demo.running.api("POST", f"{path}/leads", {
            "fields": {"name": "Joe Real", "email": "joe.real@example.test"}, "consent": True, "consent_version": 1},
            headers=visitor)
        assert status == 201, left

        status, nobody = demo.running.api("POST", "/api/v1/erasure", {"email": "e@example.test", "dry_run": True},
                                          token=token)
        _, preview = demo.running.api("POST", "/api/v1/erasure", {"email": "JOE@example.test", "dry_run": True},
                                      token=token)
        _, done = demo.running.api("POST", "/api/v1/erasure", {"email": "joe@example.test"}, token=token)
        lead_status, lead = demo.running.api("GET", f"{base}/leads/{left['lead_id']}", token=token)
    finally:
        demo.running.stop()

    assert status == 200 and nobody["deleted"] == {"leads": 0, "conversations": 0, "messages": 0,
                                                   "analytics_questions": 0}
    [matches] = [w["matches"] for w in preview["workspaces"] if w["workspace_id"] == demo.workspace_id]
    assert [(m["record"], m["id"], m["field"].split(".")[0], m.get("matched")) for m in matches] == [
        ("conversation", opened["conversation"]["id"], "messages", "joe@example.test")]
    assert done["deleted"]["leads"] == 0 and done["deleted"]["conversations"] == 1
    assert "joe@example.test" not in json.dumps(done)
    assert lead_status == 200 and lead["lead"]["email"] == "joe.real@example.test"
    assert lead["conversation"] is None                                # its conversation held the address
