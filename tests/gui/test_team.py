"""The Team screen, as a workspace's admins use it: an invitation sent from the panel is mailed, and the link copied
from the panel lets the person join with the role; resend and revoke do what they say to the links; roles change
and members leave; weaker roles and cancelled workspaces see what they may not do; and an appliance without a mail
relay says so plainly."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from PySide6.QtGui import QGuiApplication

from gui.views.team import TeamPage
from gui.views.team_dialogs import NO_RELAY, KeysConfirmation
from gui.widgets.dialogs import SecretDialog
from tests.gui.driving import (
    PASSWORD,
    WAIT_MS,
    answer_confirmation,
    idle,
    join,
    link_in,
    new_email,
    new_workspace,
    open_dialog,
    open_page,
    select_row,
    signed_in_window,
    start_served,
    text_of,
    token_of,
)


@pytest.fixture(scope="module")
def served_without_relay(tmp_path_factory, relay):
    """A second appliance whose SMTP host is blank: nothing it sends leaves the machine."""
    served = start_served(tmp_path_factory.mktemp("no-relay-appliance"), relay, env={"CHATSPARK_SMTP_HOST": ""})
    yield served
    served.running.stop()


def _workspace(served) -> str:
    return new_workspace(served, "Team")["id"]


def _accept(served, link: str):
    return served.running.api("POST", "/api/v1/invitations/accept",
                              {"token": token_of(link), "password": PASSWORD, "display_name": "Invited Person"})


def _members(served, workspace: str) -> dict[str, dict]:
    status, body = served.api("GET", f"/api/v1/workspaces/{workspace}/members")
    assert status == 200, body
    return {m["email"]: m for m in body["members"]}


def _team(qtbot, window, workspace: str) -> TeamPage:
    return open_page(qtbot, window, f"team:{workspace}", ready=lambda p: p.members.rowCount() >= 1)


def _invite(qtbot, page: TeamPage, email: str, role: str) -> SecretDialog:
    page.invite_action()
    dialog = page.invite_dialog
    dialog.email.setText(email)
    dialog.role.setCurrentIndex(dialog.role.findData(role))
    dialog.submit.click()
    return open_dialog(qtbot, page, SecretDialog)


def _close(qtbot, dialog) -> None:
    dialog.accept()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT_MS)


def _invited_and_selected(qtbot, page: TeamPage, email: str, role: str) -> str:
    """Invite `email` to a workspace with no invitation yet, close the link shown, select the new invitation's row;
    the link."""
    secret = _invite(qtbot, page, email, role)
    link = secret.value.text()
    _close(qtbot, secret)
    qtbot.waitUntil(lambda: page.invitations.rowCount() == 1, timeout=WAIT_MS)
    select_row(page.invitations_table, lambda i: i["email"] == email)
    return link


def test_an_invitation_sent_from_the_panel_is_mailed_and_its_copied_link_lets_the_person_join(qtbot, tmp_path,
                                                                                               served):
    workspace = _workspace(served)
    window = signed_in_window(qtbot, tmp_path, served)
    page = _team(qtbot, window, workspace)
    email = new_email("editor")
    assert window.context.mail_can_leave and page.mail_notice.isHidden()

    secret = _invite(qtbot, page, email, "editor")
    secret.copy_button.click()
    copied = QGuiApplication.clipboard().text()

    assert secret.copy_button.text() == "Copy the link" and copied == secret.value.text()
    assert "/invitations/accept?token=" in copied and "mail is on its way" in text_of(secret)
    qtbot.waitUntil(lambda: bool(served.mails_to(email)), timeout=WAIT_MS)
    assert link_in(served.mails_to(email)[0], "/invitations/accept") == urlparse(copied).query.split("=", 1)[1]
    status, body = _accept(served, copied)
    assert status == 200 and body["new_account"], body
    assert _members(served, workspace)[email]["role"] == "editor"
    page.refresh_action()
    qtbot.waitUntil(lambda: any(i["email"] == email and i["accepted_at"] for i in page.invitations.records()),
                    timeout=WAIT_MS)
    qtbot.waitUntil(lambda: email in [m["email"] for m in page.members.records()], timeout=WAIT_MS)


def test_resend_and_copy_link_give_a_working_link_and_the_old_one_stops_working(qtbot, tmp_path, served):
    workspace = _workspace(served)
    window = signed_in_window(qtbot, tmp_path, served)
    page = _team(qtbot, window, workspace)
    email = new_email("viewer")
    first_link = _invited_and_selected(qtbot, page, email, "viewer")

    page.copy_link_action()  # the link this panel made is shown again as it is
    again = open_dialog(qtbot, page, SecretDialog)
    assert again.value.text() == first_link
    _close(qtbot, again)
    page.resend_action()
    said = answer_confirmation(qtbot, page)
    resent = open_dialog(qtbot, page, SecretDialog)
    resent_link = resent.value.text()

    assert "stops working" in said and "previous link no longer works" in text_of(resent)
    assert resent_link != first_link
    status, _ = _accept(served, first_link)
    assert status == 400
    _close(qtbot, resent)
    # A panel that did not make the link cannot show it: it says so and makes a new one, which works.
    other = signed_in_window(qtbot, tmp_path / "other", served)
    fresh_page = _team(qtbot, other, workspace)
    qtbot.waitUntil(lambda: fresh_page.invitations.rowCount() == 2, timeout=WAIT_MS)
    select_row(fresh_page.invitations_table, lambda i: i["email"] == email and not i["revoked_at"])
    assert fresh_page.copy_link_button.isEnabled()
    fresh_page.copy_link_action()
    said = answer_confirmation(qtbot, fresh_page)
    newest = open_dialog(qtbot, fresh_page, SecretDialog).value.text()
    assert "cannot show this one again" in said and "stops working" in said
    assert _accept(served, resent_link)[0] == 400
    status, body = _accept(served, newest)
    assert status == 200, body
    assert _members(served, workspace)[email]["role"] == "viewer"


def test_a_revoked_invitation_link_no_longer_works(qtbot, tmp_path, served):
    workspace = _workspace(served)
    window = signed_in_window(qtbot, tmp_path, served)
    page = _team(qtbot, window, workspace)
    email = new_email("revoked")
    link = _invited_and_selected(qtbot, page, email, "editor")

    page.revoke_invitation_action()
    answer_confirmation(qtbot, page)
    qtbot.waitUntil(lambda: any(i["revoked_at"] for i in page.invitations.records()), timeout=WAIT_MS)

    status, body = _accept(served, link)
    assert status == 400 and "not valid any more" in body["message"]
    assert email not in _members(served, workspace)
    select_row(page.invitations_table, lambda i: i["email"] == email)
    assert not page.revoke_button.isEnabled() and not page.copy_link_button.isEnabled()


def test_an_admin_made_viewer_hands_their_api_keys_over_and_a_removed_member_is_gone(qtbot, tmp_path, served):
    workspace = _workspace(served)
    admin_email, _ = join(qtbot, served, workspace, "admin")
    status, created = served.api("POST", f"/api/v1/workspaces/{workspace}/api-keys",
                                 {"name": "Their key", "scopes": ["agents:read"]},
                                 token=served.token(admin_email, PASSWORD))
    assert status == 201, created
    window = signed_in_window(qtbot, tmp_path, served)
    page = _team(qtbot, window, workspace)
    select_row(page.members_table, lambda m: m["email"] == admin_email)
    page.role_choice.setCurrentIndex(page.role_choice.findData("viewer"))

    page.change_role_action()
    dialog = open_dialog(qtbot, page, KeysConfirmation)
    assert "revoked, unless you hand them" in dialog.text.text()
    dialog.keys.setCurrentIndex(1)  # the owner, the only other one who may hold keys
    dialog.action_button.click()
    qtbot.waitUntil(lambda: "now viewer" in page.banner.label.text(), timeout=WAIT_MS)

    assert _members(served, workspace)[admin_email]["role"] == "viewer"
    assert "handed over: Their key" in page.banner.label.text()
    owner_id = window.context.user["id"]
    _, keys = served.api("GET", f"/api/v1/workspaces/{workspace}/api-keys")
    assert [(k["created_by"], k["revoked_at"]) for k in keys["api_keys"]] == [(owner_id, None)]
    assert served.running.api("GET", f"/api/v1/workspaces/{workspace}/agents", token=created["key"])[0] == 200

    qtbot.waitUntil(lambda: any(m["email"] == admin_email and m["role"] == "viewer" for m in page.members.records()),
                    timeout=WAIT_MS)
    select_row(page.members_table, lambda m: m["email"] == admin_email)
    page.remove_member_action()
    said = answer_confirmation(qtbot, page)
    qtbot.waitUntil(lambda: admin_email not in [m["email"] for m in page.members.records()], timeout=WAIT_MS)

    assert "hold no API keys" in said and page.banner.isVisible() and "was removed" in page.banner.label.text()
    assert admin_email not in _members(served, workspace)


def test_the_owner_cannot_be_removed_or_demoted_from_the_panel(qtbot, tmp_path, served):
    workspace = _workspace(served)
    window = signed_in_window(qtbot, tmp_path, served)
    page = _team(qtbot, window, workspace)
    select_row(page.members_table, lambda m: m["role"] == "owner")
    assert page.invite_button.isEnabled()
    assert not page.remove_button.isEnabled() and not page.change_role_button.isEnabled()
    assert page.members.data(page.members.index(0, 0)).endswith("(you)")


def test_an_editor_sees_the_team_with_the_managing_buttons_off(qtbot, tmp_path, served):
    workspace = _workspace(served)
    email, _ = join(qtbot, served, workspace, "editor")
    window = signed_in_window(qtbot, tmp_path, served, email, PASSWORD)

    assert f"api_keys:{workspace}" not in window.destinations()
    page = _team(qtbot, window, workspace)
    select_row(page.members_table, lambda m: m["role"] == "owner")
    assert not page.invite_button.isEnabled() and not page.remove_button.isEnabled()
    assert not page.change_role_button.isEnabled()
    assert page.invitations_table.isHidden()
    assert page.invitations_note.text().startswith("Your role, editor, cannot see or send invitations")
    assert not page.banner.isVisible()


def test_an_admin_whose_role_was_lowered_meanwhile_is_told_their_role_and_the_buttons_follow(qtbot, tmp_path,
                                                                                              served):
    workspace = _workspace(served)
    email, _ = join(qtbot, served, workspace, "admin")
    window = signed_in_window(qtbot, tmp_path, served, email, PASSWORD)
    page = _team(qtbot, window, workspace)
    assert page.invite_button.isEnabled()
    member = _members(served, workspace)[email]
    status, body = served.api("PATCH", f"/api/v1/workspaces/{workspace}/members/{member['user_id']}",
                              {"role": "viewer"})
    assert status == 200, body

    page.invite_action()
    dialog = page.invite_dialog
    dialog.email.setText(new_email("late"))
    dialog.submit.click()
    qtbot.waitUntil(lambda: not dialog.form.banner.isHidden(), timeout=WAIT_MS)

    assert dialog.form.banner.label.text().startswith("Your role, viewer, cannot do this.")
    qtbot.waitUntil(lambda: window.context.role_in(workspace) == "viewer", timeout=WAIT_MS)
    idle(qtbot, window.context)
    assert not page.invite_button.isEnabled() and page.invitations_table.isHidden()


def test_a_cancelled_workspace_shows_its_team_read_only(qtbot, tmp_path, served):
    workspace = _workspace(served)
    email = new_email("pending")
    assert served.api("POST", f"/api/v1/workspaces/{workspace}/invitations", {"email": email,
                                                                             "role": "viewer"})[0] == 201
    status, body = served.api("POST", f"/api/v1/workspaces/{workspace}/cancel")
    assert status == 200, body
    window = signed_in_window(qtbot, tmp_path, served)
    page = _team(qtbot, window, workspace)
    select_row(page.members_table, lambda m: True)
    qtbot.waitUntil(lambda: page.invitations.rowCount() == 1, timeout=WAIT_MS)
    select_row(page.invitations_table, lambda i: True)

    assert page.read_only_notice.isVisible() and "read-only" in page.read_only_notice.label.text()
    assert page.invitations.record(0)["email"] == email  # still listed, as everything in it can be read
    assert not any(b.isEnabled() for b in (page.invite_button, page.change_role_button, page.remove_button,
                                           page.resend_button, page.revoke_button))
    assert not page.banner.isVisible()


def test_without_a_mail_relay_the_panel_says_so_and_the_link_it_shows_is_the_way_in(qtbot, tmp_path,
                                                                                    served_without_relay):
    served = served_without_relay
    workspace = _workspace(served)
    window = signed_in_window(qtbot, tmp_path, served)
    page = _team(qtbot, window, workspace)
    assert not window.context.mail_can_leave
    assert page.mail_notice.isVisible() and page.mail_notice.label.text() == NO_RELAY
    email = new_email("by-hand")

    secret = _invite(qtbot, page, email, "viewer")

    assert page.invite_dialog.mail_note.text() == NO_RELAY
    assert "nothing was mailed" in text_of(secret)
    status, body = _accept(served, secret.value.text())
    assert status == 200, body
    assert _members(served, workspace)[email]["role"] == "viewer"
    assert served.mails_to(email) == []
