"""The Analytics screen, end to end: the totals, the charts' days and the question tables show what the API reports
for the range and agent chosen, and change with them; "Answer it…" turns a question that fell back into a Q&A pair
(a source made the first time, extended afterwards) that the agent then answers with; each table exports as the API
exports it; a viewer reads masked questions and cannot answer them; an empty workspace says how to start."""

from __future__ import annotations

import csv
import io
import json
from urllib.parse import urlencode

import pytest
from PySide6.QtCore import QDate
from PySide6.QtWidgets import QToolTip
from pytestqt.qtbot import QtBot

from gui.views.analytics import AnalyticsPage, today_utc
from gui.views.analytics_charts import day_label
from gui.views.analytics_export import EXPORTS
from gui.views.written_answers import PANEL_SOURCE, AnswerDialog
from tests.gui.driving import (
    PASSWORD,
    WAIT_MS,
    idle,
    join,
    new_workspace,
    open_dialog,
    open_page,
    save_to,
    signed_in_window,
    unique,
)

SITE = "https://intranet.example.com"
PARKING = ("Staff park on level B2 of the north garage, with the badge they were given on their first day. "
           "Visitors park in the south lot, which is free for the first two hours.")
ANSWERED = "Where do staff park?"
GIFT_CARDS = "Do you sell gift cards?"          # nothing in the parking guide answers it
OPENING = "When does the shop open on Sundays?"  # nor this


class Trained:
    """A workspace trained on the parking guide, with two agents and visitors' conversations with both."""

    def __init__(self, qtbot, served) -> None:
        self.served, self.token = served, served.token()
        self.workspace = new_workspace(served, "Analytics")["id"]
        self.base = f"/api/v1/workspaces/{self.workspace}"
        made = self.call("POST", "/sources", {"kind": "text", "title": "Parking guide", "text": PARKING}, 202)
        self.front = self.call("POST", "/agents", {"name": unique("Front desk")}, 201)["agent"]
        self.web = self.call("POST", "/agents", {"name": unique("Website"), "allowed_origins": [SITE]}, 201)["agent"]
        qtbot.waitUntil(lambda: self.source(made["source"]["id"])["status"] == "ready", timeout=WAIT_MS)

    def call(self, method: str, path: str, body=None, status: int = 200) -> dict:
        got, answer = self.served.api(method, f"{self.base}{path}", body, token=self.token)
        assert got == status, answer
        return answer

    def source(self, source_id: str) -> dict:
        return self.call("GET", f"/sources/{source_id}")["source"]

    def ask(self, question: str, agent: dict | None = None) -> dict:
        """Ask through the agent's ask route, as an integrator would: the reply."""
        return self.call("POST", f"/agents/{(agent or self.front)['id']}/ask", {"question": question})

    def visit(self, *questions: str, rating: str | None = None, lead: bool = False) -> None:
        """A visitor on the site asks through the website agent's widget, rates the last reply, leaves a lead."""
        running, widget = self.served.running, f"/widget/v1/agents/{self.web['public_id']}"
        origin = {"Origin": SITE}
        status, session = running.api("POST", f"{widget}/session", {"page_url": f"{SITE}/help"}, headers=origin)
        assert status == 200, session
        visitor = {**origin, "Authorization": f"Bearer {session['token']}"}
        reply = None
        for question in questions:
            status, said = running.api("POST", f"{widget}/messages", {"text": question}, headers=visitor)
            assert status == 200, said
            reply = said["reply"]
        if rating:
            status, rated = running.api("POST", f"{widget}/messages/{reply['id']}/feedback", {"rating": rating},
                                        headers=visitor)
            assert status == 200, rated
        if lead:
            form = session["agent"]["lead_form"]
            status, left = running.api("POST", f"{widget}/leads", {
                "fields": {"email": "jane@example.com"}, "consent": True,
                "consent_version": form["consent_version"]}, headers=visitor)
            assert status == 201, left

    def report(self, query: dict[str, str]) -> dict:
        return self.call("GET", f"/analytics?{urlencode(query)}")


@pytest.fixture(scope="module")
def trained(request, qapp, served) -> Trained:
    """Made once for the module's tests that only read it: 5 conversations, 2 answered, 3 fallen back (one question,
    asked three times), a thumbs up and down, and a lead, all today."""
    found = Trained(QtBot(request), served)
    assert found.ask(ANSWERED)["answered"] and not found.ask(GIFT_CARDS)["answered"]
    found.ask(GIFT_CARDS)
    found.visit(GIFT_CARDS, rating="down", lead=True)
    found.visit("Where do visitors park?", rating="up")
    return found


