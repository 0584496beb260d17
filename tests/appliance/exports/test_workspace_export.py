"""A workspace export, decrypted again: every part present and equal to what the workspace holds, a manifest whose
hashes match, nothing readable without the passphrase, and an audit row with sizes only."""

from __future__ import annotations

import hashlib
import io
import json
import tracemalloc

import pytest

from appliance.conversations.lead_records import LeadFilters
from appliance.conversations.records import ConversationFilters
from appliance.errors import NotFound, ValidationError
from appliance.exports.unpacking import decrypt_export
from appliance.storage.encrypted_files import DEFAULT_SCRYPT, read_header
from tests.appliance.conversations.chats import ANSWERED, FALLS_BACK, PARKING
from tests.appliance.exports.workspaces import (
    CANARY,
    PASSPHRASE,
    TESTER,
    UPLOAD_BYTES,
    UPLOAD_NAME,
    export_workspace,
    files_under,
    read_csv,
    read_json,
)


@pytest.fixture
def opened(exports, trained, place):
    """The trained workspace exported and decrypted: (receipt, encrypted file, unpacked directory)."""
    receipt, path = export_workspace(exports, trained.workspace_id, place)
    decrypt_export(path, PASSPHRASE, place / "opened")
    return receipt, path, place / "opened"


def test_training_data_comes_back_with_each_original_exactly_as_uploaded(trained, opened):
    _, _, out = opened
    knowledge = trained.services.knowledge
    sources = knowledge.sources(trained.workspace_id)

    for source in sources.list():
        metadata = read_json(out / f"training/sources/{source.id}/metadata.json")
        # Everything the API says of a source but its indexing progress, which lives only while it is indexed.
        stored = {k: v for k, v in source.public().items() if k != "progress"}
        assert {k: metadata[k] for k in stored} == stored
        assert (out / f"training/sources/{source.id}" / metadata["original"]).read_bytes() == sources.original(
            source.id)
    assert len(sources.list()) == 4
    upload = read_json(out / f"training/sources/{trained.upload_id}/metadata.json")
    assert upload["filename"] == UPLOAD_NAME
    assert upload["original"] == "original/Q3 plan_ draft.bin"  # one path component, whatever the name said
    assert (out / f"training/sources/{trained.upload_id}/original/Q3 plan_ draft.bin").read_bytes() == UPLOAD_BYTES
    pasted = out / f"training/sources/{trained.pasted_id}/original/text.md"
    assert pasted.read_text(encoding="utf-8") == f"# Notes\n\nThe {CANARY} sings at dawn.\n"


def test_qa_pairs_come_as_json_and_csv(trained, opened):
    _, _, out = opened
    faq = trained.chats.faq_id

    pairs = read_json(out / "training/qa_pairs.json")
    rows = read_csv(out / "training/qa_pairs.csv")

    assert pairs == [{"source_id": faq, "source_title": "HR FAQ", "question": ANSWERED, "answer": "28 days a year."}]
    assert rows == [["source_id", "source_title", "question", "answer"], [faq, "HR FAQ", ANSWERED, "28 days a year."]]
    assert json.loads((out / f"training/sources/{faq}/original/pairs.json").read_bytes()) == [
        [ANSWERED, "28 days a year."]]


def test_every_agents_settings_come_as_json(trained, opened):
    _, _, out = opened
    agents = trained.services.agents.of(trained.workspace_id).list()

    assert sorted(p.name for p in (out / "agents").iterdir()) == sorted(f"{a.id}.json" for a in agents)
    for agent in agents:
        assert read_json(out / f"agents/{agent.id}.json") == json.loads(json.dumps(agent.public()))
    assert {a.name for a in agents} == {"Helper", "Sales"}


def test_conversations_come_as_json_transcripts_and_csv_equal_to_the_records(trained, opened):
    _, _, out = opened
    records = trained.services.conversations.records(trained.workspace_id)

    transcripts = read_json(out / "conversations/conversations.json")

    assert [t["id"] for t in transcripts] == [trained.api_conversation, trained.widget_conversation]
    assert transcripts == json.loads(records.export(ConversationFilters(), "json").content)
    widget = transcripts[1]
    assert widget["channel"] == "widget" and widget["has_lead"] is True
    questions = [m["text"] for m in widget["messages"] if m["role"] == "visitor"]
    assert questions == [ANSWERED, f"Does the {CANARY} sing?", PARKING]
    assert any(m["feedback"] == "up" for m in widget["messages"])
    assert (out / "conversations/conversations.csv").read_bytes() == records.export(
        ConversationFilters(), "csv").content.encode()


def test_leads_come_as_csv_and_as_json_with_the_consent_given(trained, opened):
    _, _, out = opened
    records = trained.services.conversations.lead_records(trained.workspace_id)

    rows = read_csv(out / "leads/leads.csv")
    leads = read_json(out / "leads/leads.json")

    assert (out / "leads/leads.csv").read_bytes() == records.export_csv(LeadFilters()).content.encode()
    header = rows[0]
    assert rows[1][header.index("email")] == "jane@example.com"
    assert rows[1][header.index("custom.team_size")] == "12"
    assert leads == [trained.lead.public()]
    assert leads[0]["client_address"] == "203.0.113.7"


