"""Retention & requests' exports, driven as an administrator would against a real appliance: a person's data and the
whole workspace are written to the chosen file and open with `chatspark export decrypt`, a weak passphrase is refused
with the reason and writes nothing, and an export keeps the window responsive and can be stopped (also while the
appliance is still packing it, before its first byte), leaving no file."""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import threading
import time

from appliance.keys import certificates
from appliance.keys.pinning import PinnedClient
from gui.client.api import ApiClient
from gui.client.background import Background
from tests.gui.driving import (
    WAIT_MS,
    idle,
    new_email,
    new_workspace,
    signed_in_window,
)
from tests.gui.retention_driving import (
    STRONG,
    decrypt,
    fill_export,
    new_agent,
    retention_page,
    visit,
)
from tests.gui.test_responsiveness import Ticks


def test_a_subject_export_is_written_to_the_chosen_file_and_opens(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Subject")["id"]
    agent = new_agent(served, workspace)
    subject = new_email("asker")
    visit(served, agent, "Can I get a demo?", email=subject)
    window = signed_in_window(qtbot, tmp_path, served)
    page = retention_page(qtbot, window, workspace)
    target = tmp_path / "asker.chatspark-export"

    dialog = fill_export(qtbot, page, target, STRONG, email=subject)
    dialog.export_button.click()
    qtbot.waitUntil(lambda: page.banner.label.text().startswith("The encrypted export was saved"), timeout=WAIT_MS)

    assert not dialog.isVisible() and not target.with_name(target.name + ".part").exists()
    opened = decrypt(tmp_path, target, STRONG)
    person = json.loads((opened / "subject.json").read_text())
    [mine] = [w for w in person["workspaces"] if w["id"] == workspace]
    assert [lead["email"] for lead in mine["leads"]] == [subject]


def test_a_workspace_export_keeps_the_window_responsive_and_opens_with_export_decrypt(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Exported")["id"]
    agent = new_agent(served, workspace)
    visit(served, agent, "How long is the warranty?", email=new_email("buyer"))
    window = signed_in_window(qtbot, tmp_path, served)
    page = retention_page(qtbot, window, workspace)
    target = tmp_path / "workspace.chatspark-export"

    dialog = fill_export(qtbot, page, target, STRONG)
    qtbot.waitUntil(lambda: dialog.verdict.text().startswith("Strong"), timeout=WAIT_MS)
    with Ticks() as ticks:
        dialog.export_button.click()
        qtbot.waitUntil(lambda: page.banner.label.text().startswith("The encrypted export was saved"),
                        timeout=WAIT_MS)

    assert ticks.longest_gap < 0.100
    opened = decrypt(tmp_path, target, STRONG)
    manifest = json.loads((opened / "manifest.json").read_text())
    assert manifest["workspace"]["id"] == workspace
    assert len(json.loads((opened / "leads/leads.json").read_text())) == 1


def test_a_weak_passphrase_is_refused_with_the_reason_and_nothing_is_written(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Weak")["id"]
    window = signed_in_window(qtbot, tmp_path, served)
    page = retention_page(qtbot, window, workspace)
    target = tmp_path / "weak.chatspark-export"

    dialog = fill_export(qtbot, page, target, "password1234")
    qtbot.waitUntil(lambda: dialog.verdict.text().startswith("Too easy to guess"), timeout=WAIT_MS)
    dialog.export_button.click()
    qtbot.waitUntil(lambda: bool(dialog.form.field_error("passphrase")), timeout=WAIT_MS)

    assert dialog.form.field_error("passphrase").startswith("The passphrase is on the list of common passwords")
    assert dialog.isVisible() and dialog.export_button.isEnabled()
    assert not target.exists() and not target.with_name(target.name + ".part").exists()


def test_an_export_can_be_stopped_and_leaves_no_file(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Stopped")["id"]
    window = signed_in_window(qtbot, tmp_path, served)
    page = retention_page(qtbot, window, workspace)
    target = tmp_path / "stopped.chatspark-export"
    dialog = fill_export(qtbot, page, target, STRONG)

    dialog.export_button.click()
    assert dialog.cancel_button.text() == "Stop"
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: dialog.status.text() == "Stopped: nothing was saved.", timeout=WAIT_MS)
    idle(qtbot, page.context)

    assert dialog.isVisible() and dialog.cancel_button.text() == "Cancel" and dialog.export_button.isEnabled()
    assert not target.exists() and not target.with_name(target.name + ".part").exists()
    assert page.banner.isHidden()


def test_stopping_an_export_the_appliance_has_not_answered_yet_ends_it_at_once(qtbot, tmp_path):
    """The long wait of an export is for the appliance to pack and encrypt it, before its first byte: Stop must cut
    that wait short too. A TLS server that reads the request and never answers plays such an appliance."""
    now = dt.datetime.now(dt.timezone.utc)
    ca = certificates.issue_ca(appliance_id="slow-appliance", now=now, names=["localhost"])
    server = certificates.issue_server(ca, names=["localhost"], now=now)
    (tmp_path / "server.crt").write_bytes(server.cert_pem)
    (tmp_path / "server.key").write_bytes(server.key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    listening = socket.create_server(("127.0.0.1", 0))
    asked, done = threading.Event(), threading.Event()

    def never_answer() -> None:
        with context.wrap_socket(listening.accept()[0], server_side=True) as conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            asked.set()
            done.wait(30)

    thread = threading.Thread(target=never_answer, daemon=True)
    thread.start()
    http = PinnedClient(f"https://localhost:{listening.getsockname()[1]}", ca_pem=ca.cert_pem,
                        ca_fingerprint=certificates.fingerprint(ca.certificate), timeout=30)
    api = ApiClient(http, background=Background())
    api.set_token("csk_session")
    target, errors = tmp_path / "slow.chatspark-export", []
    try:
        with Ticks() as ticks:
            transfer = api.download("POST", "/api/v1/workspaces/w/export", {"passphrase": STRONG}, target=target,
                                    on_done=errors.append, on_error=errors.append)
            qtbot.waitUntil(asked.is_set, timeout=WAIT_MS)
            stopped = time.monotonic()
            transfer.cut_off()
            qtbot.waitUntil(lambda: bool(errors), timeout=WAIT_MS)
            took = time.monotonic() - stopped
    finally:
        done.set()
        thread.join(10)
        listening.close()

    assert [e.code for e in errors] == ["cancelled"] and took < 2
    assert not target.exists() and not target.with_name(target.name + ".part").exists()
    assert ticks.longest_gap < 0.100