def _page(qtbot, window, workspace: str) -> AnalyticsPage:
    return open_page(qtbot, window, f"analytics:{workspace}", ready=lambda p: p.report is not None)


def _reloaded(qtbot, page: AnalyticsPage, change) -> dict:
    """Make the change (an agent, a range) and wait until the report for the new choice is shown."""
    before = page.report
    change()
    qtbot.waitUntil(lambda: page.report is not before, timeout=WAIT_MS)
    idle(qtbot, page.context)
    return page.report


def _assert_shows(page: AnalyticsPage, expected: dict) -> None:
    """The page shows the API's report: its totals, every chart's days, both question tables."""
    assert page.report == expected
    assert page.totals.shown() == expected["totals"]
    for chart in page.charts.charts():
        assert [d["day"] for d in chart.days] == [d["day"] for d in expected["days"]]
        for series in chart.series:
            assert chart.values(series.key) == [d[series.key] for d in expected["days"]], series.key
    assert page.top_model.records() == expected["top_questions"]
    assert page.fell_back.model.records() == expected["fell_back_questions"]


def test_totals_charts_and_questions_match_the_apis_report_and_follow_the_agent(qtbot, tmp_path, served, trained):
    window = signed_in_window(qtbot, tmp_path, served)
    page = _page(qtbot, window, trained.workspace)
    qtbot.waitUntil(lambda: page.agent_choice.count() == 3, timeout=WAIT_MS)

    everyone = trained.report(page.query())
    _assert_shows(page, everyone)
    totals = everyone["totals"]
    assert (totals["conversations"], totals["questions"], totals["answered"], totals["fell_back"]) == (5, 5, 2, 3)
    assert (totals["leads"], totals["thumbs_up"], totals["thumbs_down"]) == (1, 1, 1)
    assert len(everyone["days"]) == 30 and everyone["until"] == today_utc().toString("yyyy-MM-dd")
    assert everyone["fell_back_questions"][0]["question"] == "do you sell gift cards"
    assert page.tabs.tabText(2) == "Questions that fell back (1)"
    assert "Answered · 40%" == page.totals.tiles["answered"].caption.text()
    assert not page.charts.showing_empty
    questions = page.charts.questions
    today = questions.day_summary(29)
    assert today.splitlines()[1:] == ["Answered: 2", "Fell back: 3", "Asked for a person: 0"]
    questions.sets[1].hovered.emit(True, 29)  # the pointer over today's "fell back" bar reads the day out
    qtbot.waitUntil(lambda: QToolTip.text() == today, timeout=WAIT_MS)
    assert questions.day_labels()[-1] == day_label(everyone["until"])  # the latest day is always labelled

    web = _reloaded(qtbot, page, lambda: page.agent_choice.setCurrentIndex(page.agent_choice.findData(
        trained.web["id"])))

    assert page.query()["agent_id"] == trained.web["id"]
    _assert_shows(page, trained.report(page.query()))
    assert (web["totals"]["conversations"], web["totals"]["fell_back"], web["totals"]["leads"]) == (2, 1, 1)


def test_a_range_is_chosen_by_preset_or_from_one_day_to_another_and_a_bad_one_is_explained(
        qtbot, tmp_path, served, trained):
    window = signed_in_window(qtbot, tmp_path, served)
    page = _page(qtbot, window, trained.workspace)
    today = today_utc()

    week = _reloaded(qtbot, page, lambda: page.preset.setCurrentIndex(0))

    assert page.query() == {"since": today.addDays(-6).toString("yyyy-MM-dd"), "until": today.toString("yyyy-MM-dd")}
    assert len(week["days"]) == 7 and page.since.isHidden()
    _assert_shows(page, trained.report(page.query()))
    quarter = _reloaded(qtbot, page, lambda: page.preset.setCurrentIndex(2))
    assert len(quarter["days"]) == 90 and quarter["totals"] == week["totals"]

    before = _reloaded(qtbot, page, lambda: page.choose_range(today.addDays(-40), today.addDays(-35)))

    assert not page.since.isHidden() and page.preset.currentText() == "From… to…"
    assert [d["day"] for d in before["days"]][0] == today.addDays(-40).toString("yyyy-MM-dd")
    assert page.charts.showing_empty and page.charts.empty.text().startswith("No conversations in this range.")
    assert page.totals.shown() == dict.fromkeys(page.totals.tiles, 0)
    assert not page.top_empty.isHidden() and page.tabs.tabText(2) == "Questions that fell back (0)"

    page.until.setDate(today.addDays(-50))  # before the first day: the API refuses the range
    qtbot.waitUntil(lambda: not page.banner.isHidden(), timeout=WAIT_MS)
    assert "'since' must be on or before 'until'" in page.banner.label.text()
    page.until.setDate(today)
    qtbot.waitUntil(lambda: page.report["until"] == today.toString("yyyy-MM-dd"), timeout=WAIT_MS)
    assert page.banner.isHidden() and not page.charts.showing_empty