def test_analytics_come_as_daily_counts_and_fell_back_questions(trained, opened):
    _, _, out = opened

    daily = read_csv(out / "analytics/daily.csv")
    fell_back = read_csv(out / "analytics/fell_back_questions.csv")

    assert daily[0][:4] == ["day", "conversations", "questions", "answered"]
    by_day = {row[0]: dict(zip(daily[0], row, strict=True)) for row in daily[1:]}
    assert list(by_day) == ["2026-11-29", "2026-11-30"]  # the workspace's first day to today
    assert by_day["2026-11-29"]["questions"] == "3" and by_day["2026-11-29"]["thumbs_up"] == "1"
    assert by_day["2026-11-30"]["conversations"] == "1" and by_day["2026-11-30"]["leads"] == "1"
    # The canary question is answered by the pasted text; only this one fell back.
    assert fell_back == [["question", "count", "last_asked"],
                         ["what is the capital of mongolia", "1", "2026-11-30T12:00:00Z"]]


def test_analytics_cover_the_workspace_whole_life_beyond_one_report_s_366_days(exports, trained, place):
    trained.chats.clock.advance(days=500)
    trained.chats.conversation(FALLS_BACK)
    _, path = export_workspace(exports, trained.workspace_id, place)
    out = decrypt_export(path, PASSPHRASE, place / "opened").directory

    daily = read_csv(out / "analytics/daily.csv")
    fell_back = {row[0]: row for row in read_csv(out / "analytics/fell_back_questions.csv")[1:]}

    days = [row[0] for row in daily[1:]]
    assert days[0] == "2026-11-29" and len(days) == 502 and len(set(days)) == 502
    assert sum(int(row[1]) for row in daily[1:]) == 3  # conversations, across every window of the report
    # Counted once across the windows, with the latest time it was asked.
    assert fell_back["what is the capital of mongolia"][1:] == ["2", "2028-04-13T12:00:00Z"]


def test_the_manifest_names_the_workspace_and_every_file_with_its_size_and_hash(exports, trained, opened,
                                                                              services):
    receipt, _, out = opened

    manifest = read_json(out / "manifest.json")
    unpacked = files_under(out)

    assert manifest["kind"] == "chatspark-workspace-export"
    assert manifest["workspace"] == {"id": trained.workspace_id, "name": "Acme", "status": "active",
                                     "created_at": "2026-11-29T12:00:00Z"}
    assert manifest["appliance_id"] == services.appliance.appliance_id
    assert manifest["created_at"] == "2026-11-30T12:00:00Z"
    assert manifest["counts"] == {"sources": 4, "qa_pairs": 1, "agents": 2, "conversations": 2, "leads": 1,
                                  "analytics_days": 2}
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == set(unpacked) - {"manifest.json"}
    for path, data in unpacked.items():
        if path != "manifest.json":
            assert listed[path]["size"] == len(data)
            assert listed[path]["sha256"] == hashlib.sha256(data).hexdigest()
    assert receipt.files == len(listed) and receipt.content_bytes == sum(len(d) for p, d in unpacked.items()
                                                                         if p != "manifest.json")


def test_the_encrypted_file_shows_nothing_of_what_it_holds(opened, trained):
    receipt, path, _ = opened
    data = path.read_bytes()

    assert receipt.archive_bytes == len(data)
    for plain in (CANARY.encode(), CANARY.encode("utf-16-le"), b"PK\x03\x04", b"manifest.json", b"Acme",
                  trained.workspace_id.encode(), b"jane@example.com", PASSPHRASE.encode()):
        assert plain not in data


def test_an_export_is_audited_with_what_who_and_sizes_but_no_passphrase(exports, trained, opened, services):
    receipt, _, _ = opened

    [event] = services.audit.events(action="workspace.export")

    assert (event.actor_type, event.actor_id, event.client_address) == ("user", "tester-id", "192.0.2.1")
    assert (event.target_type, event.target_id, event.workspace_id) == ("workspace", trained.workspace_id,
                                                                        trained.workspace_id)
    assert event.details == {"files": receipt.files, "content_bytes": receipt.content_bytes,
                             "archive_bytes": receipt.archive_bytes, "counts": receipt.counts, "via": "api"}
    assert PASSPHRASE not in json.dumps(event.details)


def test_a_cancelled_workspace_still_exports_everything(exports, trained, place, services):
    with services.appliance.control_db.transaction() as conn:
        conn.execute("UPDATE workspaces SET status = 'cancelled' WHERE id = ?", (trained.workspace_id,))

    receipt, path = export_workspace(exports, trained.workspace_id, place)
    opened = decrypt_export(path, PASSPHRASE, place / "opened")

    assert opened.manifest["workspace"]["status"] == "cancelled"
    assert receipt.counts["conversations"] == 2 and receipt.counts["leads"] == 1


