"""Driving the panel as an administrator would, for the tests: connect and pin, sign in, open a screen, wait for
what the appliance answers. Every wait polls the Qt event loop (qtbot.waitUntil), never sleeps."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from appliance.keys import certificates
from gui.app import Panel
from gui.client.background import Background
from gui.main_window import MainWindow
from gui.settings import PanelSettings
from tests.running import RunningAppliance, free_port
from tests.server.conftest import init_appliance

OPERATOR = ("operator@example.com", "quartz lantern meadow 93")
WAIT_MS = 20_000


@dataclass
class ServedAppliance:
    running: RunningAppliance
    relay: tuple

    @property
    def url(self) -> str:
        return f"https://localhost:{self.running.port}"

    @property
    def fingerprint(self) -> str:
        return certificates.fingerprint(certificates.load_certificate(self.running.ca_file.read_bytes()))

    def token(self, email: str = OPERATOR[0], password: str = OPERATOR[1]) -> str:
        status, body = self.running.api("POST", "/api/v1/auth/login", {"email": email, "password": password})
        assert status == 200, body
        return body["token"]

    def api(self, method: str, path: str, body=None, *, token: str | None = None):
        return self.running.api(method, path, body, token=token or self.token())

    def mails_to(self, address: str) -> list:
        server, _ = self.relay
        return [r.message for r in server.received if address in r.rcpt_tos]


def start_served(base: Path, relay, *, env: dict | None = None) -> ServedAppliance:
    server, ca_file = relay
    (base / "operator.txt").write_text(OPERATOR[1])
    data_dir, key_dir = init_appliance(base, "--operator-email", OPERATOR[0], "--password-file",
                                       str(base / "operator.txt"))
    running = RunningAppliance(data_dir, key_dir, free_port(), env={
        "CHATSPARK_SMTP_HOST": server.host, "CHATSPARK_SMTP_PORT": str(server.port),
        "CHATSPARK_SMTP_SECURITY": "starttls", "CHATSPARK_SMTP_CA_FILE": str(ca_file),
        "CHATSPARK_MAIL_FROM": "ChatSpark <chatspark@appliance.test>", "CHATSPARK_OUTBOX_INTERVAL_SECONDS": "1",
        "CHATSPARK_ARGON2_TIME_COST": "1", "CHATSPARK_ARGON2_MEMORY_KIB": "1024", "CHATSPARK_ARGON2_PARALLELISM": "1",
        "CHATSPARK_LOGIN_MAX_FAILURES_PER_ACCOUNT": "1000", "CHATSPARK_LOGIN_MAX_FAILURES_PER_ADDRESS": "1000",
        **(env or {})}).start()
    return ServedAppliance(running, relay)


def new_panel(tmp_path: Path, served: ServedAppliance) -> Panel:
    """A panel with its own settings file and the appliance's address filled in, its connect dialog open."""
    panel = Panel(PanelSettings(tmp_path / "panel.json"), Background(), url=served.url)
    panel.start()
    return panel


def pin(qtbot, panel: Panel, *, confirm: bool = True) -> None:
    """Connect and pin the CA the appliance shows, ticking "the fingerprints are the same"."""
    dialog = panel.connect_dialog
    dialog.connect_action()
    qtbot.waitUntil(lambda: dialog.pin_button.isVisible() or dialog.result_appliance is not None, timeout=WAIT_MS)
    if dialog.result_appliance is None and confirm:
        dialog.matches.setChecked(True)
        dialog.pin_action()
        qtbot.waitUntil(lambda: dialog.result_appliance is not None, timeout=WAIT_MS)


def sign_in(qtbot, panel: Panel, email: str = OPERATOR[0], password: str = OPERATOR[1], *,
            code: str = "") -> None:
    dialog = panel.sign_in_dialog
    qtbot.waitUntil(lambda: dialog is not None and dialog.isVisible(), timeout=WAIT_MS)
    dialog.email.setText(email)
    dialog.password.setText(password)
    if code:
        dialog.code.setText(code)
    dialog.submit_action()


def signed_in_window(qtbot, tmp_path: Path, served: ServedAppliance, email: str = OPERATOR[0],
                     password: str = OPERATOR[1]) -> MainWindow:
    """Connect, pin, sign in; the window once its navigation is built."""
    panel = new_panel(tmp_path, served)
    qtbot.addWidget(panel.connect_dialog)
    pin(qtbot, panel)
    sign_in(qtbot, panel, email, password)
    qtbot.waitUntil(lambda: panel.window is not None, timeout=WAIT_MS)
    window = panel.window
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: bool(window.destinations()), timeout=WAIT_MS)
    window.panel = panel  # keeps the flow alive as long as the window
    return window


def open_page(qtbot, window: MainWindow, key: str, *, ready=None):
    """Open `key` in the navigation and wait until `ready(page)` holds (default: a first answer arrived)."""
    page = window.open(key)
    assert page is not None, f"{key} is not in the navigation: {window.destinations()}"
    if ready is not None:
        qtbot.waitUntil(lambda: bool(ready(page)), timeout=WAIT_MS)
    return page


def link_in(message, path: str) -> str:
    match = re.search(re.escape(path) + r"\?token=([A-Za-z0-9_\-%]+)", message.get_content())
    assert match, message.get_content()
    return match.group(1)


def idle(qtbot, context) -> None:
    """Wait until every call the panel made has been answered (and its callback has run)."""
    qtbot.waitUntil(lambda: context.background.pending == 0, timeout=WAIT_MS)


def open_dialog(qtbot, parent, kind):
    """The visible dialog of class `kind` opened over `parent` (a ConfirmDialog, a SecretDialog, a form)."""
    found = []

    def shown() -> bool:
        found[:] = [d for d in parent.findChildren(kind) if d.isVisible()]
        return bool(found)

    qtbot.waitUntil(shown, timeout=WAIT_MS)
    return found[-1]


def answer_confirmation(qtbot, parent, *, accept: bool = True) -> str:
    """Click the action (or Cancel) of the confirmation open over `parent`; returns what it said."""
    from gui.widgets.dialogs import ConfirmDialog

    dialog = open_dialog(qtbot, parent, ConfirmDialog)
    text = dialog.text.text()
    (dialog.action_button if accept else dialog.cancel_button).click()
    return text
