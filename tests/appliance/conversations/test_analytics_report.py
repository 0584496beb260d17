"""The analytics report: every day of the range counted (empty ones too), totals, top and fell-back questions, CSV."""

from __future__ import annotations

import csv
import io

import pytest

from appliance.conversations.analytics_report import AnalyticsReport, DayCounts, normalise
from appliance.errors import ValidationError
from tests.appliance.conversations.chats import ANSWERED, FALLS_BACK, HANDOFF, PARKING


def report(chats, *, redacted: bool = False) -> AnalyticsReport:
    return chats.services.conversations.analytics(chats.workspace_id, redacted=redacted)


def test_every_day_of_the_range_has_a_row_with_zeros_on_quiet_days(chats):
    conversation_id = chats.conversation(ANSWERED, FALLS_BACK, widget=True)  # 2026-11-29
    chats.lead(conversation_id)
    chats.rate(chats.ask(PARKING), "up")
    chats.clock.advance(days=2)                                              # 2026-12-01
    chats.rate(chats.ask(PARKING), "down")
    chats.ask(HANDOFF)

    days = report(chats).daily("2026-11-28", "2026-12-02")

    assert [d.day for d in days] == ["2026-11-28", "2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02"]
    assert (days[0], days[2], days[4]) == (DayCounts("2026-11-28"), DayCounts("2026-11-30"), DayCounts("2026-12-02"))
    assert days[1] == DayCounts("2026-11-29", conversations=2, questions=3, answered=2, fell_back=1, handed_off=0,
                                leads=1, thumbs_up=1, thumbs_down=0)
    assert days[3] == DayCounts("2026-12-01", conversations=2, questions=2, answered=1, fell_back=0, handed_off=1,
                                leads=0, thumbs_up=0, thumbs_down=1)


def test_the_report_totals_its_days_and_names_its_range(chats):
    chats.conversation(ANSWERED, FALLS_BACK)
    chats.clock.advance(days=1)
    chats.conversation(HANDOFF)

    result = report(chats).report("2026-11-29", "2026-11-30")

    assert (result.since, result.until, len(result.days)) == ("2026-11-29", "2026-11-30", 2)
    assert result.totals == {"conversations": 2, "questions": 3, "answered": 1, "fell_back": 1, "handed_off": 1,
                             "leads": 0, "thumbs_up": 0, "thumbs_down": 0}
    assert result.public()["days"][0]["questions"] == 2


def test_the_default_range_is_the_last_30_days_up_to_today(chats):
    chats.clock.advance(days=40)
    today = chats.clock.now().date()

    days = report(chats).daily()

    assert len(days) == 30 and days[-1].day == today.isoformat() and days[0].day == "2026-12-10"


def test_a_single_day_range_and_a_range_of_366_days_are_allowed(chats):
    assert [d.day for d in report(chats).daily("2026-11-29", "2026-11-29")] == ["2026-11-29"]
    assert len(report(chats).daily("2025-11-29", "2026-11-29")) == 366


@pytest.mark.parametrize(("since", "until", "message"), [
    ("2025-11-28", "2026-11-29", "at most 366 days"),
    ("2026-11-30", "2026-11-29", "'since' must be on or before 'until'"),
    ("yesterday", None, "'since' must be a day"),
    (None, "20261129", "'until' must be a day"),
    (None, "2026-02-30", "'until' must be a day"),
    (None, "0001-01-05", "within the calendar"),
])
def test_ranges_that_are_too_long_backwards_or_not_days_are_refused(chats, since, until, message):
    with pytest.raises(ValidationError, match=message):
        report(chats).daily(since, until)


def test_one_agent_can_be_reported_alone(chats):
    chats.conversation(ANSWERED)
    chats.conversation(FALLS_BACK, agent=chats.other_agent)

    mine = report(chats).report(agent_id=chats.agent.id)
    theirs = report(chats).report(agent_id=chats.other_agent.id)

    assert (mine.totals["answered"], mine.totals["fell_back"]) == (1, 0)
    assert (theirs.totals["answered"], theirs.totals["fell_back"]) == (0, 1)
    assert [q.question for q in theirs.top_questions] == [normalise(FALLS_BACK)]


@pytest.mark.parametrize(("text", "normalised"), [
    ("Opening  hours?", "opening hours"), ("OPENING HOURS?!", "opening hours"), (" opening\thours… ", "opening hours"),
    ("Why?  Why not?", "why? why not"), ("¿Dónde está?", "¿dónde está"), ("???", ""),
])
def test_questions_group_by_lower_case_single_spaces_and_no_trailing_punctuation(text, normalised):
    assert normalise(text) == normalised


