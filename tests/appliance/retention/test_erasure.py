"""Data-subject erasure: everything about one visitor email, in every workspace the caller administers and nowhere
else, with receipts; the audit log names the subject by hash only."""

from __future__ import annotations

import hashlib
import json

import pytest

from appliance.errors import PermissionDenied, ValidationError
from appliance.retention.service import Actor
from tests.appliance.accounts.account_steps import make_user
from tests.appliance.retention.places import LEAVE, PARKING, make_place

EMAIL = "Jane.Roe@Example.com"
HASH = hashlib.sha256(EMAIL.lower().encode()).hexdigest()


def _join(services, place, user_id: str, role: str) -> None:
    with services.appliance.control_db.transaction() as conn:
        services.workspaces.add_member(conn, workspace_id=place.workspace_id, user_id=user_id, role=role)


def _janes_data(place) -> dict[str, list[str]]:
    """Jane's lead and conversations, and a stranger's, in one workspace; the ids of what is hers."""
    with_lead = place.conversation(PARKING, LEAVE, visitor="jane-browser")
    lead = place.lead("jane.roe@example.com", conversation_id=with_lead, visitor="jane-browser")
    earlier_visit = place.conversation(LEAVE, visitor="jane-browser")        # same visitor, no lead
    wrote_it = place.conversation(f"Please write to {EMAIL} about parking", visitor="someone-else")
    custom = place.lead("other@example.com", visitor="kiosk", notes=f"for {EMAIL}, my colleague")
    stranger = place.conversation(PARKING, visitor="stranger")
    place.lead("stranger@example.com", conversation_id=stranger, visitor="stranger")
    return {"leads": sorted([lead.id, custom.id]),
            "conversations": sorted([with_lead, earlier_visit, wrote_it, custom.conversation_id]),
            "stranger": [stranger]}


@pytest.fixture
def admin(services, place, other_place):
    """Owner of the first workspace and admin of the second."""
    _join(services, other_place, place.owner_id, "admin")
    return Actor("user", place.owner_id, "192.0.2.5")


def test_erasure_removes_the_subject_from_every_workspace_the_caller_administers(services, place, other_place,
                                                                                 admin, clock):
    janes = {p.workspace_id: _janes_data(p) for p in (place, other_place)}

    receipt = services.erasure.erase(EMAIL, actor=admin)

    for where in (place, other_place):
        mine = janes[where.workspace_id]
        assert where.column("SELECT id FROM leads ORDER BY id") == sorted(
            set(where.column("SELECT id FROM leads")) - set(mine["leads"]))
        assert not set(where.column("SELECT id FROM conversations")) & set(mine["conversations"])
        assert mine["stranger"][0] in where.column("SELECT id FROM conversations")
        assert where.count("leads", "email = 'stranger@example.com'") == 1
        assert where.count("messages", "conversation_id IN (SELECT value FROM json_each(?))",
                           (str(mine["conversations"]).replace("'", '"'),)) == 0
        assert where.count("analytics_events", "question LIKE '%Roe%'") == 0
        assert where.column("SELECT rowid FROM messages_fts WHERE messages_fts MATCH '\"jane roe example com\"'") == []
    parts = {part["workspace_id"]: part for part in receipt.public()["workspaces"]}
    assert {k: v for k, v in parts[place.workspace_id].items() if k != "matches"} == {
        "workspace_id": place.workspace_id, "workspace_name": "Acme", "legal_hold": False,
        "deleted": {"leads": 2, "conversations": 4, "messages": 8, "analytics_questions": 4}}
    assert receipt.public()["deleted"] == {"leads": 4, "conversations": 8, "messages": 16, "analytics_questions": 8}
    assert (receipt.subject_sha256, receipt.by, receipt.at, receipt.dry_run) == (HASH, place.owner_id,
                                                                                "2026-11-29T12:00:00Z", False)


def test_workspaces_where_the_caller_is_not_an_admin_are_untouched(services, place, clock, admin):
    editor_only = make_place(services, clock, name="Initech")
    _join(services, editor_only, place.owner_id, "editor")
    _janes_data(editor_only)
    before = editor_only.count("leads"), editor_only.count("conversations")

    receipt = services.erasure.erase(EMAIL, actor=admin)

    assert editor_only.workspace_id not in [w.workspace_id for w in receipt.workspaces]
    assert (editor_only.count("leads"), editor_only.count("conversations")) == before


