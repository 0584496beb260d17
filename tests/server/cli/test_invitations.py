"""`chatspark invitations list` on a real appliance: every workspace's invitations, and what became of each."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest

from appliance.clock import FixedClock
from tests.running import chatspark
from tests.server.cli.shell import OPERATOR, Shell, assert_one_line_failure, assert_usage_error


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


@pytest.fixture
def shell(tmp_path) -> Shell:
    return Shell.with_operator(tmp_path)


@pytest.fixture
def invited(shell):
    """Two workspaces with an invitation in each state: pending and revoked in one, accepted and expired in the
    other."""
    with shell.services() as services:
        operator = services.users.find_by_email(OPERATOR)
        sales, support = (services.workspaces.create(name=name, owner_id=operator.id, actor_id=operator.id,
                                                     client_address=None) for name in ("Sales", "Support"))

        def invite(workspace, email):
            return services.invitations.invite(workspace.id, email=email, role="editor", inviter_id=operator.id,
                                               inviter_role="owner", client_address=None)

        pending, _ = invite(sales, "bob@example.com")
        revoked, _ = invite(sales, "carol@example.com")
        services.invitations.revoke(sales.id, revoked.id, actor_id=operator.id, client_address=None)
        accepted, link = invite(support, "dave@example.com")
        services.invitations.accept(token_of(link), password="quartz meadow violin 77", client_address=None)
    with shell.services(clock=FixedClock(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=4))) as services:
        expired, _ = services.invitations.invite(support.id, email="erin@example.com", role="viewer",
                                                 inviter_id=operator.id, inviter_role="owner", client_address=None)
    return {"sales": sales, "support": support, "pending": pending, "revoked": revoked, "accepted": accepted,
            "expired": expired}


def test_the_invitations_of_every_workspace_are_listed_with_what_became_of_each(shell, invited):
    listed = shell.json("invitations", "list")

    assert {i["id"]: i["status"] for i in listed} == {invited[state].id: state
                                                      for state in ("pending", "revoked", "accepted", "expired")}
    assert {i["email"]: i["workspace_name"] for i in listed} == {
        "bob@example.com": "Sales", "carol@example.com": "Sales", "dave@example.com": "Support",
        "erin@example.com": "Support"}
    assert [i["created_at"] for i in listed] == sorted((i["created_at"] for i in listed), reverse=True)
    assert sorted(i["email"] for i in shell.json("invitations", "list", "--workspace", invited["sales"].id)) == [
        "bob@example.com", "carol@example.com"]
    assert [i["email"] for i in shell.json("invitations", "list", "--status", "pending")] == ["bob@example.com"]
    text = shell.run("invitations", "list")
    assert text.returncode == 0 and invited["pending"].id in text.stdout and "expired" in text.stdout
    assert "chatspark mail show ID" in text.stdout  # no relay here: the links are in the outbox


def test_an_unknown_workspace_is_refused_in_one_line(shell):
    assert_one_line_failure(shell.run("invitations", "list", "--workspace", "0123456789abcdef"),
                            "no workspace 0123456789abcdef")


@pytest.mark.parametrize("args, command, fragment", [
    (["invitations", "list", "--status", "lost"], "chatspark invitations list", "invalid choice: 'lost'"),
    (["invitations", "list", "--workspace"], "chatspark invitations list", "expected one argument"),
    (["invitations"], "chatspark invitations", "ACTION"),
])
def test_an_argument_error_prints_the_usage_of_the_subcommand(args, command, fragment):
    assert_usage_error(chatspark(*args), command, fragment)
