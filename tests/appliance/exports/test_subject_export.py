"""A data-subject export: everything about one email address in the workspaces given, found in any case: leads, the
conversations linked to them and the same visitor's others, and the account, never its secrets; audited by hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pytest

from appliance.conversations.chat import Visitor
from appliance.errors import ValidationError
from appliance.exports.archive import write_new_file
from appliance.exports.subject_export import APPLIANCE, WORKSPACES
from appliance.exports.unpacking import decrypt_export
from appliance.retention.service import Actor
from tests.appliance.accounts.account_steps import log_in, make_user
from tests.appliance.conversations.chats import FALLS_BACK, PAGE, PARKING, start_chats
from tests.appliance.exports.workspaces import PASSPHRASE, TESTER, read_json

JANE = "jane@example.com"


@dataclass
class World:
    """Jane left leads in workspaces one and two (and three); Bob left one in workspace one."""

    services: object
    one: str
    two: str
    three: str
    jane_id: str
    jane_lead: str               # in one, in the conversation `linked`
    linked: str
    same_visitor: str            # Jane's other widget conversation in one, without a lead
    bob_conversation: str
    api_conversation: str
    jane_lead_in_two: str


def widget_chat(services, workspace_id: str, agent, visitor_id: str, question: str, *, email: str | None = None):
    """A widget conversation of one question by the visitor, and the lead they left in it: (conversation, lead)."""
    visitor = Visitor(visitor_id, PAGE, f"{PAGE}/hr", "203.0.113.9")
    conversation = services.conversations.chat(workspace_id).ask(agent, question, visitor=visitor).conversation_id
    if email is None:
        return conversation, None
    lead = services.conversations.leads(workspace_id).submit(agent, conversation_id=conversation, visitor=visitor,
                                                         fields={"email": email, "name": "Jane"}, consent=True,
                                                         consent_version=agent.consent_version)
    return conversation, lead.id


@pytest.fixture
def world(services, clock):
    chats = start_chats(services, clock)
    one, owner = chats.workspace_id, services.workspaces.get(chats.workspace_id).owner_id
    linked, jane_lead = widget_chat(services, one, chats.agent, "visitor-jane", PARKING, email="Jane@Example.com")
    same_visitor, _ = widget_chat(services, one, chats.agent, "visitor-jane", FALLS_BACK)
    bob_conversation, _ = widget_chat(services, one, chats.agent, "visitor-bob", PARKING, email="bob@example.com")
    api_conversation = chats.conversation(PARKING)
    others = {}
    for name in ("two", "three"):
        workspace = services.workspaces.create(name=f"Workspace {name}", owner_id=owner, actor_id=owner,
                                               client_address=None)
        agent = services.agents.of(workspace.id).create({"name": "Helper"})
        others[name] = (workspace.id, widget_chat(services, workspace.id, agent, "visitor-9", "Hello?",
                                                  email="JANE@example.com")[1])
    jane = make_user(services, JANE)
    with services.appliance.control_db.transaction() as conn:
        services.workspaces.add_member(conn, workspace_id=one, user_id=jane.id, role="viewer")
        services.workspaces.add_member(conn, workspace_id=others["three"][0], user_id=jane.id, role="admin")
    log_in(services, JANE)
    for workspace_id in (one, others["three"][0]):
        services.workspaces.rename(workspace_id, name="Renamed by Jane", actor_id=jane.id, client_address=None)
    yield World(services, one, others["two"][0], others["three"][0], jane.id, jane_lead, linked, same_visitor,
                bob_conversation, api_conversation, others["two"][1])
    services.knowledge.close()


def export_subject(exports, place, email: str, workspace_ids: list[str], scope: str) -> tuple[object, dict]:
    path = place / f"subject-{len(list(place.iterdir()))}.chatspark-export"
    receipt = write_new_file(path, lambda target: exports.export_subject(
        email, target, passphrase=PASSPHRASE, workspace_ids=workspace_ids, account_scope=scope, requester=TESTER))
    opened = decrypt_export(path, PASSPHRASE, place / f"{path.stem}-opened")
    assert sorted(p.name for p in opened.directory.iterdir()) == ["manifest.json", "subject.json"]
    return receipt, read_json(opened.directory / "subject.json")


def test_leads_are_found_in_any_case_across_the_workspaces_given_and_only_there(exports, world, place):
    _, subject = export_subject(exports, place, "JANE@example.COM", [world.one, world.two], APPLIANCE)

    assert subject["email"] == JANE
    assert [w["id"] for w in subject["workspaces"]] == [world.one, world.two]
    assert [lead["id"] for lead in subject["workspaces"][0]["leads"]] == [world.jane_lead]
    assert [lead["id"] for lead in subject["workspaces"][1]["leads"]] == [world.jane_lead_in_two]
    assert all(lead["email"] == JANE for w in subject["workspaces"] for lead in w["leads"])
    assert {w["id"] for w in subject["workspaces_searched"]} == {world.one, world.two}
    assert world.three not in json.dumps(subject["workspaces"])


def test_the_linked_conversation_and_the_same_visitors_others_come_with_transcripts(exports, world, place):
    _, subject = export_subject(exports, place, JANE, [world.one], APPLIANCE)

    conversations = {c["id"]: c for c in subject["workspaces"][0]["conversations"]}

    assert set(conversations) == {world.linked, world.same_visitor}  # neither Bob's nor the API's
    assert conversations[world.linked]["found_by"] == "lead"
    assert conversations[world.same_visitor]["found_by"] == "same_visitor"
    assert [m["text"] for m in conversations[world.same_visitor]["messages"]][0] == FALLS_BACK
    assert conversations[world.linked]["visitor_id"] == "visitor-jane"
    assert conversations[world.linked]["client_address"] == "203.0.113.9"
    assert "bob@example.com" not in json.dumps(subject)


def test_the_account_comes_whole_for_the_operator_and_never_with_secrets(exports, world, place):
    _, subject = export_subject(exports, place, JANE, [world.one], APPLIANCE)

    account = subject["account"]

    assert {k: account[k] for k in ("email", "email_verified", "second_factor", "status")} == {
        "email": JANE, "email_verified": True, "second_factor": False, "status": "active"}
    assert {m["workspace_id"]: m["role"] for m in account["memberships"]} == {world.one: "viewer",
                                                                             world.three: "admin"}
    assert len(account["sessions"]) == 1 and account["sessions"][0]["client_address"] == "192.0.2.10"
    actions = [e["action"] for e in account["audit_events"]]
    assert "user.verify_email" in actions and "auth.login" in actions and actions.count("workspace.rename") == 2
    text = json.dumps(account)
    for secret in ("password", "hash", "token", "secret", "recovery"):
        assert secret not in text


def test_for_workspace_admins_the_account_shows_only_what_lies_in_their_workspaces(exports, world, place):
    _, subject = export_subject(exports, place, JANE, [world.one, world.two], WORKSPACES)

    account = subject["account"]

    assert [m["workspace_id"] for m in account["memberships"]] == [world.one]
    assert "sessions" not in account
    assert [(e["action"], e["workspace_id"]) for e in account["audit_events"]] == [("workspace.rename", world.one)]
    assert world.three not in json.dumps(subject)


def test_an_account_outside_the_workspaces_searched_is_not_shown_to_their_admins(exports, world, place):
    _, subject = export_subject(exports, place, JANE, [world.two], WORKSPACES)

    assert subject["account"] is None
    assert [lead["id"] for lead in subject["workspaces"][0]["leads"]] == [world.jane_lead_in_two]


def test_an_address_found_nowhere_gives_an_empty_export(exports, world, place):
    receipt, subject = export_subject(exports, place, "nobody@example.com", [world.one, world.two], APPLIANCE)

    assert subject["workspaces"] == [] and subject["account"] is None
    assert receipt.counts == {"workspaces_searched": 2, "workspaces_found": 0, "leads": 0, "conversations": 0,
                              "account": 0}


def test_the_export_is_audited_by_the_addresses_hash_in_each_workspace_it_took_data_from(exports, world, place):
    receipt, _ = export_subject(exports, place, "Jane@Example.com", [world.one, world.two, world.three], APPLIANCE)

    events = world.services.audit.events(action="subject.export")

    digest = hashlib.sha256(JANE.encode()).hexdigest()
    assert sorted(str(e.workspace_id) for e in events) == sorted([str(None), world.one, world.two, world.three])
    assert all(e.details["subject_sha256"] == digest and e.actor_id == "tester-id" for e in events)
    [summary] = [e for e in events if e.workspace_id is None]
    assert summary.details["archive_bytes"] == receipt.archive_bytes
    assert summary.details["counts"]["leads"] == 3 and summary.details["account_scope"] == APPLIANCE
    assert "jane" not in json.dumps([e.details for e in events]).lower()


@pytest.mark.parametrize("email", ["", "not an address", None])
def test_an_invalid_address_is_refused(exports, world, place, email):
    with pytest.raises(ValidationError):
        export_subject(exports, place, email, [world.one], APPLIANCE)

    assert list(place.iterdir()) == []


def test_the_export_finds_exactly_what_an_erasure_of_the_address_would_delete(exports, world, place, services):
    """One matcher for both: whole addresses in any case, in a lead's other fields and in what visitors wrote, and
    never an address that merely contains this one."""
    agent = services.agents.of(world.one).list()[0]
    wrote_it, _ = widget_chat(services, world.one, agent, "visitor-kiosk", "Please call JANE@example.com back")
    mentioned, mentioning = widget_chat(services, world.one, agent, "visitor-ann", PARKING, email="ann@example.com")
    with services.appliance.workspaces.open(world.one).transaction() as conn:
        conn.execute("UPDATE leads SET company = 'Acme, ask jane@example.com.' WHERE id = ?", (mentioning,))
    trap, _ = widget_chat(services, world.one, agent, "visitor-maryjane", "I am maryjane@example.com, hi",
                          email="maryjane@example.com")
    owner = services.workspaces.get(world.one).owner_id

    _, subject = export_subject(exports, place, JANE, [world.one], APPLIANCE)
    preview = services.erasure.erase(JANE, actor=Actor("user", owner), dry_run=True)

    [exported] = subject["workspaces"]
    [erasable] = [w for w in preview.workspaces if w.workspace_id == world.one]
    matched = {(m.record, m.id) for m in erasable.matches}
    assert {("lead", lead["id"]) for lead in exported["leads"]} == {x for x in matched if x[0] == "lead"}
    assert {("conversation", c["id"]) for c in exported["conversations"]} == {x for x in matched
                                                                             if x[0] == "conversation"}
    conversations = {c["id"]: c for c in exported["conversations"]}
    assert set(conversations) == {world.linked, world.same_visitor, wrote_it, mentioned}
    assert trap not in conversations and "maryjane" not in json.dumps(subject)
    assert conversations[wrote_it]["found_by"] == "message"
    assert conversations[wrote_it]["matched_in"][0].startswith("messages.")
    assert {lead["id"]: lead["matched_in"] for lead in exported["leads"]} == {world.jane_lead: ["email"],
                                                                               mentioning: ["company"]}
