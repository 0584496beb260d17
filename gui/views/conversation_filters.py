"""The conversations inbox's filters: dates, agent, outcome, lead, rating, channel and a full-text search, read as the
list route's query parameters (server/api/conversations.py, ConversationFilters)."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QLineEdit, QWidget

from gui.widgets.buttons import action_button
from gui.widgets.dates import ANY_DATE, OptionalDate

OUTCOMES = (("Any outcome", ""), ("Answered", "answered"), ("Fell back", "fell_back"))
LEADS = (("With or without a lead", ""), ("With a lead", "true"), ("Without a lead", "false"))
FEEDBACK = (("Any rating", ""), ("Thumbs up", "up"), ("Thumbs down", "down"))
CHANNELS = (("Any channel", ""), ("Widget", "widget"), ("API", "api"))
SEARCH_PAUSE_MS = 400  # the search runs once typing pauses this long (or on Enter)


def _choices(name: str, options: tuple[tuple[str, str], ...]) -> QComboBox:
    box = QComboBox()
    box.setObjectName(name)
    for text, value in options:
        box.addItem(text, value)
    return box


def _label(text: str) -> QLabel:
    label = QLabel(text)
    label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return label


class ConversationFiltersBar(QWidget):
    """Two rows of filters; `changed` is emitted whenever what they select changes."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        self.search = QLineEdit()
        self.search.setObjectName("conversationSearch")
        self.search.setPlaceholderText("Search every message: words the visitor or the agent wrote")
        self.search.setClearButtonEnabled(True)
        self._pause = QTimer(self)
        self._pause.setSingleShot(True)
        self._pause.setInterval(SEARCH_PAUSE_MS)
        self._pause.timeout.connect(self.changed)
        self.search.textEdited.connect(lambda _: self._pause.start())
        self.search.returnPressed.connect(self._search_now)
        self.agent = QComboBox()
        self.agent.setObjectName("agentFilter")
        self.agent.addItem("Every agent", "")
        self.agent.setMinimumContentsLength(14)
        self.outcome = _choices("outcomeFilter", OUTCOMES)
        self.has_lead = _choices("leadFilter", LEADS)
        self.feedback = _choices("feedbackFilter", FEEDBACK)
        self.channel = _choices("channelFilter", CHANNELS)
        self.since = OptionalDate()
        self.since.setObjectName("sinceFilter")
        self.until = OptionalDate()
        self.until.setObjectName("untilFilter")
        # Each row is laid out on its own, so the bar is only as wide as its wider row (the page fits 1280 px).
        grid.addWidget(_label("Search"), 0, 0)
        words = QHBoxLayout()
        words.setSpacing(8)
        words.addWidget(self.search, 1)
        words.addSpacing(8)
        words.addWidget(_label("From (UTC)"))
        words.addWidget(self.since)
        words.addWidget(_label("To"))
        words.addWidget(self.until)
        grid.addLayout(words, 0, 1)
        grid.addWidget(_label("Agent"), 1, 0)
        choices = QHBoxLayout()
        choices.setSpacing(8)
        for box in (self.agent, self.outcome, self.has_lead, self.feedback, self.channel):
            choices.addWidget(box)
        choices.addStretch(1)
        self.clear_button = action_button("Clear filters", self.clear_action, name="clearFilters", row=choices)
        grid.addLayout(choices, 1, 1)
        grid.setColumnStretch(1, 1)
        for box in (self.agent, self.outcome, self.has_lead, self.feedback, self.channel):
            box.currentIndexChanged.connect(lambda _: self.changed.emit())
        for date in (self.since, self.until):
            date.dateChanged.connect(lambda _: self.changed.emit())

    def set_agents(self, agents: list[dict]) -> None:
        """Offer the workspace's agents, keeping the one chosen if it is still there."""
        chosen = self.agent.currentData()
        self.agent.blockSignals(True)
        self.agent.clear()
        self.agent.addItem("Every agent", "")
        for agent in sorted(agents, key=lambda a: a["name"].lower()):
            self.agent.addItem(agent["name"], agent["id"])
        self.agent.setCurrentIndex(max(0, self.agent.findData(chosen)))
        self.agent.blockSignals(False)

    def query(self) -> dict[str, str]:
        """The filters as the list route's query parameters; "To" includes its whole day."""
        query = {"agent_id": self.agent.currentData(), "outcome": self.outcome.currentData(),
                 "has_lead": self.has_lead.currentData(), "feedback": self.feedback.currentData(),
                 "channel": self.channel.currentData(), "since": self.since.day_start() or "",
                 "until": self.until.day_start(days_after=1) or "", "q": self.search.text().strip()}
        return {name: value for name, value in query.items() if value}

    def describe(self) -> str:
        """The filters in force in words, for the count line: '' when none is."""
        parts = [box.currentText() for box in (self.agent, self.outcome, self.has_lead, self.feedback, self.channel)
                 if box.currentIndex() > 0]
        if self.since.date() != ANY_DATE:
            parts.append(f"from {self.since.date().toString('yyyy-MM-dd')}")
        if self.until.date() != ANY_DATE:
            parts.append(f"to {self.until.date().toString('yyyy-MM-dd')}")
        if self.search.text().strip():
            parts.append(f"matching “{self.search.text().strip()}”")
        return ", ".join(parts)

    def clear_action(self) -> None:
        self.blockSignals(True)
        self.search.clear()
        for box in (self.agent, self.outcome, self.has_lead, self.feedback, self.channel):
            box.setCurrentIndex(0)
        self.since.setDate(ANY_DATE)
        self.until.setDate(ANY_DATE)
        self.blockSignals(False)
        self.changed.emit()

    def _search_now(self) -> None:
        self._pause.stop()
        self.changed.emit()