def test_top_questions_count_variants_together_with_the_share_answered(chats):
    chats.conversation("How many days of paid leave do I get?", "how many days of  paid leave do I get")
    chats.clock.advance(days=1)
    chats.conversation("HOW MANY DAYS OF PAID LEAVE DO I GET??", FALLS_BACK)
    chats.conversation("Can I talk to a person?")

    top = report(chats).top_questions(limit=2)

    assert [(q.question, q.count) for q in top] == [(normalise(ANSWERED), 3), ("can i talk to a person", 1)]
    assert top[0].answered_share == 1.0 and top[1].answered_share == 0.0
    assert top[0].last_asked == "2026-11-30T12:00:00Z"


def test_fell_back_questions_are_the_ones_to_train_on_next_most_frequent_first(chats):
    chats.conversation(FALLS_BACK)
    chats.clock.advance(days=1)
    chats.conversation("what is the capital of mongolia", "Who designed the zeppelin?")
    chats.clock.advance(days=1)
    chats.conversation("Who invented the typewriter?", ANSWERED, HANDOFF)

    fell_back = report(chats).fell_back_questions()

    assert [(q.question, q.count, q.last_asked) for q in fell_back] == [
        ("what is the capital of mongolia", 2, "2026-11-30T12:00:00Z"),
        ("who invented the typewriter", 1, "2026-12-01T12:00:00Z"),
        ("who designed the zeppelin", 1, "2026-11-30T12:00:00Z"),
    ]


def test_a_deleted_conversation_still_counts_but_its_questions_are_gone(chats):
    conversation_id = chats.conversation(FALLS_BACK)
    chats.services.conversations.records(chats.workspace_id).delete(conversation_id)

    result = report(chats).report()

    assert (result.totals["conversations"], result.totals["questions"], result.totals["fell_back"]) == (1, 1, 1)
    assert result.top_questions == [] and result.fell_back_questions == []


def test_daily_csv_has_a_row_per_day(chats):
    chats.conversation(ANSWERED)

    rows = list(csv.DictReader(io.StringIO(report(chats).csv("daily", "2026-11-28", "2026-11-29"))))

    assert list(rows[0]) == ["day", "conversations", "questions", "answered", "fell_back", "handed_off", "leads",
                             "thumbs_up", "thumbs_down"]
    assert [(r["day"], r["questions"], r["answered"]) for r in rows] == [("2026-11-28", "0", "0"),
                                                                         ("2026-11-29", "1", "1")]


def test_fell_back_csv_neutralises_questions_a_spreadsheet_would_run(chats):
    chats.conversation("=HYPERLINK(\"https://evil.example\") please", "@SUM(A1) is what?")

    rows = list(csv.DictReader(io.StringIO(report(chats).csv("fell_back_questions"))))

    assert sorted(r["question"] for r in rows) == ["'=hyperlink(\"https://evil.example\") please",
                                                   "'@sum(a1) is what"]
    assert {r["count"] for r in rows} == {"1"}


def test_csv_of_an_unknown_table_is_refused(chats):
    with pytest.raises(ValidationError, match="'table' is one of: daily, fell_back_questions"):
        report(chats).csv("leads")


def test_a_redacted_report_masks_links_addresses_and_numbers_before_it_groups_questions(chats):
    chats.ask("Is jane.doe@example.com on the list? Call 0171 555 0199")
    chats.ask("Is BOB@example.org on the list? call +1 (555) 010-9999")
    chats.ask("Why does https://intranet.example/reset?user=jane&token=abc fail for ticket 4711235?")
    chats.ask("Are we open on 24 December 2026?")

    redacted = report(chats, redacted=True).report()
    full = report(chats).report()

    assert redacted.question_text == "redacted" and full.question_text == "full"
    assert sorted((q.question, q.count) for q in redacted.top_questions) == [
        ("are we open on 24 december 2026", 1), ("is [email] on the list? call [number]", 2),
        ("why does [link] fail for ticket [number]", 1)]
    assert redacted.public()["question_text"] == "redacted"
    assert redacted.totals == full.totals
    assert "jane" not in report(chats, redacted=True).csv("fell_back_questions")
    assert "jane.doe@example.com" in report(chats).csv("fell_back_questions")
