"""The API keys screen, end to end: a key made in the panel works as curl would use it, for its scopes only; a bad
allowed address is shown on its field; a rotated key's old and new secrets both work during the grace period; a
revoked key is refused; weaker roles and cancelled workspaces cannot change keys."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from gui.views.api_keys import REVOKED, ApiKeysPage
from gui.widgets.dialogs import SecretDialog
from tests.gui.driving import (
    PASSWORD,
    WAIT_MS,
    answer_confirmation,
    join,
    new_workspace,
    open_dialog,
    open_page,
    select_row,
    signed_in_window,
    text_of,
    unique,
)


def _workspace(served) -> str:
    return new_workspace(served, "Keys")["id"]


def _as_key(served, key: str, method: str, path: str, body=None) -> int:
    """One request with the key as an integrator sends it (Authorization: Bearer csk_...); its status."""
    return served.running.api(method, path, body, token=key)[0]


def _keys(served, workspace: str) -> list[dict]:
    status, body = served.api("GET", f"/api/v1/workspaces/{workspace}/api-keys")
    assert status == 200, body
    return body["api_keys"]


def _page(qtbot, window, workspace: str) -> ApiKeysPage:
    return open_page(qtbot, window, f"api_keys:{workspace}")


def _select(page: ApiKeysPage, name: str) -> None:
    select_row(page.table, lambda key: key["name"] == name)


def _row_of(page: ApiKeysPage, name: str) -> int:
    return next(n for n, k in enumerate(page.keys.records()) if k["name"] == name)


def _create(qtbot, page: ApiKeysPage, name: str, scopes: list[str], **fields) -> SecretDialog:
    page.new_key_action()
    dialog = page.create_dialog
    dialog.name.setText(name)
    for scope in scopes:
        dialog.scopes[scope].setChecked(True)
    dialog.addresses.setPlainText(fields.get("addresses", ""))
    dialog.expires.setText(fields.get("expires", ""))
    dialog.per_minute.setText(fields.get("per_minute", ""))
    dialog.submit.click()
    return open_dialog(qtbot, page, SecretDialog)


def test_a_key_made_in_the_panel_works_for_its_scope_and_is_refused_outside_it(qtbot, tmp_path, served):
    workspace = _workspace(served)
    window = signed_in_window(qtbot, tmp_path, served)
    page = _page(qtbot, window, workspace)
    assert page.empty.text() == "No API keys yet. Create one with New key…" and page.empty.isVisible()
    name = unique("Website")

    secret = _create(qtbot, page, name, ["agents:read"], expires="30", per_minute="60",
                     addresses="127.0.0.1\n::1")
    secret.copy_button.click()
    key = QGuiApplication.clipboard().text()

    assert key == secret.value.text() and key.startswith("csk_")
    assert "cannot be shown again" in text_of(secret)
    assert _as_key(served, key, "GET", f"/api/v1/workspaces/{workspace}/agents") == 200
    assert _as_key(served, key, "GET", f"/api/v1/workspaces/{workspace}/sources") == 403
    assert _as_key(served, key, "POST", f"/api/v1/workspaces/{workspace}/agents", {"name": "Nope"}) == 403
    [made] = _keys(served, workspace)
    assert (made["name"], made["scopes"], made["rate_limit_per_minute"]) == (name, ["agents:read"], 60)
    assert made["allowed_addresses"] == ["127.0.0.1/32", "::1/128"]
    qtbot.waitUntil(lambda: page.keys.rowCount() == 1, timeout=WAIT_MS)
    row = page.keys.records()[0]
    assert row["prefix"] in key and page.keys.data(page.keys.index(0, 7)) == "active"
    me = window.context.user
    assert page.keys.data(page.keys.index(0, 3)) == (me.get("display_name") or me["email"])
    assert not page.empty.isVisible()


def test_a_bad_allowed_address_is_shown_on_its_field_and_nothing_is_made(qtbot, tmp_path, served):
    workspace = _workspace(served)
    window = signed_in_window(qtbot, tmp_path, served)
    page = _page(qtbot, window, workspace)
    page.new_key_action()
    dialog = page.create_dialog
    dialog.name.setText(unique("Bad address"))
    dialog.scopes["chat"].setChecked(True)
    dialog.addresses.setPlainText("10.0.0.0/8\n10.0.0.300/24")

    dialog.submit.click()
    qtbot.waitUntil(lambda: bool(dialog.form.field_error("allowed_addresses")), timeout=WAIT_MS)

    assert "item 2 is not an IP address or network (CIDR)" in dialog.form.field_error("allowed_addresses")
    assert dialog.isVisible() and dialog.form.banner.isHidden()
    dialog.addresses.setPlainText("")
    dialog.scopes["chat"].setChecked(False)
    dialog.submit.click()
    qtbot.waitUntil(lambda: bool(dialog.form.field_error("scopes")), timeout=WAIT_MS)
    assert "at least 1 item" in dialog.form.field_error("scopes")
    assert not dialog.form.field_error("allowed_addresses")
    assert _keys(served, workspace) == []


def test_a_rotated_key_works_with_both_secrets_during_the_grace_period(qtbot, tmp_path, served):
    workspace = _workspace(served)
    name = unique("Rotating")
    status, body = served.api("POST", f"/api/v1/workspaces/{workspace}/api-keys",
                              {"name": name, "scopes": ["agents:read"]})
    assert status == 201, body
    old = body["key"]
    window = signed_in_window(qtbot, tmp_path, served)
    page = _page(qtbot, window, workspace)
    qtbot.waitUntil(lambda: page.keys.rowCount() == 1, timeout=WAIT_MS)
    _select(page, name)

    page.rotate_action()
    said = answer_confirmation(qtbot, page)
    secret = open_dialog(qtbot, page, SecretDialog)
    new = secret.value.text()

    assert "24 hours" in said and "old secret keeps working" in said
    [rotated] = _keys(served, workspace)
    assert new != old and "old secret works until" in text_of(secret)
    assert rotated["previous_valid_until"][:16].replace("T", " ") in text_of(secret)
    assert _as_key(served, old, "GET", f"/api/v1/workspaces/{workspace}/agents") == 200
    assert _as_key(served, new, "GET", f"/api/v1/workspaces/{workspace}/agents") == 200
    qtbot.waitUntil(lambda: page.keys.records()[0].get("rotated_at") is not None, timeout=WAIT_MS)
    assert page.keys.data(page.keys.index(0, 7)).startswith("rotating until\n")


def test_a_revoked_key_is_refused_and_its_row_marked(qtbot, tmp_path, served):
    workspace = _workspace(served)
    window = signed_in_window(qtbot, tmp_path, served)
    page = _page(qtbot, window, workspace)
    name = unique("Doomed")
    secret = _create(qtbot, page, name, ["chat", "agents:read"])
    key = secret.value.text()
    secret.accept()
    qtbot.waitUntil(lambda: page.keys.rowCount() == 1, timeout=WAIT_MS)
    _select(page, name)

    page.revoke_action()
    said = answer_confirmation(qtbot, page)
    qtbot.waitUntil(lambda: bool(page.keys.records()[0]["revoked_at"]), timeout=WAIT_MS)

    assert "refused" in said
    assert _as_key(served, key, "GET", f"/api/v1/workspaces/{workspace}/agents") == 401
    row = _row_of(page, name)
    assert page.keys.data(page.keys.index(row, 7)) == "revoked"
    assert page.keys.data(page.keys.index(row, 0), Qt.ItemDataRole.BackgroundRole).color().name() == REVOKED
    _select(page, name)
    assert not page.rotate_button.isEnabled() and not page.revoke_button.isEnabled()
    assert page.new_button.isEnabled()


def test_an_editor_has_no_api_keys_screen_and_is_told_why_by_role(qtbot, tmp_path, served):
    workspace = _workspace(served)
    email, _ = join(qtbot, served, workspace, "editor")
    window = signed_in_window(qtbot, tmp_path, served, email, PASSWORD)

    assert f"api_keys:{workspace}" not in window.destinations()
    assert f"team:{workspace}" in window.destinations()
    page = ApiKeysPage(window.context, workspace_id=workspace)  # as if reached by a stale navigation
    qtbot.addWidget(page)
    page.refresh_action()
    qtbot.waitUntil(lambda: not page.banner.isHidden(), timeout=WAIT_MS)
    assert page.banner.label.text().startswith("Your role, editor, cannot do this.")
    assert not page.new_button.isEnabled()


def test_a_cancelled_workspace_shows_its_keys_screen_read_only(qtbot, tmp_path, served):
    workspace = _workspace(served)
    assert served.api("POST", f"/api/v1/workspaces/{workspace}/cancel")[0] == 200
    window = signed_in_window(qtbot, tmp_path, served)
    page = _page(qtbot, window, workspace)

    assert page.read_only_notice.isVisible() and "cancelled and read-only" in page.read_only_notice.label.text()
    assert not page.new_button.isEnabled() and not page.banner.isVisible()
