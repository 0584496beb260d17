"""Conversations as admins review them: every filter, cursor pages, safe search, transcripts, deletion, export."""

from __future__ import annotations

import csv
import io
import json

import pytest

from appliance.conversations.records import ConversationFilters, ConversationRecords
from appliance.errors import NotFound, ValidationError
from tests.appliance.conversations.chats import ANSWERED, FALLS_BACK, HANDOFF, PAGE, PARKING


def records(chats) -> ConversationRecords:
    return chats.services.conversations.records(chats.workspace_id)


def listed(chats, **filters) -> list[str]:
    """Ids of every conversation the filters select, newest first."""
    return [c.id for c in records(chats).list(ConversationFilters(**filters), limit=200).items]


def test_list_is_newest_first_with_counts_lead_and_first_question(chats):
    older = chats.conversation(ANSWERED, FALLS_BACK)
    chats.clock.advance(hours=1)
    reply = chats.ask(PARKING, widget=True)
    chats.rate(reply, "up")
    chats.lead(reply.conversation_id)

    newest, oldest = records(chats).list().items

    assert (newest.id, oldest.id) == (reply.conversation_id, older)
    assert (newest.channel, newest.origin, newest.page_url) == ("widget", PAGE, f"{PAGE}/hr")
    assert (newest.message_count, newest.answered_count, newest.fell_back_count) == (2, 1, 0)
    assert (newest.thumbs_up, newest.thumbs_down, newest.has_lead) == (1, 0, True)
    assert newest.first_question == PARKING
    assert (oldest.message_count, oldest.answered_count, oldest.fell_back_count) == (4, 1, 1)
    assert (oldest.channel, oldest.has_lead, oldest.first_question) == ("api", False, ANSWERED)


def test_a_conversation_started_by_a_lead_alone_lists_with_no_messages(chats):
    lead = chats.lead()

    [summary] = records(chats).list().items

    assert summary.id == lead.conversation_id and summary.has_lead
    assert (summary.message_count, summary.first_question) == (0, None)


def test_first_question_is_cut_at_200_characters(chats):
    chats.ask("Why " + "really " * 60 + "?")

    [summary] = records(chats).list().items

    assert len(summary.first_question) == 200 and summary.first_question.endswith("…")


def test_pages_cover_every_conversation_once_ties_broken_by_id(chats):
    days = []
    for _ in range(3):
        days.append(sorted(chats.conversation(ANSWERED) for _ in range(2)))  # two start in the same second
        chats.clock.advance(days=1)
    expected = [conversation_id for day in reversed(days) for conversation_id in day]
    seen, after, pages = [], None, 0
    while True:
        page = records(chats).list(limit=3, after=after)  # the first page ends between two of a tie
        seen += [c.id for c in page.items]
        pages += 1
        if page.next_after is None:
            break
        after = page.next_after

    assert seen == expected == listed(chats)
    assert pages == 2


def test_a_page_that_ends_the_list_exactly_has_no_next_cursor(chats):
    for _ in range(4):
        chats.conversation(ANSWERED)
        chats.clock.advance(minutes=1)

    first = records(chats).list(limit=2)
    second = records(chats).list(limit=2, after=first.next_after)

    assert len(first.items) == len(second.items) == 2 and first.next_after is not None
    assert second.next_after is None
    assert records(chats).list(limit=4).next_after is None
    assert records(chats).list(limit=3).next_after is not None


def test_a_cursor_outlives_the_deletion_of_the_conversation_it_names(chats):
    ids = []
    for _ in range(3):
        ids.append(chats.conversation(ANSWERED))
        chats.clock.advance(minutes=1)
    first = records(chats).list(limit=1)
    records(chats).delete(first.items[0].id)

    rest = records(chats).list(limit=5, after=first.next_after)

    assert [c.id for c in rest.items] == [ids[1], ids[0]]


@pytest.mark.parametrize("cursor", ["not-a-cursor", "!!!", "bm8tc2VwYXJhdG9y"])
def test_a_cursor_the_list_did_not_make_is_refused(chats, cursor):
    with pytest.raises(ValidationError, match="'after' is not a cursor"):
        records(chats).list(after=cursor)


def test_filters_by_agent_and_channel(chats):
    api = chats.conversation(ANSWERED)
    widget = chats.conversation(ANSWERED, widget=True)
    sales = chats.conversation(ANSWERED, agent=chats.other_agent)

    assert set(listed(chats, agent_id=chats.agent.id)) == {api, widget}
    assert listed(chats, agent_id=chats.other_agent.id) == [sales]
    assert listed(chats, channel="widget") == [widget]
    assert set(listed(chats, channel="api")) == {api, sales}


