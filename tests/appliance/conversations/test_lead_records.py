"""Leads as admins work with them: filtered and searched, read with their conversation, deleted, exported as CSV."""

from __future__ import annotations

import csv
import io

import pytest

from appliance.conversations.lead_records import LeadFilters, LeadRecords
from appliance.errors import NotFound, ValidationError
from tests.appliance.conversations.chats import PAGE, PARKING


def records(chats) -> LeadRecords:
    return chats.services.conversations.lead_records(chats.workspace_id)


def listed(chats, **filters) -> list[str]:
    return [lead.id for lead in records(chats).list(LeadFilters(**filters), limit=200).items]


def test_leads_list_newest_first_and_filter_by_agent_and_time(chats):
    first = chats.lead(name="Ann")  # 2026-11-29T12:00:00Z
    chats.clock.advance(days=1)
    second = chats.lead(name="Bob", agent=chats.other_agent)
    chats.clock.advance(days=1)
    third = chats.lead(name="Cy")

    assert listed(chats) == [third.id, second.id, first.id]
    assert listed(chats, agent_id=chats.agent.id) == [third.id, first.id]
    assert listed(chats, since="2026-11-30T12:00:00Z") == [third.id, second.id]
    assert listed(chats, until="2026-11-30T12:00:00Z") == [first.id]
    [lead] = records(chats).list(LeadFilters(agent_id=chats.other_agent.id)).items
    assert (lead.name, lead.email, lead.page_url, lead.origin) == ("Bob", "jane@example.com", f"{PAGE}/contact", PAGE)


def test_pages_of_leads_continue_without_gaps_and_end_with_no_cursor(chats):
    made = []
    for _ in range(5):
        made.append(chats.lead().id)
        chats.clock.advance(minutes=1)

    first = records(chats).list(limit=2)
    second = records(chats).list(limit=2, after=first.next_after)
    third = records(chats).list(limit=2, after=second.next_after)

    assert [x.id for page in (first, second, third) for x in page.items] == made[::-1]
    assert third.next_after is None and len(third.items) == 1
    with pytest.raises(ValidationError, match="'after' is not a cursor"):
        records(chats).list(after="garbage")


@pytest.mark.parametrize(("q", "found"), [
    ("ann", ["ann"]), ("ANN SMITH", ["ann"]), ("@EXAMPLE.org", ["bob"]), ("7946", ["ann"]), ("globex", ["bob"]),
    ("fifty", ["bob"]), ("team_size", []), ("%", []), ("_", []), ("jane", []),
])
def test_search_matches_any_contact_field_or_custom_value_in_any_case(chats, q, found):
    ann = chats.lead(name="Ann Smith", email="ann@example.com", phone="+44 20 7946 0958", team_size="12")
    bob = chats.lead(name="Bob", email="bob@example.org", company="Globex", team_size="Fifty")
    ids = {"ann": ann.id, "bob": bob.id}

    assert sorted(listed(chats, q=q)) == sorted(ids[name] for name in found)


def test_filters_from_query_parameters_refuse_bad_times_and_keep_search_text_out_of_the_summary():
    filters = LeadFilters.from_params({"since": "2026-11-01", "q": " ann "})

    assert filters == LeadFilters(since="2026-11-01T00:00:00Z", q="ann")
    assert filters.summary() == {"since": "2026-11-01T00:00:00Z", "q": True}
    with pytest.raises(ValidationError, match="'until' must be an ISO 8601"):
        LeadFilters.from_params({"until": "soon"})


def test_a_lead_reads_with_its_conversation_transcript(chats):
    conversation_id = chats.conversation(PARKING, widget=True)
    lead = chats.lead(conversation_id, name="Ann")

    record = records(chats).get(lead.id)

    assert record.lead == lead
    assert record.conversation.id == conversation_id
    assert [m.text for m in record.conversation.messages][0] == PARKING
    assert [x.id for x in record.conversation.leads] == [lead.id]


def test_a_lead_whose_conversation_was_deleted_reads_without_one(chats):
    conversation_id = chats.conversation(PARKING, widget=True)
    lead = chats.lead(conversation_id)
    chats.services.conversations.records(chats.workspace_id).delete(conversation_id)

    record = records(chats).get(lead.id)

    assert record.lead.conversation_id is None and record.conversation is None


def test_deleting_a_lead_removes_it_and_its_consent_but_not_its_conversation(chats):
    conversation_id = chats.conversation(PARKING, widget=True)
    lead = chats.lead(conversation_id, name="Ann")

    deletion = records(chats).delete(lead.id)

    assert deletion.counts() == {"leads": 1} and deletion.ids == [lead.id] and deletion.at == "2026-11-29T12:00:00Z"
    assert chats.sql("SELECT count(*) FROM leads")[0][0] == 0
    assert chats.sql("SELECT count(*) FROM conversations WHERE id = ?", (conversation_id,))[0][0] == 1
    with pytest.raises(NotFound):
        records(chats).get(lead.id)
    with pytest.raises(NotFound):
        records(chats).delete(lead.id)


def test_csv_export_has_a_column_per_custom_field_and_the_consent_given(chats):
    chats.lead(name="Ann", team_size="12")
    chats.clock.advance(minutes=1)
    newest = chats.lead(name="Bob", company="Globex")

    export = records(chats).export_csv(LeadFilters())

    rows = list(csv.DictReader(io.StringIO(export.content)))
    assert export.media_type == "text/csv" and export.filename == "leads-2026-11-29.csv" and export.count == 2
    assert list(rows[0]) == ["id", "created_at", "agent_id", "name", "email", "phone", "company", "custom.team_size",
                             "consent_version", "consent_text", "consented_at", "page_url", "origin",
                             "conversation_id"]
    assert [r["name"] for r in rows] == ["Bob", "Ann"]
    assert rows[0]["id"] == newest.id and rows[0]["company"] == "Globex" and rows[0]["custom.team_size"] == ""
    assert rows[1]["custom.team_size"] == "12"
    assert rows[1]["consent_text"] == chats.agent.consent_text and rows[1]["consent_version"] == "1"
    assert rows[1]["consented_at"] == "2026-11-29T12:00:00Z" and rows[1]["page_url"] == f"{PAGE}/contact"


def test_csv_export_neutralises_what_a_spreadsheet_would_run(chats):
    chats.lead(name="=HYPERLINK(\"https://evil.example\",\"x\")", phone="+44 20 7946 0958", company="@SUM(A1)",
               team_size="-1+2")

    [row] = csv.DictReader(io.StringIO(records(chats).export_csv(LeadFilters()).content))

    assert row["name"] == "'=HYPERLINK(\"https://evil.example\",\"x\")"
    assert (row["phone"], row["company"], row["custom.team_size"]) == ("'+44 20 7946 0958", "'@SUM(A1)", "'-1+2")


def test_csv_export_follows_the_filters(chats):
    chats.lead(name="Ann")
    chats.lead(name="Bob", agent=chats.other_agent)

    rows = list(csv.DictReader(io.StringIO(records(chats).export_csv(LeadFilters(q="bob")).content)))

    assert [r["name"] for r in rows] == ["Bob"] and rows[0]["agent_id"] == chats.other_agent.id
