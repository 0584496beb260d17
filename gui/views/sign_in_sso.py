"""The sign-in dialog's single sign-on buttons: one per provider the appliance offers. A click opens the provider's
sign-in in the system browser; the appliance sends the browser back to the panel's loopback listener with a one-time
code, which the panel trades, with the verifier it kept, for its session."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from gui.client.api import ApiClient
from gui.client.errors import ApiError
from gui.client.loopback import LoopbackWaiter, pkce_pair


class SsoButtons(QWidget):
    """Hidden until the appliance names a provider; `signed_in(token)` once the browser sign-in went through."""

    def __init__(self, api: ApiClient, *, on_token: Callable[[str], None], on_error: Callable[[ApiError], None],
                 on_directory: Callable[[], None] = lambda: None, parent: QWidget | None = None) -> None:
        """`on_directory()` is called when a directory signs people in by their user name too."""
        super().__init__(parent)
        self.api = api
        self._on_token, self._on_error, self._on_directory = on_token, on_error, on_directory
        self.buttons: dict[str, QPushButton] = {}
        self.waiter: LoopbackWaiter | None = None
        self._verifier = ""
        self.opened_url = ""
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        self._row = QHBoxLayout()
        column.addLayout(self._row)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.hide()
        column.addWidget(self.status)
        self.or_password = QLabel("Or with your email and password:")
        self.or_password.setStyleSheet("color:#5f6b7a; margin-top:8px;")
        column.addWidget(self.or_password)
        self.hide()
        api.get("/api/v1/sso/buttons", on_done=self._offer, on_error=lambda _error: None)

    def _offer(self, answer: dict) -> None:
        if answer.get("directory_sign_in"):
            self.or_password.setText("Or with your email or user name and password:")
            self._on_directory()
        for provider in answer.get("providers", []):
            button = QPushButton(f"Sign in with {provider['name']}")
            button.setObjectName(f"sso_{provider['id']}")
            button.clicked.connect(lambda _checked=False, p=provider: self.start_action(p))
            self._row.addWidget(button)
            self.buttons[provider["id"]] = button
        self._row.addStretch(1)
        self.or_password.setVisible(bool(self.buttons))
        self.setVisible(bool(self.buttons))

    def start_action(self, provider: dict) -> None:
        self.close_waiter()
        self._verifier, challenge = pkce_pair()
        self.waiter = LoopbackWaiter(self)
        self.waiter.arrived.connect(self._code_arrived)
        self.opened_url = (f"{self.api.base_url}{provider['start']}?panel_port={self.waiter.port}"
                           f"&panel_challenge={challenge}")
        self.status.setText(f"Finish signing in with {provider['name']} in your browser; this window continues "
                            "by itself.")
        self.status.show()
        if not QDesktopServices.openUrl(QUrl(self.opened_url)):
            self.status.setText(f"No browser opened. Open this address in one to sign in: {self.opened_url}")

    def _code_arrived(self, code: str) -> None:
        self.status.setText("Signed in at the provider; opening your session…")
        self.api.post("/api/v1/sso/panel-token", {"code": code, "verifier": self._verifier},
                      on_done=lambda answer: self._on_token(answer["token"]), on_error=self._refused)

    def _refused(self, error: ApiError) -> None:
        self.status.hide()
        self._on_error(error)

    def close_waiter(self) -> None:
        if self.waiter is not None:
            self.waiter.close()
            self.waiter = None
