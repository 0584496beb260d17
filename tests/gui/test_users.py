"""The Users screen, as an operator uses it: creating an operator whose generated password is shown once and works,
field errors on their field, disabling an account (it cannot sign in, its token stops working) and enabling it, ending
one or all of an account's sessions, and the refusal to disable one's own account."""

from __future__ import annotations

from gui.widgets.dialogs import SecretDialog
from tests.gui.driving import (
    OPERATOR,
    PASSWORD,
    WAIT_MS,
    answer_confirmation,
    idle,
    new_email,
    new_operator,
    open_dialog,
    open_page,
    select_row,
    signed_in_window,
    text_of,
)


def _login(served, email: str, password: str = PASSWORD) -> int:
    status, _ = served.running.api("POST", "/api/v1/auth/login", {"email": email, "password": password})
    return status


def _me(served, token: str) -> int:
    return served.running.api("GET", "/api/v1/me", token=token)[0]


def _users_page(qtbot, window, user_id: str | None = None):
    """The Users page, with the account's row selected and its sessions shown when `user_id` is given."""
    page = open_page(qtbot, window, "users")
    if user_id is not None:
        assert page.select(user_id)
        idle(qtbot, window.context)
    return page


def _status_shown(page, user_id: str) -> str:
    model = page.users
    row = next(i for i, u in enumerate(model.records()) if u["id"] == user_id)
    column = next(n for n, c in enumerate(model.columns) if c.title == "Status")
    return model.data(model.index(row, column))


def test_a_new_operator_gets_a_generated_password_shown_once_which_signs_them_in(qtbot, tmp_path, served):
    window = signed_in_window(qtbot, tmp_path, served)
    page = _users_page(qtbot, window)
    email = new_email("new-op")

    page.new_operator_action()
    dialog = page.create_dialog
    dialog.email.setText(email)
    dialog.display_name.setText("Nora Operator")
    dialog.generate.setChecked(True)
    assert not dialog.password.isEnabled()
    dialog.create_button.click()
    secret = open_dialog(qtbot, page, SecretDialog)

    explanation = text_of(secret)
    assert "only this once" in explanation and "securely" in explanation and "change it" in explanation
    assert _login(served, email, secret.secret) == 200
    secret.accept()
    idle(qtbot, window.context)
    [user] = [u for u in page.users.records() if u["email"] == email]
    assert user["is_operator"] and user["display_name"] == "Nora Operator"


def test_a_weak_password_or_a_wrong_address_is_shown_under_its_field(qtbot, tmp_path, served):
    window = signed_in_window(qtbot, tmp_path, served)
    page = _users_page(qtbot, window)
    page.new_operator_action()
    dialog = page.create_dialog
    taken = window.context.user["email"]

    for email, password, field, words in (("not an address", PASSWORD, "email", "not an email address"),
                                          (new_email("weak"), "short", "password", "too short"),
                                          (taken, PASSWORD, "email", "already exists")):
        dialog.email.setText(email)
        dialog.password.setText(password)
        dialog.create_button.click()
        qtbot.waitUntil(lambda f=field: bool(dialog.form.field_error(f)), timeout=WAIT_MS)
        assert words in dialog.form.field_error(field)
        assert dialog.isVisible() and dialog.form.banner.isHidden()
    dialog.reject()


def test_a_disabled_account_cannot_sign_in_and_its_token_stops_working_until_it_is_enabled(qtbot, tmp_path,
                                                                                          served):
    user = new_operator(served)
    token = served.token(user["email"], PASSWORD)
    window = signed_in_window(qtbot, tmp_path, served)
    page = _users_page(qtbot, window, user["id"])
    assert page.disable_button.isEnabled() and not page.enable_button.isEnabled()

    page.disable_action()
    asked = answer_confirmation(qtbot, page)
    assert "session of theirs ends" in asked and "API keys" in asked and "revokes them" in asked
    qtbot.waitUntil(lambda: "is disabled" in page.banner.label.text(), timeout=WAIT_MS)
    idle(qtbot, window.context)

    assert _login(served, user["email"]) != 200 and _me(served, token) == 401
    assert _status_shown(page, user["id"]) == "disabled"
    assert page.select(user["id"]) and page.enable_button.isEnabled() and not page.disable_button.isEnabled()

    page.enable_action()
    qtbot.waitUntil(lambda: "can sign in again" in page.banner.label.text(), timeout=WAIT_MS)
    idle(qtbot, window.context)
    assert _login(served, user["email"]) == 200 and _status_shown(page, user["id"]) == "active"


def test_ending_one_session_then_all_of_them_logs_the_account_out_there(qtbot, tmp_path, served):
    user = new_operator(served)
    first, second, third = (served.token(user["email"], PASSWORD) for _ in range(3))
    _, me = served.running.api("GET", "/api/v1/me", token=first)
    window = signed_in_window(qtbot, tmp_path, served)
    page = _users_page(qtbot, window, user["id"])
    assert len(page.sessions.records()) == 3

    select_row(page.sessions_table, lambda s: s["id"] == me["session"]["id"])
    page.end_session_action()
    qtbot.waitUntil(lambda: "Ended 1 session of" in page.banner.label.text(), timeout=WAIT_MS)
    idle(qtbot, window.context)
    assert _me(served, first) == 401 and _me(served, second) == 200
    assert len(page.sessions.records()) == 2

    page.end_all_sessions_action()
    asked = answer_confirmation(qtbot, page)
    assert "must sign in again" in asked
    qtbot.waitUntil(lambda: "Ended 2 sessions of" in page.banner.label.text(), timeout=WAIT_MS)
    idle(qtbot, window.context)
    assert _me(served, second) == 401 and _me(served, third) == 401
    assert page.sessions.records() == [] and not page.end_all_button.isEnabled()
    assert _login(served, user["email"]) == 200  # ending sessions is not disabling


def test_one_cannot_disable_oneself_the_button_says_so_and_the_appliance_refuses(qtbot, tmp_path, served):
    window = signed_in_window(qtbot, tmp_path, served)
    me = window.context.user
    page = _users_page(qtbot, window, me["id"])

    assert not page.disable_button.isEnabled() and "cannot disable it" in page.selection_note.text()
    page.disable_action()  # as if it had been clicked anyway
    answer_confirmation(qtbot, page)
    qtbot.waitUntil(lambda: page.banner.kind == "error" and not page.banner.isHidden(), timeout=WAIT_MS)
    assert "cannot disable your own account" in page.banner.label.text()
    assert _login(served, me["email"], OPERATOR[1]) == 200