def _answer(qtbot, page: AnalyticsPage, question: str, answer: str) -> None:
    row = next(n for n, q in enumerate(page.fell_back.model.records()) if q["question"] == question)
    page.tabs.setCurrentIndex(2)
    page.fell_back.buttons[row].click()
    dialog = open_dialog(qtbot, page, AnswerDialog)
    assert dialog.question.text() == question
    dialog.answer.setPlainText(answer)
    page.clear_message()
    dialog.submit.click()
    qtbot.waitUntil(lambda: page.banner.label.text().startswith(f"Saved the answer to “{question}”"),
                    timeout=WAIT_MS)
    assert not [d for d in page.findChildren(AnswerDialog) if d.isVisible()]  # closed once the pair was saved


def _panel_sources(shop: Trained) -> list[dict]:
    return [s for s in shop.call("GET", "/sources")["sources"] if s["title"] == PANEL_SOURCE]


def _pairs(shop: Trained, source_id: str) -> list:
    status, _, original = shop.served.running.get(f"{shop.base}/sources/{source_id}/original", headers={
        "Authorization": f"Bearer {shop.token}", "Accept": "application/octet-stream"})
    assert status == 200
    return json.loads(original)


def test_answer_it_makes_a_qa_pair_that_the_agent_then_answers_with(qtbot, tmp_path, served):
    shop = Trained(qtbot, served)  # a workspace of its own: the answers change what its agents reply
    assert not shop.ask(GIFT_CARDS)["answered"] and not shop.ask(OPENING)["answered"]
    window = signed_in_window(qtbot, tmp_path, served)
    page = _page(qtbot, window, shop.workspace)
    assert [b.text() for b in page.fell_back.buttons] == ["Answer it…", "Answer it…"]
    assert all(b.isEnabled() for b in page.fell_back.buttons)
    gift_answer = "Yes: gift cards from 10 to 200 euros are sold at the front desk."

    _answer(qtbot, page, "do you sell gift cards", gift_answer)

    [source] = _panel_sources(shop)
    assert source["kind"] == "qa"
    assert _pairs(shop, source["id"]) == [["do you sell gift cards", gift_answer]]
    qtbot.waitUntil(lambda: shop.source(source["id"])["status"] == "ready", timeout=WAIT_MS)
    again = shop.ask(GIFT_CARDS)
    assert (again["method"], again["answered"], again["reply"]) == ("qa", True, gift_answer)
    idle(qtbot, window.context)
    qtbot.waitUntil(lambda: "Change answer…" in [b.text() for b in page.fell_back.buttons], timeout=WAIT_MS)
    questions = [q["question"] for q in page.fell_back.model.records()]
    page.fell_back.buttons[questions.index("do you sell gift cards")].click()
    change = open_dialog(qtbot, page, AnswerDialog)
    assert change.answer.toPlainText() == gift_answer  # the answer written before, to change
    change.reject()

    opening_answer = "The shop opens at 11 on Sundays."
    _answer(qtbot, page, "when does the shop open on sundays", opening_answer)

    [extended] = _panel_sources(shop)  # the same source, its pairs extended
    assert extended["id"] == source["id"]
    assert _pairs(shop, source["id"]) == [["do you sell gift cards", gift_answer],
                                          ["when does the shop open on sundays", opening_answer]]
    qtbot.waitUntil(lambda: shop.source(source["id"])["status"] == "ready"
                    and shop.source(source["id"])["refreshed_at"] >= extended["updated_at"], timeout=WAIT_MS)
    assert shop.ask(OPENING)["method"] == "qa" and shop.ask(GIFT_CARDS)["reply"] == gift_answer
    qtbot.waitUntil(lambda: page.fell_back.written_answer("when does the shop open on sundays") == opening_answer,
                    timeout=WAIT_MS)
    idle(qtbot, window.context)  # the page's last calls answered before its window closes


def test_an_answer_is_required_before_anything_is_saved(qtbot, tmp_path, served, trained):
    window = signed_in_window(qtbot, tmp_path, served)
    page = _page(qtbot, window, trained.workspace)
    page.fell_back.buttons[0].click()
    dialog = open_dialog(qtbot, page, AnswerDialog)

    dialog.submit.click()

    assert dialog.form.field_error("answer") == "Write the answer the agents should give."
    assert dialog.isVisible() and _panel_sources(trained) == []
    dialog.reject()


