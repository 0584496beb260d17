"""Driving the panel as an administrator would, for the tests: connect and pin, sign in, open a screen, click a row,
answer a dialog, wait for what the appliance answers; and what the tests make through the API first (operators,
workspaces, members). Every wait polls the Qt event loop (qtbot.waitUntil), never sleeps."""

from __future__ import annotations

import itertools
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from PySide6.QtCore import QSortFilterProxyModel
from PySide6.QtWidgets import QFileDialog, QLabel

from appliance.keys import certificates
from gui.app import Panel
from gui.client.background import Background
from gui.main_window import MainWindow
from gui.settings import PanelSettings
from tests.running import RunningAppliance, free_port
from tests.server.conftest import init_appliance

OPERATOR = ("operator@example.com", "quartz lantern meadow 93")
PASSWORD = "copper harbour violin 58"  # of every account the tests make (the first operator's is OPERATOR[1])
WAIT_MS = 20_000
_numbers = itertools.count(1)


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
    """Open `key` in the navigation, wait until `ready(page)` holds (when given), then until every call the page made
    has been answered."""
    page = window.open(key)
    assert page is not None, f"{key} is not in the navigation: {window.destinations()}"
    if ready is not None:
        qtbot.waitUntil(lambda: bool(ready(page)), timeout=WAIT_MS)
    idle(qtbot, window.context)
    return page


def select_row(table, matches) -> None:
    """Click the row whose record `matches`, where the table shows it (sorted or not)."""
    shown = table.model()
    proxy = shown if isinstance(shown, QSortFilterProxyModel) else None
    model = proxy.sourceModel() if proxy is not None else shown
    for row in range(shown.rowCount()):
        index = shown.index(row, 0)
        if matches(model.record((proxy.mapToSource(index) if proxy is not None else index).row())):
            table.selectRow(row)
            return
    raise AssertionError(f"no such row in {table.objectName()}: {model.records()}")


def text_of(widget) -> str:
    """All that the labels of a dialog (or any widget) say."""
    return " ".join(label.text() for label in widget.findChildren(QLabel))


def token_of(link: str) -> str:
    """The token of a link the appliance made (an invitation's accept_url)."""
    return parse_qs(urlparse(link).query)["token"][0]


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


def save_to(qtbot, chooser, target: Path) -> None:
    """Choose `target` in the panel's save dialog `chooser` (the panel's own, never the desktop's) and accept."""
    qtbot.waitUntil(chooser.isVisible, timeout=WAIT_MS)
    assert chooser.testOption(QFileDialog.Option.DontUseNativeDialog)
    chooser.selectFile(str(target))
    chooser.accept()


# --- made through the API ----------------------------------------------------------------------------------------

def unique(what: str) -> str:
    """`what` with a number and a few random letters: the appliance is shared by a module's tests."""
    return f"{what}-{next(_numbers)}-{uuid.uuid4().hex[:6]}"


def new_email(what: str) -> str:
    return f"{unique(what)}@example.com"


def new_operator(served: ServedAppliance, **fields) -> dict:
    """Another operator, with PASSWORD; the user as the API gives it."""
    status, body = served.api("POST", "/api/v1/users", {"email": new_email("op"), "password": PASSWORD, **fields})
    assert status == 201, body
    return body["user"]


def new_workspace(served: ServedAppliance, what: str = "Workspace", *, owner_email: str | None = None) -> dict:
    """A workspace named after `what` (owned by the operator unless `owner_email` says otherwise), as the API gives
    it."""
    body = {"name": unique(what), **({"owner_email": owner_email} if owner_email else {})}
    status, answer = served.api("POST", "/api/v1/workspaces", body)
    assert status == 201, answer
    return answer["workspace"]


def join(qtbot, served: ServedAppliance, workspace_id: str, role: str) -> tuple[str, str]:
    """A new account, with PASSWORD, that joined the workspace as `role` through an invitation and confirmed its
    address: its email and user id."""
    email = new_email(role)
    status, invited = served.api("POST", f"/api/v1/workspaces/{workspace_id}/invitations",
                                 {"email": email, "role": role})
    assert status == 201, invited
    status, accepted = served.running.api("POST", "/api/v1/invitations/accept", {
        "token": token_of(invited["accept_url"]), "password": PASSWORD})
    assert status == 200, accepted
    mailed = []

    def verification_mailed() -> bool:
        mailed[:] = [m for m in served.mails_to(email) if "/account/verify" in m.get_content()]
        return bool(mailed)

    qtbot.waitUntil(verification_mailed, timeout=WAIT_MS)
    status, body = served.running.api("POST", "/api/v1/auth/verify-email",
                                      {"token": link_in(mailed[0], "/account/verify")})
    assert status == 200, body
    return email, accepted["user_id"]
