"""A question that fell back, answered in one step from the Playground ("Answer this…") or Analytics ("Answer it…"):
the answer becomes a Q&A pair of the workspace's one kind "qa" source for answers written in the panel (made the
first time, each later answer added by the appliance in one step), and the agents give it word for word once the
source is indexed again."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QLabel, QLineEdit, QPlainTextEdit

from gui.client.api import ApiClient
from gui.client.errors import ApiError
from gui.views.page import Page
from gui.views.source_qa import pairs_of
from gui.widgets.dialogs import DialogButtons, titled_layout
from gui.widgets.forms import FieldForm

PANEL_SOURCE = "Answers written in the panel"
MAX_ANSWER_CHARS = 4000


def panel_source(sources: list[dict]) -> dict | None:
    """The workspace's source for answers written in the panel: the oldest Q&A source with its title."""
    return next((s for s in sources if s["kind"] == "qa" and s["title"] == PANEL_SOURCE), None)


def load_written_answers(api: ApiClient, workspace_id: str, *, on_done: Callable[[dict[str, str]], None],
                         on_error: Callable[[ApiError], None]) -> None:
    """The answers written in the panel so far, by question (casefolded, single-spaced); {} before the first."""
    sources = f"/api/v1/workspaces/{workspace_id}/sources"

    def found(listed: list[dict]) -> None:
        source = panel_source(listed)
        if source is None:
            on_done({})
            return
        api.get(f"{sources}/{source['id']}/original", accept="application/octet-stream", on_error=on_error,
                on_done=lambda original: on_done({" ".join(q.split()).casefold(): a for q, a in pairs_of(original)}))

    api.get_all(sources, "sources", on_done=found, on_error=on_error)


class AnswerDialog(QDialog):
    """The question (prefilled, editable: visitors' wording may be tidied) and the answer the agents are to give;
    `saved(question, source)` once the pair is stored and the source's indexing has begun."""

    saved = Signal(str, dict)

    def __init__(self, page: Page, question: str, *, answer: str = "", who: str = "the agents") -> None:
        super().__init__(page)
        self.page = page
        self.who = who
        layout = titled_layout(self, "Answer this question", width=620)
        note = QLabel(f"Write the answer {who} should give: it is saved as a Q&A pair in the training source "
                      f"“{PANEL_SOURCE}”, and every agent of this workspace gives it, word for word, when the "
                      "question (or one worded much like it) is asked again.")
        note.setWordWrap(True)
        layout.addWidget(note)
        self.form = FieldForm()
        self.question = self.form.add_field("question", "Question", QLineEdit(question), hint=(
            "As visitors would ask it; you may tidy the wording."))
        self.question.setMaxLength(2000)
        self.answer = self.form.add_field("answer", "Answer", QPlainTextEdit(answer), hint=(
            "Shown to visitors exactly as written. Plain text."))
        self.answer.setPlaceholderText("The answer, in your own words")
        self.answer.setMinimumHeight(140)
        layout.addWidget(self.form)
        buttons = DialogButtons(self, "Save answer", self.submit_action, name="saveAnswer")
        self.submit = buttons.action
        layout.addLayout(buttons)
        self.answer.setFocus()

    @property
    def _sources(self) -> str:
        return f"/api/v1/workspaces/{self.page.workspace_id}/sources"

    def submit_action(self) -> None:
        self.form.clear_errors()
        question, answer = self.question.text().strip(), self.answer.toPlainText().strip()
        for name, value, missing in (("question", question, "Write the question."),
                                     ("answer", answer, f"Write the answer {self.who} should give.")):
            if not value:
                self.form.show_error(ApiError(0, "invalid", missing).on_field(name))
                return
        if len(answer) > MAX_ANSWER_CHARS:
            self.form.show_error(ApiError(0, "invalid", f"An answer is at most {MAX_ANSWER_CHARS} characters; "
                                                        f"this one has {len(answer)}.").on_field("answer"))
            return
        self.submit.setEnabled(False)
        # The source is looked up at each save (not remembered): another admin may have made or changed it since.
        self.page.api.get_all(self._sources, "sources", on_done=lambda found: self._found(found, question, answer),
                              on_error=self._refused)

    def _found(self, sources: list[dict], question: str, answer: str) -> None:
        source = panel_source(sources)
        if source is None:
            self.page.api.post(self._sources, {"kind": "qa", "title": PANEL_SOURCE,
                                               "pairs": [{"question": question, "answer": answer}]},
                               on_done=lambda made: self._saved(question, made), on_error=self._refused)
            return
        # One pair added (or a question answered anew) in one step on the appliance: two admins answering at
        # once both keep their answers.
        self.page.api.post(f"{self._sources}/{source['id']}/pairs", {"question": question, "answer": answer},
                           on_done=lambda changed: self._saved(question, changed), on_error=self._refused)

    def _saved(self, question: str, answer: dict) -> None:
        self.submit.setEnabled(True)
        self.accept()
        self.saved.emit(question, answer["source"])

    def _refused(self, error: ApiError) -> None:
        self.submit.setEnabled(True)
        self.form.show_error(error, role=self.page.role)