def test_the_audit_log_records_a_receipt_per_workspace_by_hash_never_the_address(services, place, other_place,
                                                                                 admin):
    for where in (place, other_place):
        _janes_data(where)

    receipt = services.erasure.erase(EMAIL, actor=admin)

    events = services.audit.events(action="erasure.subject")
    assert [(e.workspace_id, e.target_type, e.target_id) for e in events] == [
        (w.workspace_id, "data_subject", HASH) for w in receipt.workspaces]
    assert {place.workspace_id, other_place.workspace_id} == {e.workspace_id for e in events}
    assert events[0].details == {"erasure_id": receipt.erasure_id, "legal_hold": False,
                                 "deleted": receipt.workspaces[0].deleted,
                                 "matches": receipt.public()["workspaces"][0]["matches"]}
    assert (events[0].actor_id, events[0].client_address) == (place.owner_id, "192.0.2.5")
    rows = services.appliance.control_db.query("SELECT * FROM audit_log")
    assert not any("roe" in str(value).lower() for row in rows for value in tuple(row))


def test_a_dry_run_finds_what_erasure_then_deletes_and_deletes_nothing(services, place, admin):
    _janes_data(place)
    before = place.count("leads"), place.count("conversations"), place.count("messages")

    dry = services.erasure.erase(EMAIL, actor=admin, dry_run=True)

    assert (place.count("leads"), place.count("conversations"), place.count("messages")) == before
    assert services.audit.events(action="erasure.preview")[0].target_id == HASH
    real = services.erasure.erase(EMAIL, actor=admin)
    assert [w.deleted for w in dry.workspaces] == [w.deleted for w in real.workspaces]
    assert services.erasure.erase(EMAIL, actor=admin).totals() == dict.fromkeys(real.totals(), 0)


def test_a_workspace_on_legal_hold_keeps_the_data_and_its_receipt_says_so(services, place, other_place, admin):
    for where in (place, other_place):
        _janes_data(where)
    services.retention.set_legal_hold(other_place.workspace_id, on=True, actor=admin)
    held_leads = other_place.count("leads")

    receipt = services.erasure.erase(EMAIL, actor=admin)

    parts = {w.workspace_id: w for w in receipt.workspaces}
    assert (parts[place.workspace_id].held, parts[other_place.workspace_id].held) == (False, True)
    assert parts[place.workspace_id].deleted["leads"] == 2
    assert parts[other_place.workspace_id].deleted == {"leads": 0, "conversations": 0, "messages": 0,
                                                       "analytics_questions": 0}
    assert other_place.count("leads") == held_leads


def test_erasure_needs_a_workspace_the_caller_administers(services, place):
    viewer = make_user(services, "viewer@example.com")
    _join(services, place, viewer.id, "viewer")

    with pytest.raises(PermissionDenied, match="administer none"):
        services.erasure.erase(EMAIL, actor=Actor("user", viewer.id))


@pytest.mark.parametrize("email", ["", "jane", "jane@", "two@at@example.com", None, 42, "a" * 320 + "@example.com"])
def test_erasure_needs_an_email_address(services, place, email):
    with pytest.raises(ValidationError, match="email address"):
        services.erasure.erase(email, actor=place.owner)


