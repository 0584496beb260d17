"""The Mail outbox screen against real appliances: without a mail relay an invitation waits, the screen says why,
and the operator opens it (audited as mail.show) and copies its link, which accepts the invitation; with a relay,
delivered mail is listed only when asked for, and its body is not kept."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QGuiApplication

from gui.views.outbox_mail import MailDialog, links
from tests.gui.driving import (
    PASSWORD,
    WAIT_MS,
    idle,
    new_email,
    new_workspace,
    open_dialog,
    open_page,
    select_row,
    signed_in_window,
    start_served,
    token_of,
)


@pytest.fixture(scope="module")
def unrelayed(tmp_path_factory, relay):
    """An appliance with no mail relay set: mail stays in its outbox."""
    served = start_served(tmp_path_factory.mktemp("outbox-appliance"), relay, env={"CHATSPARK_SMTP_HOST": ""})
    yield served
    served.running.stop()


def _invite(served, workspace_id: str) -> str:
    email = new_email("invitee")
    status, body = served.api("POST", f"/api/v1/workspaces/{workspace_id}/invitations",
                              {"email": email, "role": "editor"})
    assert status == 201, body
    return email


def test_without_a_relay_the_operator_opens_a_waiting_invitation_and_copies_its_link(qtbot, tmp_path, unrelayed):
    workspace = new_workspace(unrelayed, "Outbox")
    email = _invite(unrelayed, workspace["id"])
    window = signed_in_window(qtbot, tmp_path, unrelayed)
    page = open_page(qtbot, window, "outbox", ready=lambda p: p.mail.rowCount() > 0)

    assert page.banner.isVisible() and page.banner.kind == "warning"
    assert "No mail relay is set" in page.banner.label.text()
    assert not page.open_button.isEnabled()  # nothing selected yet
    [waiting] = [m for m in page.mail.records() if m["recipient"] == email]
    assert waiting["status"] == "pending"
    select_row(page.table, lambda m: m["recipient"] == email)
    assert page.open_button.isEnabled()
    page.open_button.click()
    dialog = open_dialog(qtbot, page, MailDialog)
    assert email in dialog.mail["recipient"] and "/invitations/accept" in dialog.body.toPlainText()
    [link] = [link for link in dialog.links if "/invitations/accept" in link]
    dialog.copy_buttons[dialog.links.index(link)].click()
    assert QGuiApplication.clipboard().text() == link and "copied" in dialog.copied.text()

    # Opening it is audited, naming the mail, its recipient and who read it.
    status, audit = unrelayed.api("GET", "/api/v1/audit?action=mail.show&order=newest")
    assert status == 200, audit
    shown = audit["events"][0]
    assert shown["target_id"] == str(waiting["id"]) and shown["details"]["recipient"] == email
    # The copied link works for the recipient: it accepts the invitation.
    status, accepted = unrelayed.running.api("POST", "/api/v1/invitations/accept",
                                             {"token": token_of(link), "password": PASSWORD})
    assert status == 200, accepted
    dialog.accept()
    idle(qtbot, window.context)


def test_with_a_relay_delivered_mail_shows_only_when_asked_and_cannot_be_opened(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Outbox")
    email = _invite(served, workspace["id"])
    qtbot.waitUntil(lambda: bool(served.mails_to(email)), timeout=WAIT_MS)
    window = signed_in_window(qtbot, tmp_path, served)
    page = open_page(qtbot, window, "outbox")
    assert not any(m["recipient"] == email for m in page.mail.records())
    assert not (page.banner.isVisible() and "No mail relay" in page.banner.label.text())

    page.include_sent.setChecked(True)
    qtbot.waitUntil(lambda: any(m["recipient"] == email for m in page.mail.records()), timeout=WAIT_MS)
    select_row(page.table, lambda m: m["recipient"] == email)
    assert not page.open_button.isEnabled() and "not kept" in page.open_button.toolTip()
    row = next(i for i, m in enumerate(page.mail.records()) if m["recipient"] == email)
    assert page.mail.index(row, 0).data() == "delivered"


def test_links_are_found_once_each_without_the_sentence_around_them():
    body = ("Accept: https://a.test/invitations/accept?token=x-1_2.\nOr see https://a.test/help, "
            "then https://a.test/invitations/accept?token=x-1_2 again.")
    assert links(body) == ["https://a.test/invitations/accept?token=x-1_2", "https://a.test/help"]
