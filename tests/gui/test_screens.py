"""Every screen of the panel opens against a real appliance without an error, and is rendered at 1280x800 into
var/panel-screenshots/ (`make screenshots` runs only this) for a person to look at."""

from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtGui import QImage

from gui.views.sso_group_roles import GroupRolesDialog
from gui.views.sso_provider_dialogs import ProviderDialog
from server.cli.demo import SUGGESTED, demo_content_dir
from tests.gui.driving import WAIT_MS, open_dialog, select_row, signed_in_window

SHOTS = Path(os.environ.get("CHATSPARK_SCREENSHOTS", Path(__file__).resolve().parents[2] / "var" /
                            "panel-screenshots"))


def _distinct_colours(image: QImage) -> int:
    seen = set()
    for y in range(0, image.height(), 7):
        for x in range(0, image.width(), 7):
            seen.add(image.pixel(x, y))
    return len(seen)


SITE = "https://intranet.northwind.test"
DEMO_CONTENT = demo_content_dir()


def _furnish(served) -> tuple[str, str]:
    """Something on every screen: a workspace with the demo's agent and handbook, Q&A pairs, conversations through
    the ask route and the widget (a lead, a rating, a fallback), a retention policy, a member, an invitation and an
    API key, and a backup; beside it an empty workspace for each screen's empty state."""
    token = served.token()

    def call(method: str, path: str, body=None, status: int = 200) -> dict:
        got, answer = served.api(method, path, body, token=token)
        assert got == status, answer
        return answer

    workspace = call("POST", "/api/v1/workspaces", {"name": "Northwind Intranet"}, 201)["workspace"]["id"]
    empty = call("POST", "/api/v1/workspaces", {"name": "New workspace"}, 201)["workspace"]["id"]
    base = f"/api/v1/workspaces/{workspace}"
    for email, role in (("dana@example.com", "editor"), ("li@example.com", "viewer")):
        call("POST", f"{base}/invitations", {"email": email, "role": role}, 201)
    call("POST", f"{base}/api-keys", {"name": "Intranet search", "scopes": ["agents:read", "chat"]}, 201)
    handbook = (DEMO_CONTENT / "northwind-handbook.md").read_text(encoding="utf-8")
    sources = [call("POST", f"{base}/sources", {"kind": "text", "title": "Northwind handbook", "text": handbook},
                    202)["source"],
               call("POST", f"{base}/sources", {"kind": "qa", "title": "Front desk FAQ", "pairs": [
                   {"question": "Is there a canteen?", "answer": "Yes, on the ground floor, open 8:00 to 15:00."},
                   {"question": "Can I bring a guest?", "answer": "Yes: register them at the front desk first."}]},
                    202)["source"]]
    agent = call("POST", f"{base}/agents", {
        "name": "Northwind helper", "welcome_message": "Hi! Ask me about working at Northwind.",
        "suggested_questions": SUGGESTED, "color": "#14324a", "allowed_origins": [SITE],
        "lead_capture": "on_fallback",
        "lead_fields": [{"name": "name", "label": "Name", "required": True},
                        {"name": "email", "label": "Work email", "required": True}]}, 201)["agent"]
    deadline = time.monotonic() + 60
    while any(call("GET", f"{base}/sources/{s['id']}")["source"]["status"] != "ready" for s in sources):
        assert time.monotonic() < deadline, "the demo sources were not indexed in time"
        time.sleep(0.2)
    for question in ("How many days of leave do I get?", "Is there a canteen?", "Do you sell gift cards?"):
        call("POST", f"{base}/agents/{agent['id']}/ask", {"question": question})
    widget, origin = f"/widget/v1/agents/{agent['public_id']}", {"Origin": SITE}
    status, session = served.running.api("POST", f"{widget}/session", {"page_url": f"{SITE}/help"}, headers=origin)
    assert status == 200, session
    visitor = {**origin, "Authorization": f"Bearer {session['token']}"}
    for question in ("Where do visitors park?", "Can I order a parking permit for a van?"):
        status, said = served.running.api("POST", f"{widget}/messages", {"text": question}, headers=visitor)
        assert status == 200, said
    status, rated = served.running.api("POST", f"{widget}/messages/{said['reply']['id']}/feedback",
                                       {"rating": "down"}, headers=visitor)
    assert status == 200, rated
    status, left = served.running.api("POST", f"{widget}/leads", {
        "fields": {"name": "Jane Doe", "email": "jane@example.com"}, "consent": True,
        "consent_version": session["agent"]["lead_form"]["consent_version"]}, headers=visitor)
    assert status == 201, left
    call("PUT", f"{base}/retention", {"policy": {"conversations_days": 90, "leads_days": 365}})
    call("POST", "/api/v1/backups", None, 201)
    call("POST", "/api/v1/sso/providers", {"name": "Northwind Login", "issuer": "https://login.northwind.test",
                                           "client_id": "chatspark", "client_secret": "from-the-idp",
                                           "allowed_domains": ["northwind.test"]}, 201)
    directory = call("POST", "/api/v1/sso/providers", {
        "kind": "ldap", "name": "Northwind AD", "url": "ldaps://dc1.northwind.test", "bind_dn":
        "cn=chatspark,ou=services,dc=northwind,dc=test", "bind_password": "service-secret",
        "user_base": "ou=staff,dc=northwind,dc=test", "user_filter": "(sAMAccountName={login})",
        "group_base": "ou=groups,dc=northwind,dc=test", "allowed_domains": ["northwind.test"]}, 201)["provider"]
    call("PUT", f"/api/v1/sso/providers/{directory['id']}/group-roles", {"group_roles": [
        {"group": "intranet-editors", "workspace_id": workspace, "role": "editor"},
        {"group": "staff", "workspace_id": workspace, "role": "viewer"}]})
    return workspace, empty