def test_erasure_checkpoints_so_no_write_ahead_log_is_left(services, place, admin):
    _janes_data(place)

    services.erasure.erase(EMAIL, actor=admin)

    wal = place.db.path.with_name(place.db.path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


def _erasable(place) -> dict[str, int]:
    return {"leads": place.count("leads"), "conversations": place.count("conversations")}


@pytest.mark.parametrize(("subject", "written"), [
    ("e@example.test", "joe@example.test"),                 # the issue's own: a shorter address inside a longer one
    ("real@example.test", "joe.real@example.test"),
    ("jane@example.com", "jane@example.com.evil"),
    ("jane@example.co", "jane@example.com"),
    ("jane@example.com", "xjane@example.com"),
    ("jane@example.com", "jane+shop@example.com"),
    ("ane@example.com", "jane@example.com"),
    ("jane@example.com", "jane@sub.example.com"),
])
def test_an_address_found_inside_another_address_matches_nothing(services, place, admin, subject, written):
    """The lead of joe.real@example.test, which mentions joe@example.test, is not e@example.test's."""
    with_lead = place.conversation(f"Please write to {written} about parking", visitor="joe")
    place.lead("joe.real@example.test", conversation_id=with_lead, visitor="joe", notes=f"old address {written}")
    place.lead(written, visitor="kiosk")
    before = _erasable(place)

    preview = services.erasure.erase(subject, actor=admin, dry_run=True)
    receipt = services.erasure.erase(subject, actor=admin)

    assert preview.totals() == receipt.totals() == dict.fromkeys(preview.totals(), 0)
    assert [w.matches for w in receipt.workspaces] == [[], []]
    assert _erasable(place) == before


@pytest.mark.parametrize("written", ["Jane@EXAMPLE.com", "jane@example.com.", "<jane@example.com>",
                                     "mailto:jane@example.com", "(jane@example.com)", "?email=jane@example.com",
                                     "jane@example.com, thanks", "\"jane@example.com\""])
def test_a_whole_address_is_found_in_free_text_in_any_case_and_punctuation(services, place, admin, written):
    wrote_it = place.conversation(f"Reach me at {written}", visitor="visitor-9")
    noted = place.lead("someone@example.org", visitor="kiosk", notes=f"ask {written}")

    receipt = services.erasure.erase("  JANE@example.COM ", actor=admin)

    [mine] = [w for w in receipt.workspaces if w.workspace_id == place.workspace_id]
    assert (mine.deleted["leads"], mine.deleted["conversations"]) == (1, 2)
    assert place.count("conversations", "id IN (?, ?)", (wrote_it, noted.conversation_id)) == 0


def test_the_preview_shows_what_matched_where_and_the_receipt_keeps_that_by_hash(services, place, admin):
    with_lead = place.conversation(PARKING, visitor="jane-browser")
    lead = place.lead("jane@example.com", conversation_id=with_lead, visitor="jane-browser")
    earlier = place.conversation(LEAVE, visitor="jane-browser")
    wrote_it = place.conversation("Is Jane@Example.com on the list?", visitor="someone-else")
    noted = place.lead("other@example.com", visitor="kiosk", notes="for JANE@example.com")
    message_id = place.db.query_one("SELECT id FROM messages WHERE conversation_id = ? AND role = 'visitor'",
                                    (wrote_it,))[0]

    preview = services.erasure.erase("jane@example.com", actor=admin, dry_run=True).public()
    done = services.erasure.erase("jane@example.com", actor=admin).public()

    def digest(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    shown = [m for w in preview["workspaces"] if w["workspace_id"] == place.workspace_id for m in w["matches"]]
    assert sorted(shown, key=lambda m: (m["record"], m["id"], m["field"])) == sorted([
        {"record": "lead", "id": lead.id, "field": "email", "matched": "jane@example.com"},
        {"record": "lead", "id": noted.id, "field": "custom_fields.notes", "matched": "JANE@example.com"},
        {"record": "conversation", "id": with_lead, "field": "lead", "via": lead.id},
        {"record": "conversation", "id": noted.conversation_id, "field": "lead", "via": noted.id},
        {"record": "conversation", "id": earlier, "field": "visitor", "via": with_lead},
        {"record": "conversation", "id": wrote_it, "field": f"messages.{message_id}", "matched": "Jane@Example.com"},
    ], key=lambda m: (m["record"], m["id"], m["field"]))
    kept = [m for w in done["workspaces"] if w["workspace_id"] == place.workspace_id for m in w["matches"]]
    assert sorted((m["id"], m["field"], m.get("matched_sha256")) for m in kept) == sorted(
        (m["id"], m["field"], digest(m["matched"]) if "matched" in m else None) for m in shown)
    assert "jane" not in json.dumps(done).lower()
    [audited] = services.audit.events(action="erasure.subject", workspace_id=place.workspace_id)
    assert audited.details["matches"] == kept
    assert "jane" not in json.dumps([e.details for e in services.audit.events(action="erasure")]).lower()


def test_many_matches_spread_over_audit_rows_that_each_fit_the_log(services, place, admin):
    conversations = {place.conversation(f"Write to jane@example.com please, {n}", visitor=f"v{n}")
                     for n in range(60)}

    receipt = services.erasure.erase("jane@example.com", actor=admin)

    rows = services.audit.events(action="erasure.subject", workspace_id=place.workspace_id)
    assert len(rows) > 1 and [(r.details["part"], r.details["parts"]) for r in rows] == [
        (n, len(rows)) for n in range(1, len(rows) + 1)]
    assert {m["id"] for r in rows for m in r.details["matches"]} == conversations
    [mine] = [w for w in receipt.public()["workspaces"] if w["workspace_id"] == place.workspace_id]
    assert [m for r in rows for m in r.details["matches"]] == mine["matches"]
    assert place.count("conversations") == 0