def test_since_includes_its_instant_and_until_excludes_its_instant(chats):
    first = chats.conversation(ANSWERED)  # 2026-11-29T12:00:00Z
    chats.clock.advance(days=1)
    second = chats.conversation(ANSWERED)  # 2026-11-30T12:00:00Z

    assert listed(chats, since="2026-11-30T12:00:00Z") == [second]
    assert listed(chats, until="2026-11-30T12:00:00Z") == [first]
    assert listed(chats, since="2026-11-29T12:00:01Z", until="2026-11-30T12:00:00Z") == []


def test_outcome_answered_means_every_reply_answered_and_fell_back_at_least_one_fallback(chats):
    answered = chats.conversation(ANSWERED, PARKING)
    mixed = chats.conversation(ANSWERED, FALLS_BACK)
    handed_off = chats.conversation(HANDOFF)
    chats.lead()  # a conversation without any reply is neither

    assert listed(chats, outcome="answered") == [answered]
    assert listed(chats, outcome="fell_back") == [mixed]
    assert handed_off not in listed(chats, outcome="answered") + listed(chats, outcome="fell_back")


def test_has_lead_and_feedback_filters(chats):
    with_lead = chats.conversation(ANSWERED, widget=True)
    chats.lead(with_lead)
    liked = chats.ask(ANSWERED)
    chats.rate(liked, "up")
    disliked = chats.ask(PARKING)
    chats.rate(disliked, "up")
    chats.rate(disliked, "down")  # changed their mind: only the last rating counts

    assert listed(chats, has_lead=True) == [with_lead]
    assert set(listed(chats, has_lead=False)) == {liked.conversation_id, disliked.conversation_id}
    assert listed(chats, feedback="up") == [liked.conversation_id]
    assert listed(chats, feedback="down") == [disliked.conversation_id]


def test_search_finds_words_in_questions_and_replies_with_stemming(chats):
    parking = chats.conversation(PARKING)
    leave = chats.conversation(ANSWERED)

    assert listed(chats, q="parking") == [parking]        # "park" in the question, stemmed
    assert listed(chats, q="RECEPTION") == [parking]      # only in the agent's reply
    assert listed(chats, q="leave 28") == [leave]          # words from two different messages
    assert listed(chats, q="leave parking") == []


@pytest.mark.parametrize("hostile", ['park"', "park*", "-park", "^park", "{park}", "park\x00", "+park"])
def test_search_operators_in_the_text_are_ignored_around_the_words(chats, hostile):
    parking = chats.conversation(PARKING)
    chats.conversation(ANSWERED)

    assert listed(chats, q=hostile) == [parking]


@pytest.mark.parametrize("hostile", ["NEAR(park", "park OR leave", "park AND", "park NOT leave", "text:park",
                                     "'); DROP TABLE messages; --"])
def test_search_operators_are_words_to_find_not_syntax(chats, hostile):
    chats.conversation(PARKING)
    chats.conversation(ANSWERED)

    assert listed(chats, q=hostile) == []  # neither conversation holds "near", "or", "and", "not", "text" or "drop"
    assert len(chats.sql("SELECT id FROM messages")) == 4


@pytest.mark.parametrize("hostile", ['"', "(((", "*", "-", "*** ---"])
def test_a_search_without_any_word_is_refused(hostile):
    with pytest.raises(ValidationError, match="'q' needs at least one word"):
        ConversationFilters.from_params({"q": hostile})


def test_a_blank_search_is_no_search():
    assert ConversationFilters.from_params({"q": "   "}).q is None


@pytest.mark.parametrize(("params", "message"), [
    ({"outcome": "maybe"}, "'outcome' is one of: answered, fell_back"),
    ({"has_lead": "yes"}, "'has_lead' is one of: true, false"),
    ({"feedback": "meh"}, "'feedback' is one of: up, down"),
    ({"channel": "email"}, "'channel' is one of: api, widget"),
    ({"since": "yesterday"}, "'since' must be an ISO 8601 time or date"),
    ({"until": "2026-13-01"}, "'until' must be an ISO 8601 time or date"),
])
def test_filter_values_that_are_not_understood_are_refused(params, message):
    with pytest.raises(ValidationError, match=message):
        ConversationFilters.from_params(params)


