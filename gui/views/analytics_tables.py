"""The Analytics screen's figures other than charts: the range's totals as a row of tiles, the questions asked most,
and the questions that fell back, each of those with its "Answer it…" button."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QTableView, QVBoxLayout, QWidget

from gui.models.table import Column, RecordsModel
from gui.widgets.formatting import when
from gui.widgets.tables import records_table

# The totals shown, in order, with what each counts (a tile's tooltip).
TOTALS = (
    ("conversations", "Conversations", "Conversations started in the range, in the widget, the API or the Playground."),
    ("questions", "Questions", "Questions visitors asked."),
    ("answered", "Answered", "Questions an agent answered from the training data."),
    ("fell_back", "Fell back", "Questions no agent could answer: they got the fallback reply."),
    ("handed_off", "Asked for a person", "Questions that asked for a person rather than about the content."),
    ("leads", "Leads", "Contact details visitors left."),
    ("thumbs_up", "Thumbs up", "Replies visitors rated helpful."),
    ("thumbs_down", "Thumbs down", "Replies visitors rated unhelpful."),
)


def share(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else ""


class TotalTile(QFrame):
    def __init__(self, key: str, caption: str, hint: str) -> None:
        super().__init__()
        self.setObjectName(f"total_{key}")
        self.setToolTip(hint)
        self.setStyleSheet(f"QFrame#total_{key} {{background:#f5f7fa;border:1px solid #dde3ea;border-radius:6px;}}")
        column = QVBoxLayout(self)
        column.setContentsMargins(10, 6, 10, 6)
        column.setSpacing(0)
        self.value = QLabel("–")
        self.value.setStyleSheet("font-size:20px;font-weight:600;color:#2b3440;border:none;")
        self.caption = QLabel(caption)
        self.caption.setStyleSheet("color:#5f6b7a;font-size:11px;border:none;")
        column.addWidget(self.value)
        column.addWidget(self.caption)
        self.caption_text = caption

    def show_count(self, count: int, note: str = "") -> None:
        self.value.setText(f"{count:,}")
        self.caption.setText(f"{self.caption_text} · {note}" if note else self.caption_text)


class TotalsStrip(QWidget):
    """The range's totals, with the share answered, fell back and rated up where there is a whole to share."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)
        self.tiles = {key: TotalTile(key, caption, hint) for key, caption, hint in TOTALS}
        for tile in self.tiles.values():
            row.addWidget(tile, 1)

    def show_totals(self, totals: dict[str, int]) -> None:
        questions, rated = totals["questions"], totals["thumbs_up"] + totals["thumbs_down"]
        notes = {"answered": share(totals["answered"], questions), "fell_back": share(totals["fell_back"], questions),
                 "thumbs_up": share(totals["thumbs_up"], rated), "thumbs_down": share(totals["thumbs_down"], rated)}
        for key, tile in self.tiles.items():
            tile.show_count(totals[key], notes.get(key, ""))

    def shown(self) -> dict[str, int]:
        """The counts the tiles show (what the tests compare with the API's totals)."""
        return {key: int(tile.value.text().replace(",", "")) for key, tile in self.tiles.items()}


def top_questions_table(owner: QWidget) -> tuple[RecordsModel, QTableView]:
    model = RecordsModel([
        Column("question", "Question"),
        Column("count", "Asked", sort=lambda q: q["count"]),
        Column("answered_share", "Answered", show=lambda q: f"{round(100 * q['answered_share'])}%",
               sort=lambda q: q["answered_share"]),
        Column("last_asked", "Last asked", show=lambda q: when(q["last_asked"]), sort=lambda q: q["last_asked"]),
    ], parent=owner)
    table = records_table(model, name="topQuestionsTable", stretch=0, widths={1: 80, 2: 90, 3: 150},
                          sort=(1, Qt.SortOrder.DescendingOrder), owner=owner)
    return model, table


class FellBackQuestions(QObject):
    """The questions that fell back, most frequent first as the API ranks them, in `table`, with an "Answer it…"
    button on each row (a double click does the same); a question already answered in the panel says so and offers
    to change its answer."""

    ACTION_COLUMN = 3

    def __init__(self, on_answer: Callable[[dict], None], owner: QWidget) -> None:
        super().__init__(owner)
        self.model = RecordsModel([
            Column("question", "Question"),
            Column("count", "Fell back"),
            Column("last_asked", "Last asked", show=lambda q: when(q["last_asked"])),
            Column("action", "", show=lambda q: ""),
        ], parent=owner)
        self.table = records_table(self.model, name="fellBackTable", stretch=0, widths={1: 80, 2: 150, 3: 140})
        self.table.verticalHeader().setDefaultSectionSize(34)  # room for the buttons
        self._on_answer = on_answer
        self.buttons: list[QPushButton] = []
        self.answered: dict[str, str] = {}  # question (casefolded) -> the answer written in the panel
        self.may_answer = False
        self.why_not = ""
        self.table.doubleClicked.connect(lambda index: self.answer(index.row()))
        self.model.modelReset.connect(self._place_buttons)

    def show_questions(self, questions: list[dict]) -> None:
        self.model.set_records(questions)

    def set_answerable(self, may: bool, why_not: str = "") -> None:
        self.may_answer, self.why_not = may, why_not
        self._place_buttons()

    def set_answered(self, answered: dict[str, str]) -> None:
        self.answered = answered
        self._place_buttons()

    def written_answer(self, question: str) -> str:
        return self.answered.get(question.casefold(), "")

    def answer(self, row: int) -> None:
        """Answer the question of this row (what its button does)."""
        if self.may_answer and 0 <= row < self.model.rowCount():
            self._on_answer(self.model.record(row))

    def _place_buttons(self) -> None:
        self.buttons = []
        for row, record in enumerate(self.model.records()):
            written = bool(self.written_answer(record["question"]))
            button = QPushButton("Change answer…" if written else "Answer it…")
            button.setObjectName(f"answer_{row}")
            button.setEnabled(self.may_answer)
            button.setToolTip(self.why_not if not self.may_answer else
                              "Answered in the panel; change the answer the agents give." if written else
                              "Write the answer the agents should give to this question.")
            button.clicked.connect(lambda _=False, r=row: self.answer(r))
            self.table.setIndexWidget(self.model.index(row, self.ACTION_COLUMN), button)
            self.buttons.append(button)
