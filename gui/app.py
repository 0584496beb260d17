"""The panel's one wiring point: settings, logging, the background pool, then connect (pin), sign in, and the
window, in that order. `chatspark panel` and `python -m gui` start it here."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication

from appliance.keys.pinning import PinnedClient
from gui.client.api import ApiClient
from gui.client.background import Background
from gui.client.collector import UiThreadCollector
from gui.context import PanelContext
from gui.main_window import MainWindow
from gui.settings import KnownAppliance, PanelSettings
from gui.views.connect import ConnectDialog
from gui.views.sign_in import SignInDialog

log = logging.getLogger(__name__)


class Panel(QObject):
    """The flow from nothing to a signed-in window, and back to the sign-in when the window closes on sign-out."""

    def __init__(self, settings: PanelSettings, background: Background, *, url: str = "",
                 fingerprint: str = "") -> None:
        super().__init__()
        self.settings, self.background = settings, background
        self.url, self.fingerprint = url, fingerprint
        self.connect_dialog: ConnectDialog | None = None
        self.sign_in_dialog: SignInDialog | None = None
        self.window: MainWindow | None = None
        self.api: ApiClient | None = None
        self.appliance: KnownAppliance | None = None

    def start(self) -> None:
        self.connect_dialog = ConnectDialog(self.settings, self.background, url=self.url, fingerprint=self.fingerprint)
        self.connect_dialog.accepted.connect(lambda: self.connected(self.connect_dialog.result_appliance))
        self.connect_dialog.show()

    def connected(self, appliance: KnownAppliance) -> None:
        self.appliance = appliance
        http = PinnedClient(appliance.url, ca_fingerprint=appliance.fingerprint,
                            ca_pem=appliance.ca_pem.encode("ascii"), timeout=30)
        self.api = ApiClient(http, background=self.background)
        self.sign_in()

    def sign_in(self) -> None:
        self.sign_in_dialog = SignInDialog(self.api, email=self.appliance.last_email)
        self.sign_in_dialog.accepted.connect(self.signed_in)
        self.sign_in_dialog.show()

    def signed_in(self) -> None:
        email = self.sign_in_dialog.email.text().strip()
        self.appliance = KnownAppliance(self.appliance.url, self.appliance.fingerprint, self.appliance.ca_pem, email)
        self.settings.remember(self.appliance)
        context = PanelContext(self.api, self.background)
        self.window = MainWindow(context, self.settings, self.appliance)
        self.window.signed_out.connect(self.sign_in)
        self.window.load_me()
        self.window.show()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chatspark panel", description="The ChatSpark control panel.")
    parser.add_argument("--url", default="", help="the appliance's address, e.g. https://chatspark.intranet:8443")
    parser.add_argument("--fingerprint", default="",
                        help="the CA fingerprint `chatspark status` prints: pinned without asking if it matches")
    parser.add_argument("--settings", type=Path, help="the panel's settings file (default: the user's config folder)")
    parser.add_argument("--smoke", action="store_true", help="start, show the first dialog, and exit 0 (for checks)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("ChatSpark")
    app.setApplicationName("ChatSpark control panel")
    settings = PanelSettings(args.settings) if args.settings else PanelSettings.default()
    collector = UiThreadCollector()
    background = Background()
    panel = Panel(settings, background, url=args.url, fingerprint=args.fingerprint)
    panel.start()
    if args.smoke:
        QTimer.singleShot(200, app.quit)
    code = app.exec()
    background.wait(10_000)
    collector.stop()
    return code