def test_filters_from_query_parameters_read_dates_as_utc_midnight():
    filters = ConversationFilters.from_params({"since": "2026-11-29", "until": "2026-11-30T01:00:00+02:00",
                                               "has_lead": "false", "q": "  park  "})

    assert (filters.since, filters.until) == ("2026-11-29T00:00:00Z", "2026-11-29T23:00:00Z")
    assert filters.has_lead is False and filters.q == "park"
    assert filters.summary() == {"since": "2026-11-29T00:00:00Z", "until": "2026-11-29T23:00:00Z",
                                 "has_lead": False, "q": True}


def test_transcript_holds_each_message_with_the_sources_its_reply_cited(chats):
    conversation_id = chats.conversation(PARKING, ANSWERED, widget=True)
    lead = chats.lead(conversation_id)

    transcript = records(chats).get(conversation_id)

    assert [m.role for m in transcript.messages] == ["visitor", "agent", "visitor", "agent"]
    parking, leave = transcript.messages[1], transcript.messages[3]
    assert parking.method == "extractive" and parking.answered is True
    [cited] = parking.sources
    assert (cited.source_id, cited.title, cited.url, cited.heading_path) == (
        chats.handbook_id, "Parking", None, "Parking")
    assert cited.current and len(cited.content_hash) == 64
    assert [(s.title, s.current) for s in leave.sources] == [("HR FAQ", True)]
    assert [x.id for x in transcript.leads] == [lead.id]
    assert transcript.public()["leads"][0]["email"] == "jane@example.com"
    assert "leads" not in transcript.public(with_leads=False)
    assert transcript.public(with_leads=False)["has_lead"] is True


def test_a_cited_passage_edited_or_deleted_since_is_marked_not_current(chats):
    conversation_id = chats.conversation(ANSWERED, PARKING)
    sources = chats.services.knowledge.sources(chats.workspace_id)
    sources.update_qa(chats.faq_id, pairs=[(ANSWERED, "30 days a year.")])
    sources.delete(chats.handbook_id)
    assert chats.services.knowledge.wait_idle(30)

    messages = records(chats).get(conversation_id).messages

    [faq] = messages[1].sources
    [handbook] = messages[3].sources
    assert (faq.title, faq.current) == ("HR FAQ", False)
    assert (handbook.source_id, handbook.title, handbook.current) == (chats.handbook_id, None, False)
    assert handbook.label() == "(deleted source)"


def test_an_unknown_conversation_is_not_found(chats):
    with pytest.raises(NotFound):
        records(chats).get("no-such-conversation")
    with pytest.raises(NotFound):
        records(chats).delete("no-such-conversation")


def test_deleting_a_conversation_removes_its_text_everywhere_but_keeps_counts_and_leads(chats):
    secret = "Where do visitors park their zeppelinmobile?"
    conversation_id = chats.conversation(secret, PARKING, widget=True)
    lead = chats.lead(conversation_id)
    kept = chats.conversation("Is the zeppelinmobile parking free?")
    orphans = "SELECT count(*) FROM message_sources WHERE message_id NOT IN (SELECT id FROM messages)"
    others = ("SELECT count(*) FROM message_sources WHERE message_id NOT IN "
              "(SELECT id FROM messages WHERE conversation_id = ?)")
    assert chats.sql("SELECT count(*) FROM message_sources")[0][0] > chats.sql(others, (conversation_id,))[0][0]
    chats.index_messages()  # in the index, not only waiting for it (test_message_index.py has those)

    deletion = records(chats).delete(conversation_id)

    assert deletion.counts() == {"conversations": 1, "messages": 4, "leads_unlinked": 1}
    assert deletion.ids == [conversation_id] and deletion.at == "2026-11-29T12:00:00Z"
    assert chats.sql("SELECT count(*) FROM messages WHERE conversation_id = ?", (conversation_id,))[0][0] == 0
    assert chats.sql(orphans)[0][0] == 0
    matches = chats.sql("SELECT m.conversation_id FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
                        "WHERE messages_fts MATCH 'zeppelinmobile'")
    assert {r[0] for r in matches} == {kept}  # its question, and the fallback that names what was asked
    events = chats.sql("SELECT kind, question FROM analytics_events WHERE conversation_id = ? ORDER BY id",
                       (conversation_id,))
    assert [e["kind"] for e in events] == ["conversation", "question", "question", "lead"]
    assert all(e["question"] is None for e in events)
    [row] = chats.sql("SELECT conversation_id, email FROM leads WHERE id = ?", (lead.id,))
    assert (row["conversation_id"], row["email"]) == (None, "jane@example.com")


