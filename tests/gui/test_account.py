"""My account and the session, as an administrator meets them: a second factor turned on from the panel and then
asked for at sign-in (a code, or a recovery code), enrolment when the appliance demands it, the password changed
(other sessions end, a wrong current password is said on its field and signs no one out), sessions ended, sign-out
ending the server's session, and the sign-in dialog over the same screen when the session ends."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from appliance.accounts import totp
from gui.views.account import PasswordDialog, SecondFactorDialog
from gui.views.sign_in import SignInDialog
from tests.gui.driving import (
    PASSWORD,
    WAIT_MS,
    answer_confirmation,
    idle,
    new_operator,
    new_panel,
    open_dialog,
    open_page,
    pin,
    select_row,
    sign_in,
    signed_in_window,
    start_served,
)


def _second_admin(served) -> str:
    """Another operator's email, so that each test changes an account of its own."""
    return new_operator(served, display_name="Second Admin")["email"]


def code_now(secret_text: str, *, ahead: int = 0) -> str:
    secret = base64.b32decode(secret_text + "=" * (-len(secret_text) % 8))
    return totp.code_at(secret, totp.step_of(dt.datetime.now(dt.timezone.utc)) + ahead)


def account_page(qtbot, window):
    return open_page(qtbot, window, "account", ready=lambda page: page.profile.text())


def test_a_second_factor_turned_on_in_the_panel_is_asked_for_at_sign_in_and_a_recovery_code_works(
        qtbot, tmp_path, served):
    email = _second_admin(served)
    window = signed_in_window(qtbot, tmp_path / "first", served, email, PASSWORD)
    page = account_page(qtbot, window)
    assert "Second factor: <b>off</b>" in page.profile.text()

    page.second_factor_action()
    dialog = page.second_factor_dialog
    dialog.password.setText("not my password")
    dialog.submit_action()
    qtbot.waitUntil(lambda: bool(dialog.ask.field_error("password")), timeout=WAIT_MS)
    assert window.context.api.signed_in  # a wrong password in a form is not the end of the session
    dialog.password.setText(PASSWORD)
    dialog.submit_action()
    qtbot.waitUntil(lambda: dialog.steps.currentWidget() is dialog.scan, timeout=WAIT_MS)
    assert not dialog.scan.qr.pixmap().isNull()
    dialog.scan.code.setText(code_now(dialog.scan.secret.text()))
    dialog.submit_action()
    qtbot.waitUntil(lambda: dialog.steps.currentWidget() is dialog.codes, timeout=WAIT_MS)
    recovery = dialog.codes.codes.toPlainText().split()
    secret_text = dialog.scan.secret.text()
    assert len(recovery) >= 8
    dialog.submit_action()
    qtbot.waitUntil(lambda: "Second factor: <b>on</b>" in page.profile.text(), timeout=WAIT_MS)
    status, me = served.api("GET", "/api/v1/me", token=window.context.api._token)
    assert status == 200 and me["user"]["second_factor"]

    # A new panel: the password alone is not enough; the code from the app is.
    panel = new_panel(tmp_path / "second", served)
    qtbot.addWidget(panel.connect_dialog)
    pin(qtbot, panel)
    sign_in(qtbot, panel, email, PASSWORD)
    dialog = panel.sign_in_dialog
    qtbot.waitUntil(lambda: dialog.form.layout_.isRowVisible(2), timeout=WAIT_MS)
    assert panel.window is None
    dialog.code.setText(code_now(secret_text, ahead=1))  # the enrolment's own step is spent
    dialog.submit_action()
    qtbot.waitUntil(lambda: panel.window is not None, timeout=WAIT_MS)
    qtbot.addWidget(panel.window)

    # And one of the recovery codes, once.
    third = new_panel(tmp_path / "third", served)
    qtbot.addWidget(third.connect_dialog)
    pin(qtbot, third)
    sign_in(qtbot, third, email, PASSWORD, code=recovery[0])
    qtbot.waitUntil(lambda: third.window is not None, timeout=WAIT_MS)
    qtbot.addWidget(third.window)

    # Turned off again from the panel.
    page.second_factor_action()
    dialog = page.second_factor_dialog
    assert not dialog.turning_on
    dialog.password.setText(PASSWORD)
    dialog.submit_action()
    qtbot.waitUntil(lambda: "Second factor: <b>off</b>" in page.profile.text(), timeout=WAIT_MS)


@pytest.fixture(scope="module")
def strict(tmp_path_factory, relay):
    """An appliance that requires a second factor of operators, owners and admins."""
    served = start_served(tmp_path_factory.mktemp("strict-appliance"), relay,
                          env={"CHATSPARK_REQUIRE_SECOND_FACTOR_FOR_ADMINS": "true"})
    yield served
    served.running.stop()


def test_an_operator_without_a_second_factor_enrols_at_sign_in_when_the_appliance_requires_it(qtbot, tmp_path,
                                                                                                strict):
    panel = new_panel(tmp_path, strict)
    qtbot.addWidget(panel.connect_dialog)
    pin(qtbot, panel)
    sign_in(qtbot, panel)
    dialog = panel.sign_in_dialog
    qtbot.waitUntil(lambda: dialog.steps.currentWidget() is dialog.enrol, timeout=WAIT_MS)
    assert not dialog.enrol.qr.pixmap().isNull() and dialog.enrol.secret.text()
    assert panel.window is None

    dialog.enrol.code.setText(code_now(dialog.enrol.secret.text()))
    dialog.submit_action()
    qtbot.waitUntil(lambda: dialog.steps.currentWidget() is dialog.codes_page, timeout=WAIT_MS)
    assert len(dialog.codes_page.codes.toPlainText().split()) >= 8
    dialog.submit_action()  # "I have saved them"
    qtbot.waitUntil(lambda: panel.window is not None, timeout=WAIT_MS)
    window = panel.window
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: "overview" in window.destinations(), timeout=WAIT_MS)
    status, me = strict.running.api("GET", "/api/v1/me", token=window.context.api._token)
    assert status == 200 and me["user"]["second_factor"]