@pytest.mark.parametrize("passphrase", ["", "eleven char", None])
def test_a_short_or_missing_passphrase_is_refused_before_a_file_is_written(exports, trained, place, passphrase):
    with pytest.raises(ValidationError, match="passphrase"):
        export_workspace(exports, trained.workspace_id, place, passphrase=passphrase)

    assert list(place.iterdir()) == []
    assert trained.services.audit.events(action="workspace.export") == []


def test_an_unknown_workspace_is_not_found_and_leaves_no_file(exports, place):
    with pytest.raises(NotFound):
        export_workspace(exports, "0" * 16, place)

    assert list(place.iterdir()) == []


def test_the_real_service_derives_the_key_with_strong_scrypt(trained, services):
    target = io.BytesIO()

    services.exports.export_workspace(trained.workspace_id, target, passphrase=PASSPHRASE, requester=TESTER)

    header = read_header(io.BytesIO(target.getvalue()))
    assert (header.purpose, header.kdf) == ("export", "scrypt")
    assert header.scrypt == DEFAULT_SCRYPT and header.scrypt.n >= 1 << 17


def fill(trained, conversations: int, *, first: int = 0) -> None:
    """Old conversations of ten messages and a lead each with its own custom field, straight into the file."""
    db = trained.services.appliance.workspaces.open(trained.workspace_id)
    agent_id = trained.chats.agent.id
    with db.transaction() as conn:
        for number in range(first, first + conversations):
            at = f"2025-{1 + number % 12:02d}-{1 + number % 28:02d}T{number % 24:02d}:00:{number % 60:02d}Z"
            conn.execute("INSERT INTO conversations (id, agent_id, started_at, updated_at, channel) "
                         "VALUES (?, ?, ?, ?, 'api')", (f"bulk{number:06d}", agent_id, at, at))
            conn.executemany("INSERT INTO messages (conversation_id, role, text, created_at) VALUES (?, ?, ?, ?)", [
                (f"bulk{number:06d}", "visitor" if turn % 2 == 0 else "agent",
                 f"message {turn} of conversation {number} about the parking rota and the canteen menu", at)
                for turn in range(10)])
            conn.execute("INSERT INTO leads (id, agent_id, conversation_id, email, custom_fields, consent_text, "
                         "consent_version, consented_at, created_at) VALUES (?, ?, ?, ?, ?, 'ok', 1, ?, ?)",
                         (f"ld_bulk{number:06d}", agent_id, f"bulk{number:06d}", f"v{number}@example.com",
                          json.dumps({f"field{number % 7}": str(number)}), at, at))


def test_a_large_workspace_is_exported_whole_a_page_at_a_time_in_the_same_memory(exports, trained, place):
    """Conversations and leads are made a page at a time as the archive reads them: four times the conversations
    take no more memory than one, and nothing is lost at the pages' edges."""

    def peak_of_export(name: str) -> int:
        tracemalloc.start()
        try:
            export_workspace(exports, trained.workspace_id, place / name)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    fill(trained, 600)
    (place / "small").mkdir()
    small = peak_of_export("small")
    fill(trained, 1800, first=600)
    (place / "large").mkdir()
    large = peak_of_export("large")
    decrypt_export(place / "large" / "workspace.chatspark-export", PASSPHRASE, place / "opened")

    assert large < small * 1.5  # before streaming, the peak grew with the conversations: about 4 times
    transcripts = read_json(place / "opened/conversations/conversations.json")
    records = trained.services.conversations.records(trained.workspace_id)
    assert len(transcripts) == 2402 and len({t["id"] for t in transcripts}) == 2402
    assert [t["id"] for t in transcripts] == [c.id for c in _every_conversation(records)]
    assert sum(len(t["messages"]) for t in transcripts) == 24000 + sum(
        len(t["messages"]) for t in transcripts if not t["id"].startswith("bulk"))
    rows = read_csv(place / "opened/conversations/conversations.csv")
    assert len(rows) == 1 + sum(len(t["messages"]) for t in transcripts)
    leads = read_csv(place / "opened/leads/leads.csv")
    header = leads[0]
    assert len(leads) == 1 + 2401 and len(read_json(place / "opened/leads/leads.json")) == 2401
    # A custom field first met on the last page still has its column, and every lead its value in it.
    assert {f"custom.field{n}" for n in range(7)} <= set(header)
    for row in leads[1:]:
        lead_id = row[header.index("id")]
        if lead_id.startswith("ld_bulk"):
            number = int(lead_id[7:])
            assert row[header.index(f"custom.field{number % 7}")] == str(number)


def _every_conversation(records):
    after, found = None, []
    while True:
        page = records.list(limit=200, after=after)
        found += page.items
        if page.next_after is None:
            return found
        after = page.next_after
