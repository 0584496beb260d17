"""The Q&A editor: a table of question and answer pairs to add, change or remove, filled by hand or imported from a
CSV or Excel (.xlsx) file whose first two columns are the question and the answer; saved as a kind "qa" source (new,
or the edit of one)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import openpyxl
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableWidget,
    QTableWidgetItem,
)

from gui.client.errors import ApiError
from gui.views.page import Page
from gui.widgets.banner import Banner
from gui.widgets.buttons import action_button
from gui.widgets.dialogs import DialogButtons, titled_layout
from gui.widgets.forms import FieldForm

HEADINGS = {"question", "questions", "q", "answer", "answers", "a"}


class UnreadablePairs(ValueError):
    """A file that holds no pairs the editor can take, with what to do about it."""


def read_pairs(path: Path) -> list[tuple[str, str]]:
    """The (question, answer) pairs of a .csv or .xlsx file's first two columns, a heading row left out; read on a
    worker thread (a large workbook takes a while)."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            rows = [list(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]
        finally:
            workbook.close()
    elif suffix == ".csv":
        text = path.read_bytes().decode("utf-8-sig")
        try:
            dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        rows = list(csv.reader(io.StringIO(text), dialect))
    else:
        raise UnreadablePairs(f"{path.name} is not a .csv or .xlsx file")
    pairs = []
    for row in rows:
        cells = [" ".join(str(cell).split()) if cell is not None else "" for cell in row[:2]] + ["", ""]
        question, answer = cells[0], cells[1]
        if question or answer:
            pairs.append((question, answer))
    if pairs and {pairs[0][0].lower(), pairs[0][1].lower()} <= HEADINGS:
        pairs = pairs[1:]
    if not pairs:
        raise UnreadablePairs(f"{path.name} holds no questions: put them in its first column and the answers in the "
                           "second")
    return pairs


def pairs_of(original: bytes | None) -> list[tuple[str, str]]:
    """The pairs a Q&A source holds, from its original (the JSON list the appliance keeps)."""
    return [(question, answer) for question, answer in json.loads(original or b"[]")]


def import_dialog(parent) -> QFileDialog:
    dialog = QFileDialog(parent, "Import questions and answers")
    dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog)
    dialog.setNameFilter("Questions and answers (*.csv *.xlsx)")
    return dialog


