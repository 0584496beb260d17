"""Single sign-on from the panel as native apps do it: the sign-in dialog offers the appliance's provider, opens the
sign-in in the system browser (here, the browser's steps done by hand against a real OpenID Connect provider on
loopback and the real appliance), the browser brings a one-time code to the panel's loopback port, and the panel
trades it with its verifier for its session; the code cannot be used again, nor without the verifier."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.parse
import urllib.request
from http.cookies import SimpleCookie

import pytest
from PySide6.QtGui import QDesktopServices

from tests.gui.driving import WAIT_MS, new_panel, pin
from tests.oidc_provider import NoRedirect, running_provider, set_user
from tests.running import tls13_context


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    with running_provider(tmp_path_factory.mktemp("idp")) as issuer:
        yield issuer


def _provider(served, issuer: str) -> dict:
    status, made = served.api("POST", "/api/v1/sso/providers", {
        "name": "Corp SSO", "issuer": issuer, "client_id": "chatspark-panel", "client_secret": "s3cret",
        "allowed_domains": ["example.com"]})
    assert status == 201, made
    return made["provider"]


def _browser_signs_in(served, start_url: str, subject: str) -> str:
    """Follow the sign-in as the system browser would, up to the redirect to the panel: its loopback URL."""
    parts = urllib.parse.urlsplit(start_url)
    cookies: dict[str, str] = {}

    def get(path: str) -> http.client.HTTPResponse:
        conn = http.client.HTTPSConnection("localhost", served.running.port,
                                           context=tls13_context(served.running.ca_file), timeout=20)
        conn.request("GET", path, headers={"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())})
        response = conn.getresponse()
        response.read()
        for header in response.headers.get_all("Set-Cookie") or []:
            cookies.update({name: m.value for name, m in SimpleCookie(header).items()})
        conn.close()
        return response

    started = get(f"{parts.path}?{parts.query}")
    assert started.status == 303, started.status
    try:
        urllib.request.build_opener(NoRedirect).open(urllib.request.Request(
            started.headers["Location"], data=urllib.parse.urlencode({"sub": subject}).encode()))
        raise AssertionError("the provider did not send the browser back")
    except urllib.error.HTTPError as redirected:
        back = urllib.parse.urlsplit(redirected.headers["Location"])
    callback = get(f"{back.path}?{back.query}")
    assert callback.status == 303, callback.status
    return callback.headers["Location"]


def test_the_panel_signs_in_through_the_providers_page_in_the_browser(qtbot, tmp_path, served, idp, monkeypatch):
    provider = _provider(served, idp)
    set_user(idp, "erin@example.com", name="Erin")
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toString()) or True)
    panel = new_panel(tmp_path, served)
    qtbot.addWidget(panel.connect_dialog)
    pin(qtbot, panel)
    qtbot.waitUntil(lambda: panel.sign_in_dialog is not None and panel.sign_in_dialog.isVisible(), timeout=WAIT_MS)
    dialog = panel.sign_in_dialog
    qtbot.waitUntil(lambda: provider["id"] in dialog.sso.buttons, timeout=WAIT_MS)
    button = dialog.sso.buttons[provider["id"]]
    assert button.text() == "Sign in with Corp SSO" and not dialog.sso.isHidden()

    button.click()
    [url] = opened
    assert url.startswith(f"{served.url}/sso/{provider['id']}/start?panel_port=")
    assert "in your browser" in dialog.sso.status.text()
    loopback = _browser_signs_in(served, url, "erin@example.com")
    assert loopback.startswith(f"http://127.0.0.1:{dialog.sso.waiter.port}/callback?code=")
    with urllib.request.urlopen(loopback) as page:  # the browser lands on the panel's loopback listener
        assert b"You can close this tab" in page.read()

    qtbot.waitUntil(lambda: panel.window is not None, timeout=WAIT_MS)
    window = panel.window
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: bool(window.destinations()), timeout=WAIT_MS)
    assert window.context.me["user"]["email"] == "erin@example.com"
    window.panel = panel

    # The code went to this panel once: used again, or by someone without the verifier, it opens nothing.
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(loopback).query)["code"][0]
    status, refused = served.running.api("POST", "/api/v1/sso/panel-token",
                                         {"code": code, "verifier": "x" * 64})
    assert status == 401, refused
