"""Handing an account with its own password to an LDAP / Active Directory directory: the directory's entry for the
account's address becomes its identity, its groups' roles apply, and the account's password is removed, so that the
directory's password is the only one from then on."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QDialog, QLabel

from gui.client.errors import ApiError
from gui.widgets.banner import Banner
from gui.widgets.dialogs import DialogButtons, titled_layout


class HandToDirectoryDialog(QDialog):
    """The directory to hand `user` to; `handed` carries the API's answer."""

    handed = Signal(dict)

    def __init__(self, page, user: dict, directories: list[dict]) -> None:
        super().__init__(page)
        self.api = page.api
        self.user = user
        layout = titled_layout(self, f"Hand {user['email']} to a directory", width=520)
        note = QLabel(f"The directory's entry for {user['email']} becomes this account's identity: from then on "
                      "the account signs in with its directory password (by address or directory user name), and its "
                      "own password here is removed. Its memberships stay; the directory's group roles apply too. "
                      "The appliance first checks that the directory holds exactly one entry with this address.")
        note.setWordWrap(True)
        layout.addWidget(note)
        self.banner = Banner(self)
        layout.addWidget(self.banner)
        self.directory = QComboBox()
        self.directory.setObjectName("directoryChoice")
        for provider in directories:
            self.directory.addItem(f"{provider['name']} ({provider['url']})", provider["id"])
        layout.addWidget(self.directory)
        buttons = DialogButtons(self, "Hand over", self.submit_action, name="handOver")
        self.submit = buttons.action
        layout.addLayout(buttons)

    def submit_action(self) -> None:
        self.banner.hide()
        self.submit.setEnabled(False)
        self.api.post(f"/api/v1/users/{self.user['id']}/directory", {"provider_id": self.directory.currentData()},
                      on_done=self._handed, on_error=self._refused)

    def _handed(self, answer: dict) -> None:
        self.submit.setEnabled(True)
        self.accept()
        self.handed.emit(answer)

    def _refused(self, error: ApiError) -> None:
        self.submit.setEnabled(True)
        self.banner.show_message(error.explain(role="operator"), kind="error")