def _export(qtbot, page: AnalyticsPage, table: str, target) -> None:
    """Choose the table in Export CSV's menu, then the file in the save dialog."""
    [choice] = [a for a in page.export_button.menu().actions() if EXPORTS[table][0] in a.text()]
    choice.trigger()
    save_to(qtbot, page.export_dialog, target)
    qtbot.waitUntil(lambda: page.banner.label.text().startswith("Exported") and str(target) in page.banner.label.text(),
                    timeout=WAIT_MS)


def test_each_table_exports_to_the_chosen_file_as_the_api_exports_it(qtbot, tmp_path, served, trained):
    window = signed_in_window(qtbot, tmp_path, served)
    page = _page(qtbot, window, trained.workspace)
    _reloaded(qtbot, page, lambda: page.preset.setCurrentIndex(0))

    for table, rows in (("daily", 7), ("fell_back_questions", 1)):
        target = tmp_path / f"{table}.csv"
        _export(qtbot, page, table, target)

        query = urlencode({**page.query(), "table": table})
        status, _, body = served.running.get(f"{trained.base}/analytics/export?{query}", headers={
            "Authorization": f"Bearer {trained.token}", "Accept": "text/csv"})
        assert status == 200
        written = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
        assert written == list(csv.reader(io.StringIO(body.decode("utf-8"))))
        assert len(written) - 1 == rows
        assert str(target) in page.banner.label.text() and page.export_button.isEnabled()
    assert written[1][:2] == ["do you sell gift cards", "3"]
    nowhere = tmp_path / "gone" / "daily.csv"
    page.export_action("daily", str(nowhere))  # a folder removed after it was chosen
    qtbot.waitUntil(lambda: page.banner.kind == "error", timeout=WAIT_MS)
    assert page.banner.label.text().startswith(f"The export could not be written to {nowhere}")
    assert page.export_button.isEnabled()


def test_a_viewer_reads_masked_questions_and_cannot_answer_them(qtbot, tmp_path, served, trained):
    email, _ = join(qtbot, served, trained.workspace, "viewer")
    window = signed_in_window(qtbot, tmp_path, served, email, PASSWORD)
    page = _page(qtbot, window, trained.workspace)

    assert page.report["question_text"] == "redacted"
    assert not page.notice.isHidden() and "masked" in page.notice.label.text()
    assert page.fell_back.buttons and not any(b.isEnabled() for b in page.fell_back.buttons)
    assert "viewer, cannot change training data" in page.fell_back.buttons[0].toolTip()
    assert page.totals.shown() == trained.report(page.query())["totals"]


def test_an_empty_workspace_says_there_is_nothing_in_the_range_and_how_to_start(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Quiet")["id"]
    window = signed_in_window(qtbot, tmp_path, served)

    page = _page(qtbot, window, workspace)
    qtbot.waitUntil(lambda: page.agents == [], timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "no agents yet" in page.charts.empty.text(), timeout=WAIT_MS)

    assert page.charts.showing_empty
    assert page.charts.empty.text().startswith("No conversations in this range.")
    assert "Agents screen" in page.charts.empty.text()
    assert page.totals.shown() == dict.fromkeys(page.totals.tiles, 0)
    assert page.agent_choice.count() == 1 and page.agent_choice.currentText() == "All agents"
    page.tabs.setCurrentIndex(2)
    assert not page.fell_back_empty.isHidden() and "No question fell back" in page.fell_back_empty.text()
    assert QDate.fromString(page.query()["until"], "yyyy-MM-dd") == today_utc()


def test_a_cancelled_workspace_keeps_its_analytics_readable_and_its_questions_unanswerable(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Closed")["id"]
    base = f"/api/v1/workspaces/{workspace}"
    status, made = served.api("POST", f"{base}/agents", {"name": unique("Closed desk")})
    assert status == 201, made
    status, reply = served.api("POST", f"{base}/agents/{made['agent']['id']}/ask", {"question": GIFT_CARDS})
    assert status == 200 and not reply["answered"], reply
    assert served.api("POST", f"{base}/cancel")[0] == 200
    window = signed_in_window(qtbot, tmp_path, served)

    page = _page(qtbot, window, workspace)

    assert page.read_only and page.totals.shown()["fell_back"] == 1
    assert page.notice.kind == "warning" and "cancelled and read-only" in page.notice.label.text()
    [button] = page.fell_back.buttons
    assert not button.isEnabled() and button.toolTip() == "This workspace is cancelled and read-only."
    page.fell_back.answer(0)  # a double click on the row does nothing either
    assert not page.findChildren(AnswerDialog) and page.export_button.isEnabled()