def test_changing_the_password_ends_the_other_sessions_and_a_wrong_current_one_is_said_on_its_field(
        qtbot, tmp_path, served):
    email = _second_admin(served)
    elsewhere = served.token(email, PASSWORD)
    window = signed_in_window(qtbot, tmp_path, served, email, PASSWORD)
    page = account_page(qtbot, window)

    page.change_password_action()
    dialog = page.password_dialog
    dialog.current.setText("wrong " + PASSWORD)
    dialog.new.setText("saffron kettle glacier 41")
    dialog.repeat.setText("saffron kettle glacier 41")
    dialog.submit_action()
    qtbot.waitUntil(lambda: bool(dialog.form.field_error("current_password")), timeout=WAIT_MS)
    idle(qtbot, window.context)
    assert window.context.api.signed_in and window._signing_in is None

    dialog.current.setText(PASSWORD)
    dialog.repeat.setText("saffron kettle glacier 42")
    dialog.submit_action()
    assert "not the same" in dialog.form.field_error("repeat")
    dialog.repeat.setText("saffron kettle glacier 41")
    dialog.submit_action()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "1 other session ended" in page.banner.label.text(), timeout=WAIT_MS)

    assert served.api("GET", "/api/v1/me", token=elsewhere)[0] == 401
    assert served.api("GET", "/api/v1/me", token=window.context.api._token)[0] == 200
    served.token(email, "saffron kettle glacier 41")


def test_other_sessions_are_listed_and_ended_from_my_account(qtbot, tmp_path, served):
    email = _second_admin(served)
    first, second = served.token(email, PASSWORD), served.token(email, PASSWORD)
    window = signed_in_window(qtbot, tmp_path, served, email, PASSWORD)
    page = account_page(qtbot, window)
    qtbot.waitUntil(lambda: page.sessions.rowCount() == 3, timeout=WAIT_MS)
    mine = [s for s in page.sessions.records() if s["current"]]
    assert len(mine) == 1 and mine[0]["user_agent"].startswith("ChatSpark control panel")

    select_row(page.sessions_table, lambda s: not s["current"])
    assert page.end_button.isEnabled()
    page.end_session_action()
    answer_confirmation(qtbot, page)
    qtbot.waitUntil(lambda: page.sessions.rowCount() == 2, timeout=WAIT_MS)
    assert sorted(served.api("GET", "/api/v1/me", token=t)[0] for t in (first, second)) == [200, 401]

    page.end_other_sessions_action()
    assert "1 other session end now" in answer_confirmation(qtbot, page)
    qtbot.waitUntil(lambda: page.sessions.rowCount() == 1, timeout=WAIT_MS)
    assert [served.api("GET", "/api/v1/me", token=t)[0] for t in (first, second)] == [401, 401]
    assert served.api("GET", "/api/v1/me", token=window.context.api._token)[0] == 200


def test_when_the_server_ends_the_session_the_sign_in_dialog_returns_to_the_same_screen(qtbot, tmp_path, served):
    email = _second_admin(served)
    window = signed_in_window(qtbot, tmp_path, served, email, PASSWORD)
    page = open_page(qtbot, window, "jobs", ready=lambda p: p.jobs.rowCount() > 0)
    token = window.context.api._token
    status, me = served.api("GET", "/api/v1/me", token=token)
    # Ended from elsewhere, as an operator ending someone's sessions (or an idle timeout) would.
    status, _ = served.api("DELETE", f"/api/v1/users/{me['user']['id']}/sessions/{me['session']['id']}")
    assert status == 204

    page.refresh_action()
    dialog = open_dialog(qtbot, window, SignInDialog)
    assert "session ended" in dialog.reason.text()
    assert dialog.email.text() == email
    dialog.password.setText(PASSWORD)
    dialog.submit_action()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT_MS)
    idle(qtbot, window.context)
    assert window.current_page() is page and window._current == "jobs"
    assert window.context.api._token != token and window.context.api.signed_in
    assert served.api("GET", "/api/v1/me", token=window.context.api._token)[0] == 200


def test_sign_out_ends_the_servers_session_and_returns_to_sign_in(qtbot, tmp_path, served):
    email = _second_admin(served)
    window = signed_in_window(qtbot, tmp_path, served, email, PASSWORD)
    token = window.context.api._token
    panel = window.panel
    window.sign_out_action()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=WAIT_MS)
    assert served.api("GET", "/api/v1/me", token=token)[0] == 401
    qtbot.waitUntil(lambda: panel.sign_in_dialog.isVisible(), timeout=WAIT_MS)
    assert not window.context.api.signed_in


def test_the_password_dialogs_forget_what_was_typed(qtbot, tmp_path, served):
    email = _second_admin(served)
    window = signed_in_window(qtbot, tmp_path, served, email, PASSWORD)
    page = account_page(qtbot, window)
    page.change_password_action()
    dialog: PasswordDialog = page.password_dialog
    dialog.current.setText(PASSWORD)
    dialog.reject()
    assert dialog.current.text() == ""
    page.second_factor_action()
    factor: SecondFactorDialog = page.second_factor_dialog
    factor.password.setText(PASSWORD)
    factor.reject()
    assert factor.password.text() == ""
