"""The panel's window: the navigation on the left (what the signed-in person may see), the open screen on the
right, a banner when the appliance cannot be reached, and the sign-in dialog over the screen when the session ends."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.client.errors import ApiError
from gui.context import PanelContext
from gui.navigation import Destination, sections
from gui.settings import KnownAppliance, PanelSettings
from gui.views.page import Page
from gui.views.sign_in import SignInDialog
from gui.widgets.banner import Banner

STYLE = """
QLabel#pageTitle { font-size: 20px; font-weight: 600; }
QLabel#dialogTitle { font-size: 16px; font-weight: 600; }
QTreeWidget#navigation { border: none; background: #f4f6f8; font-size: 13px; }
QTreeWidget#navigation::item { padding: 5px 4px; }
QTreeWidget#navigation::item:selected { background: #dbe7f3; color: #0b2a45; }
QTableView { gridline-color: #e3e7eb; }
QHeaderView::section { background: #f4f6f8; padding: 4px; border: none; border-bottom: 1px solid #dde2e7; }
"""


class MainWindow(QMainWindow):
    page_opened = Signal(str)
    signed_out = Signal()

    def __init__(self, context: PanelContext, settings: PanelSettings, appliance: KnownAppliance) -> None:
        super().__init__()
        self.context, self.settings, self.appliance = context, settings, appliance
        self.setWindowTitle(f"ChatSpark control panel: {context.api.base_url}")
        self.setStyleSheet(STYLE)
        self._pages: dict[str, Page] = {}
        self._current: str | None = None
        self._signing_in: SignInDialog | None = None
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        self.banner = Banner(central)
        outer.addWidget(self.banner)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 8)
        self.navigation = QTreeWidget()
        self.navigation.setObjectName("navigation")
        self.navigation.setHeaderHidden(True)
        self.navigation.itemSelectionChanged.connect(self._selected)
        left_layout.addWidget(self.navigation, 1)
        self.who = QLabel()
        self.who.setWordWrap(True)
        self.who.setStyleSheet("color:#5f6b7a;padding:0 10px;")
        left_layout.addWidget(self.who)
        sign_out = QHBoxLayout()
        sign_out.setContentsMargins(10, 0, 10, 0)
        self.sign_out_button = QPushButton("Sign out")
        self.sign_out_button.setObjectName("signOut")
        self.sign_out_button.clicked.connect(self.sign_out_action)
        sign_out.addWidget(self.sign_out_button)
        left_layout.addLayout(sign_out)
        splitter.addWidget(left)
        self.stack = QStackedWidget()
        splitter.addWidget(self.stack)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([250, 1030])
        outer.addWidget(splitter, 1)
        self.setCentralWidget(central)
        self.resize(1280, 800)
        geometry = settings.geometry()
        if geometry:
            self.restoreGeometry(geometry)
        api = context.api
        api.session_expired.connect(self._session_expired)
        api.unreachable.connect(self._unreachable)
        api.reachable.connect(self.banner.hide)
        api.pin_refused.connect(self._pin_refused)

    # --- what is shown -------------------------------------------------------------------------------------------

    def load_me(self, *, then_open: str | None = None) -> None:
        """Ask the API who is signed in and what they may see; rebuild the navigation from it."""
        self.context.api.get("/api/v1/me", on_done=lambda me: self._got_me(me, then_open), on_error=self._me_failed)

    def open(self, key: str) -> Page | None:
        """Open the destination `key` (as the navigation names it); returns its page."""
        item = self._items().get(key)
        if item is None:
            return None
        self.navigation.setCurrentItem(item)
        return self._pages.get(key)

    def current_page(self) -> Page | None:
        return self._pages.get(self._current) if self._current else None

    def destinations(self) -> list[str]:
        return list(self._items())

    def _got_me(self, me: dict, then_open: str | None) -> None:
        self.context.me = me
        user = me["user"]
        role = "appliance operator" if user.get("is_operator") else "member"
        self.who.setText(f"{user.get('display_name') or user['email']}\n{role}")
        wanted = then_open or self._current or ("overview" if self.context.is_operator else "workspaces")
        self.navigation.blockSignals(True)
        self.navigation.clear()
        for section in sections(self.context):
            header = QTreeWidgetItem([section.label])
            header.setToolTip(0, section.label)
            header.setFlags(Qt.ItemFlag.ItemIsEnabled)
            font = header.font(0)
            font.setBold(True)
            header.setFont(0, font)
            self.navigation.addTopLevelItem(header)
            for destination in section.destinations:
                item = QTreeWidgetItem([destination.label])
                item.setData(0, Qt.ItemDataRole.UserRole, destination)
                header.addChild(item)
        self.navigation.expandAll()
        self.navigation.blockSignals(False)
        for key in [k for k in self._pages if k not in self._items()]:
            self.stack.removeWidget(self._pages.pop(key))
        self._current = None
        self.open(wanted if wanted in self._items() else next(iter(self._items())))

    def _me_failed(self, error: ApiError) -> None:
        if error.status != 401:
            self.banner.show_message(error.explain(), kind="error", action="Retry", on_action=self.load_me)

    def _items(self) -> dict[str, QTreeWidgetItem]:
        found = {}
        for i in range(self.navigation.topLevelItemCount()):
            header = self.navigation.topLevelItem(i)
            for j in range(header.childCount()):
                item = header.child(j)
                found[item.data(0, Qt.ItemDataRole.UserRole).key] = item
        return found

    def _selected(self) -> None:
        items = self.navigation.selectedItems()
        destination = items[0].data(0, Qt.ItemDataRole.UserRole) if items else None
        if not isinstance(destination, Destination):
            return
        page = self._pages.get(destination.key)
        if page is None:
            kwargs = {"workspace_id": destination.workspace_id} if destination.workspace_id else {}
            page = destination.page_class()(self.context, **kwargs)
            page.reload_navigation.connect(self.load_me)
            self._pages[destination.key] = page
            self.stack.addWidget(page)
        self._current = destination.key
        self.stack.setCurrentWidget(page)
        page.refresh_action()
        self.page_opened.emit(destination.key)

    # --- sessions and the network --------------------------------------------------------------------------------

    def _session_expired(self) -> None:
        # Deferred: the call that found out may be one of several under way; one dialog is enough for all.
        QTimer.singleShot(0, self.sign_in_again)

    def sign_in_again(self) -> None:
        if self._signing_in is not None:
            return
        dialog = SignInDialog(self.context.api, email=self.context.user.get("email", self.appliance.last_email),
                              reason="Your session ended (it was idle too long, reached its limit, or was ended). "
                                     "Sign in again to go on where you were.", parent=self)
        self._signing_in = dialog
        dialog.finished.connect(self._signed_in_again)
        dialog.open()

    def _signed_in_again(self, result: int) -> None:
        self._signing_in = None
        if result:
            self.load_me(then_open=self._current)
        else:
            self.signed_out.emit()
            self.close()

    def sign_out_action(self) -> None:
        def done(_=None) -> None:
            self.context.api.set_token(None)
            self.signed_out.emit()
            self.close()

        self.context.api.post("/api/v1/auth/logout", on_done=done, on_error=done)

    def _unreachable(self, reason: str) -> None:
        self.banner.show_message(f"The appliance cannot be reached: {reason}. The panel keeps what it showed and "
                                 "tries again when you ask.", kind="warning", action="Retry",
                                 on_action=self._retry)

    def _retry(self) -> None:
        page = self.current_page()
        if page is not None:
            page.refresh_action()
        else:
            self.load_me()

    def _pin_refused(self, reason: str) -> None:
        self.banner.show_message(f"Refused: {reason}. The panel will not talk to this appliance while it presents a "
                                 "certificate the pinned CA did not issue.", kind="error")

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings.save_geometry(bytes(self.saveGeometry()))
        super().closeEvent(event)