def test_every_screen_opens_without_an_error_and_is_rendered(qtbot, tmp_path, served):
    workspace, empty = _furnish(served)
    window = signed_in_window(qtbot, tmp_path, served)
    assert {f"team:{workspace}", f"api_keys:{workspace}", f"workspace_audit:{workspace}"} <= set(
        window.destinations())
    window.resize(1280, 800)
    window.show()
    SHOTS.mkdir(parents=True, exist_ok=True)
    failures = {}
    for key in window.destinations():
        page = window.open(key)
        qtbot.waitUntil(lambda: window.context.background.pending == 0, timeout=WAIT_MS)
        qtbot.wait(50)  # let the answers lay themselves out
        image = window.grab().toImage()
        name, _, of = key.partition(":")
        image.save(str(SHOTS / f"{name}{'-empty' if of == empty else ''}.png"))
        if page.banner.isVisible() and page.banner.kind == "error":
            failures[key] = page.banner.label.text()
        assert image.width() == 1280 and image.height() == 800
        assert _distinct_colours(image) > 8, f"{key} looks blank"
    assert failures == {}
    _sign_in_provider_dialogs(qtbot, window)


def _sign_in_provider_dialogs(qtbot, window) -> None:
    """The directory's settings and its group roles, as an operator edits them."""
    page = window.open("sign_in_providers")
    qtbot.waitUntil(lambda: window.context.background.pending == 0, timeout=WAIT_MS)  # opening it reloads it
    select_row(page.table, lambda p: p["name"] == "Northwind AD")
    qtbot.waitUntil(lambda: page.detail is not None, timeout=WAIT_MS)
    for button, kind, name in ((page.edit_button, ProviderDialog, "directory-settings"),
                               (page.roles_button, GroupRolesDialog, "group-roles")):
        button.click()
        dialog = open_dialog(qtbot, page, kind)
        qtbot.wait(50)
        dialog.grab().toImage().save(str(SHOTS / f"sign_in_providers-{name}.png"))
        dialog.reject()
