"""Every screen of the panel opens against a real appliance without an error, and is rendered at 1280x800 into
var/panel-screenshots/ (`make screenshots` runs only this) for a person to look at."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtGui import QImage

from tests.gui.driving import WAIT_MS, signed_in_window

SHOTS = Path(os.environ.get("CHATSPARK_SCREENSHOTS", Path(__file__).resolve().parents[2] / "var" /
                            "panel-screenshots"))


def _distinct_colours(image: QImage) -> int:
    seen = set()
    for y in range(0, image.height(), 7):
        for x in range(0, image.width(), 7):
            seen.add(image.pixel(x, y))
    return len(seen)


def _furnish(served) -> str:
    """Something on every screen: a workspace with a member, an invitation and an API key, and a backup."""
    token = served.token()
    status, made = served.api("POST", "/api/v1/workspaces", {"name": "Northwind Intranet"}, token=token)
    assert status == 201, made
    workspace = made["workspace"]["id"]
    for email, role in (("dana@example.com", "editor"), ("li@example.com", "viewer")):
        status, body = served.api("POST", f"/api/v1/workspaces/{workspace}/invitations", {"email": email,
                                                                                         "role": role}, token=token)
        assert status == 201, body
    status, body = served.api("POST", f"/api/v1/workspaces/{workspace}/api-keys",
                              {"name": "Intranet search", "scopes": ["agents:read", "chat"]}, token=token)
    assert status == 201, body
    assert served.api("POST", "/api/v1/backups", token=token)[0] == 201
    return workspace


def test_every_screen_opens_without_an_error_and_is_rendered(qtbot, tmp_path, served):
    workspace = _furnish(served)
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
        image.save(str(SHOTS / f"{key.split(':')[0]}.png"))
        if page.banner.isVisible() and page.banner.kind == "error":
            failures[key] = page.banner.label.text()
        assert image.width() == 1280 and image.height() == 800
        assert _distinct_colours(image) > 8, f"{key} looks blank"
    assert failures == {}
