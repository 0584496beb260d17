"""The Team screen's dialogs: an invitation (email and role), and the confirmation of a role change or a removal that
also asks what becomes of the member's API keys; with the roles they offer and how a refusal names the role."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QDialog, QHBoxLayout, QLabel, QLineEdit, QWidget

from gui.client.errors import ApiError
from gui.views.page import Page
from gui.widgets.dialogs import ConfirmDialog, DialogButtons, titled_layout
from gui.widgets.forms import FieldForm

# The roles a membership or an invitation may be given (the API's enum; ownership moves only by a transfer).
GRANTABLE = ("viewer", "editor", "admin")
NO_RELAY = ("This appliance has no mail relay: invitations are not mailed. Copy each link and pass it on "
            "yourself.")
ROLES_HELP = ("Viewers read and ask the agents; editors also change agents and sources and read conversations; "
              "admins also manage the team, API keys, retention and the audit trail.")
class KeysConfirmation(ConfirmDialog):
    """A confirmation that also asks what becomes of the member's API keys: revoked (the API's default) or handed
    to another member who may hold keys."""

    def __init__(self, parent: QWidget, title: str, text: str, action: str, *, heirs: list[dict]) -> None:
        super().__init__(parent, title, text, action, destructive=True)
        self.keys = QComboBox()
        self.keys.setObjectName("apiKeysGoTo")
        self.keys.addItem("Revoke them", None)
        for member in heirs:
            self.keys.addItem(f"Hand them to {member['display_name'] or member['email']} ({member['role']})",
                              member["user_id"])
        choice = QWidget()
        row = QHBoxLayout(choice)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Their API keys:"))
        row.addWidget(self.keys, 1)
        choice.setVisible(bool(heirs))  # with nobody to hand them to, revoking is the only way, and the text says so
        self.layout().insertWidget(2, choice)

    @property
    def heir(self) -> str | None:
        return self.keys.currentData()


class InviteDialog(QDialog):
    """Email and role; `sent` carries the API's answer, whose link the page shows (mailed too when the appliance has
    a relay)."""

    sent = Signal(dict)

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.page = page
        layout = titled_layout(self, "Invite someone", width=500, heading="Invite someone to this workspace")
        self.mail_note = QLabel(NO_RELAY if not page.context.mail_can_leave else
                                "The invitation is mailed to this address, and its link is shown to you as well.")
        self.mail_note.setObjectName("mailNote")
        self.mail_note.setWordWrap(True)
        if not page.context.mail_can_leave:
            self.mail_note.setStyleSheet("color:#663c00;font-weight:600;")
        layout.addWidget(self.mail_note)
        self.form = FieldForm()
        self.email = self.form.add_field("email", "Email", QLineEdit())
        self.email.setPlaceholderText("name@example.com")
        self.role = QComboBox()
        for role in GRANTABLE:
            self.role.addItem(role, role)
        self.form.add_field("role", "Role", self.role)
        layout.addWidget(self.form)
        roles = QLabel(ROLES_HELP)
        roles.setWordWrap(True)
        roles.setStyleSheet("color:#5f6b7a;")
        layout.addWidget(roles)
        buttons = DialogButtons(self, "Invite", self.submit_action, name="sendInvitation")
        self.submit = buttons.action
        layout.addLayout(buttons)

    def submit_action(self) -> None:
        self.submit.setEnabled(False)
        self.form.clear_errors()
        body = {"email": self.email.text().strip(), "role": self.role.currentData()}
        self.page.api.post(f"/api/v1/workspaces/{self.page.workspace_id}/invitations", body,
                           on_done=self._invited, on_error=self._refused)

    def _invited(self, answer: dict) -> None:
        self.submit.setEnabled(True)
        self.accept()
        self.sent.emit(answer)

    def _refused(self, error: ApiError) -> None:
        self.submit.setEnabled(True)
        self.form.show_error(error, role=self.page.role)
        if error.status == 403:
            self.page.reload_navigation.emit()