def test_deleted_words_leave_the_search_index_itself(chats):
    conversation_id = chats.conversation("Do quixotically named rooms exist?")
    chats.conversation(PARKING)
    chats.index_messages()

    records(chats).delete(conversation_id)

    index = b"".join(bytes(r[0]) for r in chats.sql("SELECT block FROM messages_fts_data") if r[0] is not None)
    assert b"quixot" not in index and b"park" in index


def test_delete_many_deletes_the_known_ids_once_in_one_go(chats):
    first, second, third = (chats.conversation(ANSWERED) for _ in range(3))

    deletion = records(chats).delete_many([first, second, first, "no-such-conversation"])

    assert deletion.counts() == {"conversations": 2, "messages": 4, "leads_unlinked": 0}
    assert sorted(deletion.ids) == sorted([first, second])
    assert listed(chats) == [third]


@pytest.mark.parametrize("ids", [[], ["x"] * 1001, "abc", [1, 2]])
def test_delete_many_refuses_an_empty_oversized_or_malformed_list(chats, ids):
    chats.conversation(ANSWERED)

    with pytest.raises(ValidationError):
        records(chats).delete_many(ids)
    assert len(listed(chats)) == 1


def test_delete_many_takes_a_thousand_at_once(chats):
    ids = [chats.conversation(ANSWERED) for _ in range(3)] + [f"missing-{n}" for n in range(997)]

    assert records(chats).delete_many(ids).conversations == 3


def test_csv_export_has_a_row_per_message_with_its_sources(chats):
    conversation_id = chats.conversation(PARKING, FALLS_BACK)
    reply = chats.ask(ANSWERED, conversation_id=conversation_id)
    chats.rate(reply, "down")

    export = records(chats).export(ConversationFilters(), "csv")

    rows = list(csv.DictReader(io.StringIO(export.content)))
    assert export.media_type == "text/csv" and export.filename == "conversations-2026-11-29.csv"
    assert export.count == 1 and len(rows) == 6
    assert list(rows[0]) == ["conversation_id", "agent_id", "started_at", "role", "text", "answered", "method",
                             "feedback", "created_at", "sources"]
    assert [r["role"] for r in rows] == ["visitor", "agent"] * 3
    assert rows[1]["sources"] == "Parking" and rows[1]["answered"] == "True"
    assert (rows[3]["method"], rows[3]["answered"], rows[3]["sources"]) == ("fallback", "False", "")
    assert (rows[5]["sources"], rows[5]["feedback"]) == ("HR FAQ", "down")
    assert rows[0]["answered"] == rows[0]["method"] == ""


@pytest.mark.parametrize("question", ["=HYPERLINK(\"https://evil.example\",\"x\")", "+1+1", "-2+3", "@SUM(A1)"])
def test_csv_export_neutralises_what_a_spreadsheet_would_run(chats, question):
    chats.conversation(question)

    rows = list(csv.DictReader(io.StringIO(records(chats).export(ConversationFilters(), "csv").content)))

    assert rows[0]["text"] == "'" + question


def test_json_export_holds_transcripts_of_matching_conversations_without_leads(chats):
    widget = chats.conversation(PARKING, widget=True)
    chats.lead(widget)
    chats.conversation(ANSWERED)

    export = records(chats).export(ConversationFilters(channel="widget"), "json")

    [transcript] = json.loads(export.content)
    assert export.media_type == "application/json" and export.count == 1
    assert transcript["id"] == widget and transcript["has_lead"] is True and "leads" not in transcript
    assert [m["text"] for m in transcript["messages"]][0] == PARKING
    assert transcript["messages"][1]["sources"][0]["title"] == "Parking"


def test_export_spans_more_conversations_than_one_batch(chats, monkeypatch):
    from appliance.conversations import records as records_module

    monkeypatch.setattr(records_module, "EXPORT_BATCH", 2)
    made = [chats.conversation(ANSWERED) for _ in range(5)]

    export = records(chats).export(ConversationFilters(), "json")

    assert sorted(t["id"] for t in json.loads(export.content)) == sorted(made) and export.count == 5


def test_export_refuses_a_format_it_does_not_write(chats):
    with pytest.raises(ValidationError, match="'format' is one of: csv, json"):
        records(chats).export(ConversationFilters(), "xlsx")
