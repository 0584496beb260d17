"""What the Retention & requests tests share: widget visitors, each at a loopback address of its own (so no
per-address limit is reached by the tests together), the page opened, and an export dialog filled in, its file
chosen, and the file written opened with `chatspark export decrypt`."""

from __future__ import annotations

import http.client
import itertools
import json
from pathlib import Path

from gui.views.retention import RetentionPage
from gui.views.retention_export import ExportDialog
from tests.gui.driving import (
    open_dialog,
    open_page,
    save_to,
    unique,
)
from tests.running import chatspark, tls13_context

ORIGIN = "https://shop.example"
STRONG = "marble orchard kettle 47 violet"
_addresses = itertools.count(2)


def new_agent(served, workspace: str) -> dict:
    status, body = served.api("POST", f"/api/v1/workspaces/{workspace}/agents", {
        "name": unique("Helper"), "allowed_origins": [ORIGIN],
        "lead_fields": [{"name": "email", "label": "Email", "required": True}]})
    assert status == 201, body
    return body["agent"]


def widget(served, agent: dict, path: str, body: dict, *, token: str | None, source: str):
    """One widget call from a visitor at the loopback address `source` (each visit its own, so no per-address limit
    of the widget is reached by the module's tests together)."""
    conn = http.client.HTTPSConnection("localhost", served.running.port, timeout=15, source_address=(source, 0),
                                       context=tls13_context(served.running.ca_file))
    headers = {"Origin": ORIGIN, "Content-Type": "application/json",
               **({"Authorization": f"Bearer {token}"} if token else {})}
    try:
        conn.request("POST", f"/widget/v1/agents/{agent['public_id']}{path}", body=json.dumps(body), headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def visit(served, agent: dict, question: str, *, email: str | None = None) -> str:
    """A widget visitor's conversation (one question) and, with `email`, the lead they left; its id."""
    n = next(_addresses)
    source = f"127.0.{n // 250}.{n % 250 + 2}"
    status, session = widget(served, agent, "/session", {}, token=None, source=source)
    assert status == 200, session
    status, asked = widget(served, agent, "/messages", {"text": question}, token=session["token"], source=source)
    assert status == 200, asked
    if email:
        status, lead = widget(served, agent, "/leads", {
            "fields": {"email": email}, "consent": True,
            "consent_version": session["agent"]["lead_form"]["consent_version"]}, token=session["token"],
            source=source)
        assert status == 201, lead
    return session["conversation"]["id"]


def retention_page(qtbot, window, workspace: str) -> RetentionPage:
    return open_page(qtbot, window, f"retention:{workspace}", ready=lambda page: page.retention is not None)


def choose_file(qtbot, dialog, target: Path) -> None:
    dialog.choose_action()
    save_to(qtbot, dialog.file_dialog, target)


def fill_export(qtbot, page: RetentionPage, target: Path, passphrase: str, *, email: str | None = None):
    (page.subject_export_action if email else page.workspace_export_action)()
    dialog = open_dialog(qtbot, page, ExportDialog)
    if email:
        dialog.email.setText(email)
    dialog.passphrase.setText(passphrase)
    dialog.repeat.setText(passphrase)
    choose_file(qtbot, dialog, target)
    assert dialog.target.text() == str(target)
    return dialog


def decrypt(tmp_path: Path, export: Path, passphrase: str) -> Path:
    (tmp_path / "passphrase.txt").write_text(passphrase)
    out = tmp_path / f"{export.stem}-opened"
    opened = chatspark("export", "decrypt", str(export), "--out", str(out), "--passphrase-file",
                       str(tmp_path / "passphrase.txt"))
    assert opened.returncode == 0, opened.stderr
    return out
