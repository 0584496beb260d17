"""The retention sweep against real workspace files and an injected clock: boundaries to the second, every kind of
data, other workspaces, legal holds, idempotence, the clock set back, previews that match, and batches."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance.conversations import message_index
from appliance.retention.service import sweep_retention
from appliance.retention.sweep import describe
from tests.appliance.retention.places import LEAVE, PARKING

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)


def test_a_conversation_one_second_inside_the_policy_survives_and_one_second_outside_goes(services, place):
    outside = place.at(NOW - 30 * DAY - SECOND).conversation(PARKING, LEAVE)
    inside = place.at(NOW - 30 * DAY + SECOND).conversation(PARKING, LEAVE)
    place.at(NOW).set_policy(conversations_days=30)

    summary = sweep_retention(services.retention)

    assert place.column("SELECT id FROM conversations") == [inside]
    assert summary["deleted"] == {place.workspace_id: {"conversations": 1, "messages": 4, "leads": 0,
                                                       "analytics_events": 0, "visitor_addresses": 0,
                                                       "uploaded_originals": 0}}
    assert place.count("messages", "conversation_id = ?", (outside,)) == 0
    assert place.count("messages", "conversation_id = ?", (inside,)) == 4


def test_a_conversations_age_counts_from_its_last_message(services, place):
    started_long_ago = place.at(NOW - 40 * DAY).conversation(PARKING)
    place.at(NOW - 10 * DAY).ask(LEAVE, conversation_id=started_long_ago)
    place.at(NOW).set_policy(conversations_days=30)

    sweep_retention(services.retention)

    assert place.column("SELECT id FROM conversations") == [started_long_ago]


def test_deleted_conversations_leave_no_messages_sources_index_entries_or_question_text(services, place):
    old = place.at(NOW - 100 * DAY).conversation(PARKING, LEAVE, visitor="visitor-1")
    lead = place.lead(conversation_id=old)
    kept = place.at(NOW).conversation(PARKING)
    place.index_messages()
    place.set_policy(conversations_days=90)

    sweep_retention(services.retention)

    assert place.count("message_sources") == place.count(
        "message_sources", "message_id IN (SELECT id FROM messages WHERE conversation_id = ?)", (kept,)) > 0
    assert place.column("SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'visitors'") == place.column(
        "SELECT id FROM messages WHERE conversation_id = ? ORDER BY id", (kept,))  # question and reply
    message_index.check(place.db.connection)
    # The day's counts stay, the question text of the deleted conversation does not.
    assert place.count("analytics_events", "conversation_id = ? AND kind = 'question'", (old,)) == 2
    assert place.count("analytics_events", "conversation_id = ? AND question IS NOT NULL", (old,)) == 0
    assert place.column("SELECT conversation_id FROM leads WHERE id = ?", (lead.id,)) == [None]


def test_other_workspaces_are_untouched(services, place, other_place):
    for where in (place, other_place):
        where.at(NOW - 200 * DAY).conversation(PARKING)
        where.lead()
    place.at(NOW).set_policy(conversations_days=30, leads_days=30, analytics_events_days=30,
                             visitor_addresses_days=30, uploaded_originals_days=30)
    before = {table: other_place.count(table) for table in ("conversations", "messages", "leads", "analytics_events")}

    sweep_retention(services.retention)

    assert place.count("conversations") == place.count("leads") == place.count("analytics_events") == 0
    assert {table: other_place.count(table) for table in before} == before
    assert other_place.column("SELECT client_address FROM conversations WHERE channel = 'widget'") == ["203.0.113.7"]
    assert other_place.count("sources", "original IS NOT NULL") == 2


def test_a_second_run_deletes_nothing_more(services, place):
    for days_ago in (100, 60, 20, 5):
        place.at(NOW - days_ago * DAY).conversation(PARKING, visitor="visitor-1")
        place.lead()
    place.at(NOW).set_policy(conversations_days=30, leads_days=50, analytics_events_days=90,
                             visitor_addresses_days=10, uploaded_originals_days=1)

    first = sweep_retention(services.retention)
    second = sweep_retention(services.retention)

    assert first["totals"]["conversations"] == 4  # each lead came with a conversation of its own
    assert first["totals"]["leads"] == 2 and first["totals"]["visitor_addresses"] > 0
    assert second["deleted"] == {} and set(second["totals"].values()) == {0}


def test_setting_the_clock_back_deletes_nothing(services, place):
    place.at(NOW - 45 * DAY).conversation(PARKING)
    place.at(NOW - 20 * DAY).conversation(PARKING)
    place.at(NOW).set_policy(conversations_days=30)
    sweep_retention(services.retention)

    place.at(NOW - 10 * DAY)
    again = sweep_retention(services.retention)

    assert again["deleted"] == {}
    assert place.count("conversations") == 1


def test_leads_and_analytics_events_go_by_when_they_were_made(services, place):
    conversation = place.at(NOW - 61 * DAY).conversation(PARKING, visitor="visitor-1")
    old_lead = place.lead(conversation_id=conversation)
    place.at(NOW - 59 * DAY)
    new_lead = place.lead()
    place.at(NOW).set_policy(leads_days=60, analytics_events_days=60)

    summary = sweep_retention(services.retention)

    assert place.column("SELECT id FROM leads") == [new_lead.id]
    assert old_lead.id not in place.column("SELECT id FROM leads")
    assert place.count("conversations", "id = ?", (conversation,)) == 1  # conversations have their own policy
    assert place.count("analytics_events", "created_at < ?", ("2026-09-30T12:00:00Z",)) == 0
    assert place.count("analytics_events") == 2  # the newer lead's conversation and lead
    assert summary["totals"]["leads"] == 1 and summary["totals"]["analytics_events"] == 3


@pytest.mark.parametrize(("action", "expected"), [("truncate", "198.51.100.0/24"), ("drop", None)])
def test_visitor_addresses_are_truncated_or_dropped_after_their_days(services, place, action, expected):
    old = place.at(NOW - 8 * DAY).ask(PARKING, visitor="v-old", address="198.51.100.23").conversation_id
    old_lead = place.lead(visitor="v-lead", address="198.51.100.24")
    recent = place.at(NOW - 6 * DAY).ask(PARKING, visitor="v-new", address="198.51.100.99").conversation_id
    place.at(NOW).set_policy(visitor_addresses_days=7, visitor_addresses_action=action)

    summary = sweep_retention(services.retention)

    assert place.column("SELECT client_address FROM conversations WHERE id = ?", (old,)) == [expected]
    assert place.column("SELECT client_address FROM leads WHERE id = ?", (old_lead.id,)) == [expected]
    assert place.column("SELECT client_address FROM conversations WHERE id = ?", (recent,)) == ["198.51.100.99"]
    assert summary["totals"]["visitor_addresses"] == 3  # two conversations (the lead's own) and the lead


def test_a_truncated_address_is_dropped_when_the_policy_turns_to_drop(services, place):
    place.at(NOW - 8 * DAY).ask(PARKING, visitor="v", address="2001:db8:abcd:12::7")
    place.at(NOW).set_policy(visitor_addresses_days=7)
    sweep_retention(services.retention)
    assert place.column("SELECT client_address FROM conversations") == ["2001:db8:abcd::/48"]

    place.set_policy(visitor_addresses_days=7, visitor_addresses_action="drop")
    sweep_retention(services.retention)

    assert place.column("SELECT client_address FROM conversations") == [None]


def test_uploaded_originals_go_but_their_source_still_answers(services, place, clock):
    clock.advance(days=2)
    place.set_policy(uploaded_originals_days=1)

    summary = sweep_retention(services.retention)

    assert summary["totals"]["uploaded_originals"] == 1
    assert place.column("SELECT original FROM sources WHERE id = ?", (place.handbook_id,)) == [None]
    assert place.count("sources", "kind = 'qa' AND original IS NOT NULL") == 1  # Q&A text is not an upload
    reply = place.ask(PARKING).reply
    assert reply.answered and "north car park" in reply.text
    sources = services.knowledge.sources(place.workspace_id)
    assert sources.get(place.handbook_id).status == "ready"
    with pytest.raises(Exception, match="removed by the workspace's retention policy"):
        sources.original(place.handbook_id)
    with pytest.raises(Exception, match="upload the file again"):
        sources.refresh(place.handbook_id)


def test_a_legal_hold_blocks_the_sweep_until_lifted(services, place):
    place.at(NOW - 100 * DAY).conversation(PARKING)
    place.at(NOW).set_policy(conversations_days=30)
    services.retention.set_legal_hold(place.workspace_id, on=True, reason="litigation", actor=place.owner)

    held = sweep_retention(services.retention)

    assert held["held"] == [place.workspace_id] and held["deleted"] == {}
    assert place.count("conversations") == 1
    services.retention.set_legal_hold(place.workspace_id, on=False, actor=place.owner)
    assert sweep_retention(services.retention)["totals"]["conversations"] == 1
    assert place.count("conversations") == 0


def test_the_preview_counts_exactly_what_the_sweep_then_deletes(services, place):
    for days_ago in (400, 200, 95, 40, 31, 29, 3):
        conversation = place.at(NOW - days_ago * DAY).conversation(PARKING, LEAVE, visitor=f"v{days_ago}")
        if days_ago % 2:
            place.lead(conversation_id=conversation, visitor=f"v{days_ago}")
    proposed = {"conversations_days": 30, "leads_days": 90, "analytics_events_days": 180,
                "visitor_addresses_days": 10, "uploaded_originals_days": 2}
    place.at(NOW)

    preview = services.retention.preview(place.workspace_id, proposed)
    assert place.count("conversations") == 7  # previewing deletes nothing
    place.set_policy(**proposed)
    dry = sweep_retention(services.retention, dry_run=True)
    swept = sweep_retention(services.retention)

    assert preview.counts == dry["deleted"][place.workspace_id] == swept["deleted"][place.workspace_id]
    assert preview.counts == {"conversations": 5, "messages": 20, "leads": 1, "analytics_events": 6,
                              "visitor_addresses": 3, "uploaded_originals": 0}  # the handbook came today
    assert preview.public()["summary"] == ("5 conversations, 20 messages, 1 lead and 6 analytics events will be "
                                           "deleted; 3 visitor addresses will be truncated or dropped.")


def test_a_dry_run_changes_nothing_and_writes_no_audit_row(services, place):
    place.at(NOW - 100 * DAY).conversation(PARKING)
    place.at(NOW).set_policy(conversations_days=30)
    before = len(services.audit.events(limit=1000))

    dry = sweep_retention(services.retention, dry_run=True)

    assert dry["dry_run"] and dry["totals"]["conversations"] == 1
    assert place.count("conversations") == 1
    assert len(services.audit.events(limit=1000)) == before


def test_the_sweep_deletes_in_small_transactions_and_records_what_it_did(services, place):
    for i in range(12):  # 12 conversations of 4 messages: with 7 rows a batch, one conversation per transaction
        place.at(NOW - 100 * DAY + i * SECOND).conversation(PARKING, LEAVE)
    place.at(NOW).set_policy(conversations_days=30)
    transactions = []
    original = place.db.transaction

    def counting():
        transactions.append(1)
        return original()

    place.db.transaction = counting
    try:
        sweep_retention(services.retention)
    finally:
        del place.db.transaction

    assert place.count("conversations") == 0
    assert len(transactions) == 13  # 12 batches, then one that finds nothing more
    event = services.audit.events(workspace_id=place.workspace_id, action="retention.sweep")[-1]
    assert (event.actor_type, event.details["deleted"]["conversations"]) == ("system", 12)


def test_the_sweep_checkpoints_so_no_write_ahead_log_is_left(services, place):
    place.at(NOW - 100 * DAY).conversation(PARKING)
    place.at(NOW).set_policy(conversations_days=30)

    sweep_retention(services.retention)

    wal = place.db.path.with_name(place.db.path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


def test_describe_says_what_goes_in_words():
    counts = {"conversations": 1, "messages": 2, "leads": 0, "analytics_events": 0, "visitor_addresses": 1,
              "uploaded_originals": 0}

    assert describe(counts, dry_run=True) == ("1 conversation and 2 messages will be deleted; 1 visitor address "
                                              "will be truncated or dropped.")
    assert describe(dict.fromkeys(counts, 0), dry_run=False) == "nothing was deleted."


def test_a_large_purge_merges_the_index_as_it_goes_and_at_the_end_and_leaves_it_whole(services, place, monkeypatch):
    from appliance.retention import sweep
    from tests.appliance.retention.places import fill_conversations

    monkeypatch.setattr(sweep, "LARGE_PURGE_MESSAGES", 100)
    for n in range(3):  # several transactions, so the index has several segments to merge
        fill_conversations(place.db, place.agent.id, count=40, messages_each=4, first=NOW - 400 * DAY,
                           spacing=SECOND, prefix=f"old{n}-")
    kept = place.at(NOW).conversation(PARKING)
    place.index_messages()
    merged = []
    real = sweep.fts_merge.merge_step

    def counting(conn, table, *, first):
        merged.append(first)
        return real(conn, table, first=first)

    monkeypatch.setattr(sweep.fts_merge, "merge_step", counting)
    place.set_policy(conversations_days=30)

    summary = sweep_retention(services.retention)

    # Full merges as the deleted messages reach half of what the index held at the last one, and one at the end.
    assert merged.count(True) >= 2 and merged[-1] is False
    assert summary["totals"]["conversations"] == 120 and summary["totals"]["messages"] == 480
    assert place.column("SELECT v FROM messages_fts_config WHERE k IN ('automerge', 'secure-delete') ORDER BY k") \
        == [4, 1]
    assert place.count("meta", "name = ?", (sweep.deletions.INDEX_MERGE_OWED,)) == 0
    message_index.check(place.db.connection)
    assert place.column("SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'parking'") == place.column(
        "SELECT id FROM messages WHERE conversation_id = ? AND text LIKE '%park%' ORDER BY id", (kept,))



def test_a_merge_owed_by_a_workspace_without_a_policy_is_finished_by_the_sweep(services, place):
    """A policy set back to keeping everything after a large purge was cut short: the sweep still finishes it."""
    from appliance.retention import deletions

    place.at(NOW - 400 * DAY).conversation(PARKING)
    place.index_messages()
    with place.db.transaction() as conn:
        deletions.defer_index_deletes(conn, "2026-11-29T12:00:00Z")
    with place.db.transaction() as conn:
        deletions.delete_conversations(conn, "2026-11-01T00:00:00Z", budget=100)
    assert place.count("messages") == 0
    assert place.count("messages_fts_data", "instr(block, ?) > 0", (b"park",)) > 0

    summary = sweep_retention(services.retention)

    assert summary["totals"]["messages"] == 0
    assert not deletions.index_merge_owed(place.db.connection)
    assert place.column("SELECT v FROM messages_fts_config WHERE k = 'secure-delete'") == [1]
    assert place.count("messages_fts_data", "instr(block, ?) > 0", (b"park",)) == 0
