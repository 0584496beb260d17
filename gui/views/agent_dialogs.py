"""Making an agent: its name and, if the admin has them at hand, its instructions and welcome message; the rest
starts at the appliance's defaults and is set in the agent's settings afterwards."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QLabel, QLineEdit, QPlainTextEdit

from gui.client.errors import ApiError
from gui.widgets.dialogs import DialogButtons, titled_layout
from gui.widgets.forms import FieldForm


class NewAgentDialog(QDialog):
    """`created` carries the agent as the API answered it."""

    created = Signal(dict)

    def __init__(self, page) -> None:
        super().__init__(page)
        self.page = page
        layout = titled_layout(self, "New agent", width=560)
        note = QLabel("An agent answers from this workspace's training data. It starts with the appliance's "
                      "defaults (medium answers, 45% confidence, leads asked for when it cannot answer); change "
                      "them, and the sites it may appear on, in its settings once it is made.")
        note.setWordWrap(True)
        layout.addWidget(note)
        self.form = FieldForm()
        self.name = self.form.add_field("name", "Name", QLineEdit(), hint="Shown at the top of the chat widget.")
        self.name.setMaxLength(100)
        self.name.setPlaceholderText("e.g. IT help desk")
        self.instructions = self.form.add_field("instructions", "Instructions", QPlainTextEdit(), hint=(
            "Optional: the agent's persona and rules, up to 4000 characters."))
        self.instructions.setFixedHeight(80)
        self.instructions.setTabChangesFocus(True)
        self.welcome = self.form.add_field("welcome_message", "Welcome message", QLineEdit(), hint=(
            "Optional: the first message a visitor sees."))
        self.welcome.setMaxLength(1000)
        self.welcome.setPlaceholderText("Hi! Ask me anything about …")
        layout.addWidget(self.form)
        buttons = DialogButtons(self, "Create agent", self.submit_action, name="createAgent")
        self.submit = buttons.action
        layout.addLayout(buttons)

    def request(self) -> dict:
        body = {"name": self.name.text().strip()}
        for name, value in (("instructions", self.instructions.toPlainText().strip()),
                            ("welcome_message", self.welcome.text().strip())):
            if value:
                body[name] = value
        return body

    def submit_action(self) -> None:
        self.form.clear_errors()
        body = self.request()
        if not body["name"]:
            self.form.show_error(ApiError(400, "invalid", "Give the agent a name (1 to 100 characters).")
                                 .on_field("name"))
            return
        self.submit.setEnabled(False)
        self.page.api.post(f"/api/v1/workspaces/{self.page.workspace_id}/agents", body,
                           on_done=self._created, on_error=self._refused)

    def _created(self, answer: dict) -> None:
        self.submit.setEnabled(True)
        self.accept()
        self.created.emit(answer["agent"])

    def _refused(self, error: ApiError) -> None:
        self.submit.setEnabled(True)
        if error.status == 400 and "'name'" in error.message:
            error = error.on_field("name")
        self.form.show_error(error, role=self.page.role)