class QaDialog(QDialog):
    """The pairs of a new Q&A source, or of `source` (its `pairs` given); `saved(source)` once the API took them."""

    saved = Signal(dict)

    def __init__(self, page: Page, *, source: dict | None = None, pairs: list[tuple[str, str]] = ()) -> None:
        super().__init__(page)
        self.page = page
        self.source = source
        self.file_dialog: QFileDialog | None = None
        layout = titled_layout(self, f"Edit {source['title']}" if source else "New Q&A pairs", width=820)
        note = QLabel("Each question is answered with its answer word for word when a visitor asks it (or something "
                      "close). Import a CSV or Excel file with the questions in its first column and the answers in "
                      "the second; a heading row is left out.")
        note.setWordWrap(True)
        layout.addWidget(note)
        self.form = FieldForm()
        self.title = self.form.add_field("title", "Title", QLineEdit(source["title"] if source else ""))
        self.title.setPlaceholderText("e.g. Shipping FAQ")
        layout.addWidget(self.form)
        self.table = QTableWidget(0, 2)
        self.table.setObjectName("pairsTable")
        self.table.setHorizontalHeaderLabels(["Question", "Answer"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setWordWrap(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setMinimumHeight(320)
        layout.addWidget(self.table, 1)
        rows = QHBoxLayout()
        action_button("Add row", self.add_row_action, name="addPair", row=rows)
        self.remove_button = action_button("Remove selected", self.remove_rows_action, name="removePairs", row=rows)
        self.import_button = action_button("Import CSV or Excel…", lambda: self.import_action(), name="importPairs",
                                           row=rows)
        rows.addStretch(1)
        self.count = QLabel()
        self.count.setStyleSheet("color:#5f6b7a;")
        rows.addWidget(self.count)
        layout.addLayout(rows)
        self.problem = Banner(self)
        layout.addWidget(self.problem)
        buttons = DialogButtons(self, "Save pairs", self.submit_action, name="savePairs")
        self.submit = buttons.action
        layout.addLayout(buttons)
        self.table.itemChanged.connect(self._count)
        self.table.itemSelectionChanged.connect(self._count)
        for question, answer in pairs:
            self.add_row_action(question, answer)
        if not pairs:
            self.add_row_action()
        self._count()

    def pairs(self) -> list[tuple[str, str]]:
        """Every row as (question, answer), blank rows left out."""
        found = []
        for row in range(self.table.rowCount()):
            question, answer = (self._cell(row, column) for column in (0, 1))
            if question or answer:
                found.append((question, answer))
        return found

    def add_row_action(self, question: str = "", answer: str = "") -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        self.table.setItem(row, 0, QTableWidgetItem(question))
        self.table.setItem(row, 1, QTableWidgetItem(answer))
        if not question and not answer and self.isVisible():
            self.table.setCurrentCell(row, 0)
            self.table.editItem(self.table.item(row, 0))

    def remove_rows_action(self) -> None:
        for row in sorted({index.row() for index in self.table.selectedIndexes()}, reverse=True):
            self.table.removeRow(row)
        self._count()

    def import_action(self, path: str | None = None) -> None:
        """Add the pairs of a CSV or Excel file after those already here (blank rows dropped); asks which file
        first when none is given."""
        if path is None:
            self.file_dialog = import_dialog(self)
            self.file_dialog.fileSelected.connect(self.import_action)
            self.file_dialog.open()
            return
        self.import_button.setEnabled(False)
        self.problem.hide()
        target = Path(path)
        self.page.context.background.run(lambda: read_pairs(target), on_done=self._imported,
                                         on_error=lambda exc: self._not_imported(target, exc))

    def _imported(self, pairs: list[tuple[str, str]]) -> None:
        self.import_button.setEnabled(True)
        kept = self.pairs()
        self.table.setRowCount(0)
        for question, answer in kept + pairs:
            self.add_row_action(question, answer)
        self.problem.show_message(f"Imported {len(pairs)} pair{'s' if len(pairs) != 1 else ''}. Check them, then "
                                  "save.", kind="info")
        self._count()

    def _not_imported(self, path: Path, exc: BaseException) -> None:
        self.import_button.setEnabled(True)
        reason = str(exc) if isinstance(exc, UnreadablePairs) else f"{path.name} could not be read: {exc}"
        self.problem.show_message(f"Nothing imported: {reason}.", kind="error")

    def submit_action(self) -> None:
        pairs = self.pairs()
        for number, (question, answer) in enumerate(pairs, start=1):
            if not question or not answer:
                missing = "answer" if question else "question"
                self.problem.show_message(f"Pair {number} has no {missing}: complete it or remove the row.",
                                          kind="error")
                return
        self.problem.hide()
        self.form.clear_errors()
        self.submit.setEnabled(False)
        body = {"title": self.title.text().strip(),
                "pairs": [{"question": question, "answer": answer} for question, answer in pairs]}
        workspace = f"/api/v1/workspaces/{self.page.workspace_id}"
        if self.source is None:
            self.page.api.post(f"{workspace}/sources", {"kind": "qa", **body}, on_done=self._saved,
                               on_error=self._refused)
        else:
            self.page.api.patch(f"{workspace}/sources/{self.source['id']}", body, on_done=self._saved,
                                on_error=self._refused)

    def _saved(self, answer: dict) -> None:
        self.submit.setEnabled(True)
        self.accept()
        self.saved.emit(answer["source"])

    def _refused(self, error: ApiError) -> None:
        self.submit.setEnabled(True)
        if error.status == 400 and error.field is None and "title" in error.message:
            error = error.on_field("title")
        if error.field == "title":
            self.form.show_error(error, role=self.page.role)
        else:
            self.problem.show_message(error.explain(role=self.page.role), kind="error")

    def _cell(self, row: int, column: int) -> str:
        item = self.table.item(row, column)
        return " ".join(item.text().split()) if item is not None else ""

    def _count(self, *_args) -> None:
        count = len(self.pairs())
        self.count.setText(f"{count} pair{'s' if count != 1 else ''}")
        self.remove_button.setEnabled(bool(self.table.selectedIndexes()))
