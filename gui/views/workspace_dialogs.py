"""The Workspaces screen's dialogs: a new workspace with its owner, and the legal hold put on or lifted; with how a
hold reads, in the table and in its dialog."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QDialog, QLabel, QLineEdit

from gui.client.errors import ApiError
from gui.views.page import Page
from gui.widgets.dialogs import DialogButtons, titled_layout
from gui.widgets.formatting import day
from gui.widgets.forms import FieldForm

GREY = "#6b7580"
HOLD_EXPLAINED = ("A workspace on legal hold is never purged, not even after it is cancelled, and no one can delete "
                  "its conversations or leads until the hold is lifted.")


def _on_field(error: ApiError) -> ApiError:
    if error.field or error.status != 400:
        return error
    if error.message.startswith("a workspace name"):
        return error.on_field("name")
    if error.message.startswith("the owner"):
        return error.on_field("owner_email")
    return error


def describe_hold(workspace: dict) -> str:
    """What the caller may know of the hold: `hold` is None when the API shows it neither to their role nor to
    operators (an active workspace they are not a member of)."""
    hold = workspace.get("hold")
    if hold is None:
        return f"not shown to {workspace['role']}s" if workspace.get("role") else "not shown to your role"
    if not hold["on"]:
        return "off"
    if hold.get("reason"):
        return f"on: {hold['reason']}"
    return f"on since {day(hold['since'])}" if hold.get("since") else "on"


class NewWorkspaceDialog(QDialog):
    """Name and (optionally) owner of a new workspace; `created` carries the workspace the API made."""

    created = Signal(dict)

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.api = page.api
        layout = titled_layout(self, "New workspace", width=480)
        self.form = FieldForm()
        self.name = self.form.add_field("name", "Name", QLineEdit(), hint="1 to 100 characters, e.g. the customer's "
                                        "or team's name.")
        self.owner_email = self.form.add_field(
            "owner_email", "Owner's email", QLineEdit(),
            hint="Leave empty to own it yourself. Someone else must already have an account on this appliance.")
        layout.addWidget(self.form)
        buttons = DialogButtons(self, "Create workspace", self.submit_action)
        self.create_button = buttons.action
        layout.addLayout(buttons)

    def submit_action(self) -> None:
        body = {"name": self.name.text()}
        if self.owner_email.text().strip():
            body["owner_email"] = self.owner_email.text().strip()
        self.form.clear_errors()
        self.create_button.setEnabled(False)
        self.api.post("/api/v1/workspaces", body, on_done=self._created, on_error=self._refused)

    def _created(self, answer: dict) -> None:
        self.created.emit(answer["workspace"])
        self.accept()

    def _refused(self, error: ApiError) -> None:
        self.create_button.setEnabled(True)
        self.form.show_error(_on_field(error))


class LegalHoldDialog(QDialog):
    """Put a workspace on legal hold with a reason, or lift the hold; `saved` carries the hold afterwards (or None)."""

    saved = Signal(object)

    def __init__(self, page: Page, workspace: dict, path: str, *, role: str | None) -> None:
        super().__init__(page)
        self.api, self.path, self.role = page.api, path, role
        layout = titled_layout(self, f"Legal hold: {workspace['name']}", width=520)
        note = QLabel(HOLD_EXPLAINED)
        note.setWordWrap(True)
        layout.addWidget(note)
        hold = workspace.get("hold")
        now = QLabel("Now: " + (describe_hold(workspace) if hold is not None else "not shown to your role (the "
                                "appliance shows a hold to operators and to roles that may read retention settings)."))
        now.setWordWrap(True)
        now.setStyleSheet(f"color:{GREY};")
        layout.addWidget(now)
        self.form = FieldForm()
        self.on = self.form.add_field("on", "Legal hold", QCheckBox("Keep this workspace on legal hold"))
        self.reason = self.form.add_field("reason", "Reason", QLineEdit(),
                                          hint="For the audit log: a case or request number (at most 500 characters).")
        self.on.toggled.connect(self.reason.setEnabled)
        self.on.setChecked(bool(hold and hold["on"]))
        self.reason.setEnabled(self.on.isChecked())
        self.reason.setText((hold or {}).get("reason") or "")
        layout.addWidget(self.form)
        buttons = DialogButtons(self, "Save", self.submit_action)
        self.save_button = buttons.action
        layout.addLayout(buttons)

    def submit_action(self) -> None:
        on = self.on.isChecked()
        self.form.clear_errors()
        self.save_button.setEnabled(False)
        self.api.put(self.path, {"on": on, "reason": (self.reason.text().strip() or None) if on else None},
                     on_done=self._saved, on_error=self._refused)

    def _saved(self, answer: dict) -> None:
        self.saved.emit(answer["legal_hold"])
        self.accept()

    def _refused(self, error: ApiError) -> None:
        self.save_button.setEnabled(True)
        self.form.show_error(error, role=self.role)
