"""Analytics (per workspace): for a range of days (the last 7, 30 or 90, or from one day to another) and one agent or
all, the totals, charts per day (conversations; questions answered, fell back or asking for a person; leads; thumbs
up and down), the questions asked most, and the questions that fell back, each of which "Answer it…" turns into a
Q&A pair in one step; either table exported as CSV."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import urlencode

from PySide6.QtCore import QDate
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui.client.errors import ApiError
from gui.views.analytics_charts import DailyCharts
from gui.views.analytics_export import EXPORTS, exported, save_dialog, write_export
from gui.views.analytics_tables import FellBackQuestions, TotalsStrip, top_questions_table
from gui.views.page import Page
from gui.views.written_answers import PANEL_SOURCE, AnswerDialog, load_written_answers
from gui.widgets.banner import Banner

PRESETS = (("Last 7 days", 7), ("Last 30 days", 30), ("Last 90 days", 90), ("From… to…", None))
DEFAULT_PRESET = 1  # the last 30 days, as the API's own default
MUTED = "color:#5f6b7a;"


def today_utc() -> QDate:
    """The API counts days in UTC, so "the last 7 days" end on today's UTC date, whatever the panel's zone."""
    today = dt.datetime.now(dt.timezone.utc).date()
    return QDate(today.year, today.month, today.day)


def _date_field(name: str) -> QDateEdit:
    field = QDateEdit()
    field.setObjectName(name)
    field.setCalendarPopup(True)
    field.setDisplayFormat("yyyy-MM-dd")
    field.setMaximumDate(today_utc().addDays(1))
    return field


def _muted(text: str = "", *, name: str = "") -> QLabel:
    label = QLabel(text)
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setStyleSheet(MUTED)
    return label


class AnalyticsPage(Page):
    title = "Analytics"

    def __init__(self, context, parent=None, **kwargs) -> None:
        super().__init__(context, parent, **kwargs)
        self.report: dict | None = None
        self.agents: list[dict] | None = None
        self.answer_dialog: AnswerDialog | None = None
        self.export_dialog: QFileDialog | None = None
        self._asked = 0  # the latest report asked for: answers to earlier ones (an older range) are dropped
        self.add_intro("How visitors use this workspace's agents, day by day: conversations, questions answered or "
                       "not, leads and ratings. Questions that fell back are what to train the agents on next: "
                       "answer them here.")
        self.body.addLayout(self._filters())
        self.notice = Banner(self)
        self.body.addWidget(self.notice)
        self.totals = TotalsStrip()
        self.body.addWidget(self.totals)
        self.charts = DailyCharts()
        self.top_model, self.top_table = top_questions_table(self)
        self.top_empty = _muted(name="topEmpty")
        self.fell_back = FellBackQuestions(self.answer_action, self)
        self.fell_back_empty = _muted(name="fellBackEmpty")
        self.fell_back_hint = _muted("Each of these got the fallback reply. Answer it… writes the answer the agents "
                                     "give from now on; the question stays listed, as it was asked in this range.")
        self.tabs = QTabWidget()
        self.tabs.setObjectName("analyticsTabs")
        self.tabs.addTab(self.charts, "Per day")
        self.tabs.addTab(self._tab(self.top_empty, self.top_table), "Top questions")
        self.tabs.addTab(self._tab(self.fell_back_empty, self.fell_back.table, hint=self.fell_back_hint),
                         "Questions that fell back")
        self.body.addWidget(self.tabs, 1)
        self.preset.blockSignals(True)  # the window asks for the first report (refresh_action), not the page
        self.preset.setCurrentIndex(DEFAULT_PRESET)
        self.preset.blockSignals(False)
        self._preset_chosen(reload=False)

    def _filters(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(QLabel("Agent"))
        self.agent_choice = QComboBox()
        self.agent_choice.setObjectName("agentChoice")
        self.agent_choice.setMinimumWidth(200)
        self.agent_choice.addItem("All agents", None)
        self.agent_choice.currentIndexChanged.connect(lambda _: self.reload_action())
        row.addWidget(self.agent_choice)
        row.addSpacing(12)
        row.addWidget(QLabel("Range"))
        self.preset = QComboBox()
        self.preset.setObjectName("rangePreset")
        self.preset.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        for text, days in PRESETS:
            self.preset.addItem(text, days)
        self.preset.currentIndexChanged.connect(lambda _: self._preset_chosen())
        row.addWidget(self.preset)
        self.since = _date_field("since")
        self.until = _date_field("until")
        self.until_label = QLabel("to")
        for field in (self.since, self.until_label, self.until):
            row.addWidget(field)
        for field in (self.since, self.until):
            field.dateChanged.connect(lambda _: self._dates_changed())
        row.addStretch(1)
        self.export_button = QPushButton("Export CSV")
        self.export_button.setObjectName("exportCsv")
        self.export_button.setToolTip("Download a table of the range and agent shown, as the API exports it.")
        menu = QMenu(self.export_button)
        for table, (what, _) in EXPORTS.items():
            menu.addAction(f"The {what}…", lambda t=table: self.export_action(t))
        self.export_button.setMenu(menu)
        row.addWidget(self.export_button)
        return row

    @staticmethod
    def _tab(empty: QLabel, table: QWidget, *, hint: QLabel | None = None) -> QWidget:
        holder = QWidget()
        column = QVBoxLayout(holder)
        column.setContentsMargins(0, 8, 0, 0)
        if hint is not None:
            column.addWidget(hint)
        column.addWidget(empty)
        column.addWidget(table, 1)
        return holder

    # --- the range and the agent ---------------------------------------------------------------------------------

    def _preset_chosen(self, *, reload: bool = True) -> None:
        days = self.preset.currentData()
        custom = days is None
        for field in (self.since, self.until_label, self.until):
            field.setVisible(custom)
        if not custom:
            until = today_utc()
            self._set_dates(until.addDays(1 - days), until)
        if reload:
            self.reload_action()

    def _set_dates(self, since: QDate, until: QDate) -> None:
        for field, date in ((self.since, since), (self.until, until)):
            field.blockSignals(True)
            field.setDate(date)
            field.blockSignals(False)

    def _dates_changed(self) -> None:
        if self.preset.currentData() is None:
            self.reload_action()

    def choose_range(self, since: QDate, until: QDate) -> None:
        """Show from one day to another (the "From… to…" choice), as an admin picks them."""
        self._set_dates(since, until)
        if self.preset.currentData() is not None:
            self.preset.setCurrentIndex(len(PRESETS) - 1)  # shows the two days' fields, and reloads
        else:
            self.reload_action()

    def query(self) -> dict[str, str]:
        """The report's parameters as the API takes them: since, until and, for one agent, agent_id."""
        query = {"since": self.since.date().toString("yyyy-MM-dd"), "until": self.until.date().toString("yyyy-MM-dd")}
        if self.agent_choice.currentData():
            query["agent_id"] = self.agent_choice.currentData()
        return query

    # --- loading -------------------------------------------------------------------------------------------------

    @property
    def _base(self) -> str:
        return f"/api/v1/workspaces/{self.workspace_id}"

    def refresh_action(self) -> None:
        self.clear_message()
        if self.preset.currentData() is not None:
            self._preset_chosen(reload=False)  # "the last 7 days" move on with the date
        if self.context.may(self.workspace_id, "agents.read"):
            self.api.get_all(f"{self._base}/agents", "agents", on_done=self._got_agents, on_error=self.show_error)
        else:
            self.agent_choice.setEnabled(False)
            self.agent_choice.setToolTip("Your role cannot list the agents: the figures are for all of them.")
        self.reload_action()
        self._load_written_answers()

    def _got_agents(self, agents: list[dict]) -> None:
        self.agents = agents
        chosen = self.agent_choice.currentData()
        self.agent_choice.blockSignals(True)
        self.agent_choice.clear()
        self.agent_choice.addItem("All agents", None)
        for agent in sorted(agents, key=lambda a: a["name"].casefold()):
            self.agent_choice.addItem(agent["name"], agent["id"])
        found = self.agent_choice.findData(chosen)
        self.agent_choice.setCurrentIndex(max(found, 0))
        self.agent_choice.blockSignals(False)
        if chosen and found < 0:  # the agent chosen was deleted meanwhile: show all of them
            self.reload_action()
        elif self.report is not None and not any(self.report["totals"].values()):
            self._show(self.report)  # the empty state says whether there are agents at all

    def reload_action(self) -> None:
        """Ask for the report of the range and agent chosen."""
        self._asked += 1
        asked = self._asked
        self.api.get(f"{self._base}/analytics?{urlencode(self.query())}",
                     on_done=lambda report: self._got_report(asked, report),
                     on_error=lambda error: self._refused(asked, error))

    def _got_report(self, asked: int, report: dict) -> None:
        if asked != self._asked:
            return
        self.clear_message()
        self.report = report
        self._show(report)

    def _refused(self, asked: int, error: ApiError) -> None:
        if asked == self._asked:
            self.show_error(error)

    def _load_written_answers(self) -> None:
        if self.context.may(self.workspace_id, "sources.read"):
            load_written_answers(self.api, self.workspace_id, on_done=self.fell_back.set_answered,
                                 on_error=self.show_error)

    def _show(self, report: dict) -> None:
        self.totals.show_totals(report["totals"])
        self.charts.show_report(report, empty_text=self._empty_text())
        top, fell_back = report["top_questions"], report["fell_back_questions"]
        self.top_model.set_records(top)
        self.top_empty.setText("" if top else "No questions were asked in this range.")
        self.top_empty.setVisible(not top)
        self.top_table.setVisible(bool(top))
        self.fell_back.show_questions(fell_back)
        self.fell_back_empty.setText("" if fell_back else
                                     "No question fell back in this range: the agents answered everything asked.")
        self.fell_back_empty.setVisible(not fell_back)
        self.fell_back.table.setVisible(bool(fell_back))
        self.fell_back_hint.setVisible(bool(fell_back))
        self.tabs.setTabText(2, f"Questions that fell back ({len(fell_back)})")
        self._update_controls(report)

    def _empty_text(self) -> str:
        if self.agents == []:
            return ("No conversations in this range. This workspace has no agents yet: make one on the Agents "
                    "screen and embed its chat widget; its conversations, questions, leads and ratings are counted "
                    "here.")
        which = f" with {self.agent_choice.currentText()}" if self.agent_choice.currentData() else ""
        return (f"No conversations in this range{which}. Choose a longer range, or embed the agent's chat widget "
                "on your site (Agents) and try it in the Playground.")

    def _update_controls(self, report: dict) -> None:
        redacted = report["question_text"] == "redacted"
        if redacted:
            self.notice.show_message(
                f"Questions are shown with links, email addresses and numbers masked: your role, {self.role}, may "
                "not read conversations, where visitors' own words are.", kind="info")
        elif self.read_only:
            self.notice.show_message("This workspace is cancelled and read-only: its analytics can be read and "
                                     "exported, but no question can be answered.", kind="warning")
        else:
            self.notice.hide()
        may = self.context.may(self.workspace_id, "sources.write")
        why_not = ("This workspace is cancelled and read-only." if self.read_only else
                   f"Your role, {self.role}, cannot change training data (editors and above can)." if not may else
                   "The question is masked for your role." if redacted else "")
        self.fell_back.set_answerable(not why_not, why_not)

    # --- answering a question that fell back ---------------------------------------------------------------------

    def answer_action(self, question: dict) -> None:
        self.answer_dialog = AnswerDialog(self, question["question"],
                                          answer=self.fell_back.written_answer(question["question"]))
        self.answer_dialog.saved.connect(self._answered)
        self.answer_dialog.finished.connect(self.answer_dialog.deleteLater)
        self.answer_dialog.open()

    def _answered(self, question: str, source: dict) -> None:
        self.show_notice(f"Saved the answer to “{question}” in the training source “{PANEL_SOURCE}”. The agents "
                         "give it once the source is indexed again, in a few seconds (Training data shows when).")
        self._load_written_answers()

    # --- exports -------------------------------------------------------------------------------------------------

    def export_action(self, table: str, path: str | None = None) -> None:
        """Ask where to save the table ("daily" or "fell_back_questions") of the range and agent shown, then save
        the API's CSV of it there."""
        if path is None:
            self.export_dialog = save_dialog(self, table, self.query())
            self.export_dialog.fileSelected.connect(lambda chosen: self.export_action(table, chosen))
            self.export_dialog.open()
            return
        target = Path(path)
        self.export_button.setEnabled(False)
        self.api.get(f"{self._base}/analytics/export?{urlencode({**self.query(), 'table': table})}",
                     accept="text/csv", on_error=self._not_exported,
                     on_done=lambda data: self.context.background.run(
                         lambda: write_export(target, data), on_done=lambda rows: self._exported(table, target, rows),
                         on_error=lambda exc: self._unwritten(target, exc)))

    def _exported(self, table: str, target: Path, rows: int) -> None:
        self.export_button.setEnabled(True)
        self.show_notice(exported(table, target, rows))

    def _unwritten(self, target: Path, exc: BaseException) -> None:
        self.export_button.setEnabled(True)
        self.banner.show_message(f"The export could not be written to {target}: {exc}", kind="error")

    def _not_exported(self, error: ApiError) -> None:
        self.export_button.setEnabled(True)
        self.show_error(error)
