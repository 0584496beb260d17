"""The base of every screen: a title, a message line for what went wrong, and a refresh that asks the API again."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from gui.client.errors import ApiError
from gui.client.owned import OwnedApi
from gui.context import PanelContext
from gui.widgets.banner import Banner


class Page(QWidget):
    """A screen of the panel. Subclasses build their widgets in `__init__` and load what they show in
    `refresh_action`, which the window calls when the page is opened, after a sign-in, and on Refresh."""

    title = ""
    # Asks the window to read /api/v1/me again and rebuild the navigation (a workspace was created, a role changed).
    reload_navigation = Signal()

    def __init__(self, context: PanelContext, parent: QWidget | None = None, *,
                 workspace_id: str | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self._owned_api: OwnedApi | None = None
        self.workspace_id = workspace_id
        self.setObjectName(type(self).__name__)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 18, 24, 18)
        outer.setSpacing(12)
        header = QHBoxLayout()
        self.heading = QLabel(self.title)
        self.heading.setObjectName("pageTitle")
        header.addWidget(self.heading)
        header.addStretch(1)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh_action)
        header.addWidget(self.refresh_button)
        outer.addLayout(header)
        self.banner = Banner(self)
        outer.addWidget(self.banner)
        self._keep_message = False  # the next refresh keeps what the banner says (the page asked for it)
        self._read_only_text = ""
        self.body = QVBoxLayout()
        self.body.setSpacing(12)
        outer.addLayout(self.body, 1)

    @property
    def api(self) -> OwnedApi:
        """The API client, for this page: answers that arrive after the page was deleted are dropped."""
        if self._owned_api is None or self._owned_api.client is not self.context.api:
            self._owned_api = OwnedApi(self.context.api, self)
        return self._owned_api

    def add_intro(self, text: str) -> None:
        """The paragraph under the title that says what the screen holds."""
        intro = QLabel(text)
        intro.setWordWrap(True)
        self.body.addWidget(intro)

    def refresh_action(self) -> None:
        """Ask the API for what the page shows."""

    def add_read_only_notice(self, text: str) -> Banner:
        """A warning in the page's body, shown while its workspace is cancelled: `text` says what still works."""
        self._read_only_text = text
        self.read_only_notice = Banner(self)
        self.body.addWidget(self.read_only_notice)
        return self.read_only_notice

    def update_read_only_notice(self) -> None:
        if self.read_only:
            self.read_only_notice.show_message(self._read_only_text, kind="warning")
        else:
            self.read_only_notice.hide()

    def clear_message_unless_kept(self) -> None:
        """At the start of a refresh: clear the banner, unless the page asked to keep it for this refresh."""
        if not self._keep_message:
            self.clear_message()
        self._keep_message = False

    def refresh_keeping_message(self) -> None:
        self._keep_message = True
        self.refresh_action()

    def reload_keeping_message(self) -> None:
        """Read /me again (the window then refreshes this page), keeping what the banner says."""
        self._keep_message = True
        self.reload_navigation.emit()

    @property
    def role(self) -> str | None:
        """The caller's role in this page's workspace (None on the appliance's pages)."""
        return self.context.role_in(self.workspace_id) if self.workspace_id else None

    @property
    def read_only(self) -> bool:
        """Whether this page's workspace is cancelled (everything in it is read-only)."""
        membership = self.context.membership(self.workspace_id) if self.workspace_id else None
        return bool(membership) and membership.get("status") == "cancelled"

    def show_error(self, error: ApiError, *, role: str | None = None) -> None:
        if error.status == 401:
            return  # the window asks for a sign-in and refreshes the page after it
        self.banner.show_message(error.explain(role=role or self.role), kind="error")

    def show_notice(self, text: str) -> None:
        self.banner.show_message(text, kind="info")

    def clear_message(self) -> None:
        self.banner.hide()
