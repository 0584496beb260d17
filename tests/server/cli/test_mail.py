"""`chatspark mail outbox|show` on a real appliance: without a relay, invitations and password resets wait in the
outbox, and the link an operator prints from there is the one that works; a relay's refusals and deliveries show."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.appliance.mail.smtp_server import running_smtp_server, unused_port
from tests.running import chatspark
from tests.server.cli.shell import OPERATOR, Shell, assert_one_line_failure, assert_usage_error

LINK = re.compile(r"https://\S+\?token=[\w-]+")


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


def relay(port: int) -> dict:
    return {"CHATSPARK_SMTP_HOST": "127.0.0.1", "CHATSPARK_SMTP_PORT": str(port), "CHATSPARK_SMTP_SECURITY": "none"}


@pytest.fixture
def shell(tmp_path) -> Shell:
    return Shell.with_operator(tmp_path)


@pytest.fixture
def invitation(shell):
    """bob@example.com invited to a workspace, while no relay is set; the link the API handed the inviter."""
    with shell.services() as services:
        operator = services.users.find_by_email(OPERATOR)
        workspace = services.workspaces.create(name="Support", owner_id=operator.id, actor_id=operator.id,
                                               client_address=None)
        _, link = services.invitations.invite(workspace.id, email="bob@example.com", role="editor",
                                              inviter_id=operator.id, inviter_role="owner", client_address=None)
    return link


def test_an_invitation_waits_in_the_outbox_and_the_link_printed_from_there_accepts_it(shell, invitation):
    [queued] = shell.json("mail", "outbox")

    assert (queued["recipient"], queued["subject"]) == ("bob@example.com", "You are invited to Support on ChatSpark")
    assert (queued["status"], queued["attempts"], queued["last_error"]) == ("pending", 0, None)
    assert queued["age_seconds"] >= 0 and queued["created_at"]
    listed = shell.run("mail", "outbox")
    assert listed.returncode == 0 and "bob@example.com" in listed.stdout and "waiting" in listed.stdout
    assert "chatspark mail show ID" in listed.stdout

    shown = shell.run("mail", "show", str(queued["id"]))

    assert shown.returncode == 0, shown.stderr
    assert "To:      bob@example.com" in shown.stdout and LINK.findall(shown.stdout) == [invitation]
    [row] = shell.audited("mail.show")
    assert (row["actor_type"], row["actor_id"], row["target_type"], row["target_id"]) == (
        "system", "cli", "mail", str(queued["id"]))
    assert row["details"] == {"recipient": "bob@example.com", "subject": queued["subject"]}
    assert "token" not in str(row)
    with shell.services() as services:
        accepted = services.invitations.accept(token_of(LINK.findall(shown.stdout)[0]),
                                               password="quartz meadow violin 77", client_address=None)
    assert accepted.new_account and accepted.invitation.accepted_at


def test_a_password_reset_link_printed_from_the_outbox_sets_a_new_password(shell):
    with shell.services() as services:
        services.auth.request_reset(email=OPERATOR, client_address="192.0.2.7")
    [queued] = shell.json("mail", "outbox")
    assert queued["recipient"] == OPERATOR

    shown = shell.json("mail", "show", str(queued["id"]))

    [link] = LINK.findall(shown["body"])
    with shell.services() as services:
        services.auth.complete_reset(token=token_of(link), password="new tangerine harbour 58",
                                     client_address="192.0.2.7")
        assert services.auth.login(email=OPERATOR, password="new tangerine harbour 58",
                                   client_address="192.0.2.7").user.email == OPERATOR
    assert [row["target_id"] for row in shell.audited("mail.show")] == [str(queued["id"])]


def test_mail_a_relay_refused_shows_its_attempts_and_last_error(shell, invitation):
    sent = shell.run("jobs", "run", "send_outbox", env=relay(unused_port()))
    assert sent.returncode == 0, sent.stdout + sent.stderr

    [queued] = shell.json("mail", "outbox")

    assert queued["attempts"] == 1 and queued["status"] == "pending" and queued["last_error"]
    listed = shell.run("mail", "outbox")
    assert f"last error: {queued['last_error']}" in listed.stdout and "1 attempt(s)" in listed.stdout


def test_delivered_mail_is_listed_only_with_all_and_its_body_is_not_kept(shell, invitation):
    with running_smtp_server() as server:
        sent = shell.run("jobs", "run", "send_outbox", env=relay(server.port))
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert [r.rcpt_tos for r in server.received] == [["bob@example.com"]]

    assert shell.json("mail", "outbox") == []
    assert "no mail waiting" in shell.run("mail", "outbox").stdout
    [delivered] = shell.json("mail", "outbox", "--all")
    assert delivered["status"] == "sent" and delivered["sent_at"]
    assert_one_line_failure(shell.run("mail", "show", str(delivered["id"])), "was delivered", "not kept")
    assert shell.audited("mail.show") == []


def test_an_unknown_mail_is_refused_in_one_line(shell):
    assert_one_line_failure(shell.run("mail", "show", "999"), "no mail 999")


@pytest.mark.parametrize("args, command, fragment", [
    (["mail", "show", "first"], "chatspark mail show", "invalid int value: 'first'"),
    (["mail", "outbox", "--limit", "0"], "chatspark mail outbox", "at least 1"),
    (["mail", "send"], "chatspark mail", "invalid choice: 'send'"),
])
def test_an_argument_error_prints_the_usage_of_the_subcommand(args, command, fragment):
    assert_usage_error(chatspark(*args), command, fragment)
