"""`chatspark workspaces list|create|cancel` on a real appliance: the services the API uses, audited as the CLI, and
argument errors told with the subcommand's own usage."""

from __future__ import annotations

import pytest

from tests.running import chatspark
from tests.server.cli.shell import OPERATOR, Shell, assert_one_line_failure, assert_usage_error


@pytest.fixture
def shell(tmp_path) -> Shell:
    return Shell.with_operator(tmp_path)


def test_a_workspace_created_from_the_shell_is_listed_and_audited_as_the_cli(shell):
    created = shell.json("workspaces", "create", "--name", "Support desk", "--owner-email", OPERATOR)

    assert created["name"] == "Support desk" and created["status"] == "active"
    assert created["owner"]["email"] == OPERATOR and created["legal_hold"] is None
    assert shell.json("workspaces", "list") == [created]
    listed = shell.run("workspaces", "list")
    assert listed.returncode == 0 and created["id"] in listed.stdout and "Support desk" in listed.stdout
    assert (shell.data_dir / "workspaces" / f"{created['id']}.db").is_file()
    [row] = shell.audited("workspace.create")
    assert (row["actor_type"], row["actor_id"], row["target_id"]) == ("system", "cli", created["id"])


def test_cancelling_a_workspace_turns_it_read_only_until_its_purge_and_mails_the_owner(shell):
    kept = shell.json("workspaces", "create", "--name", "Kept", "--owner-email", OPERATOR)
    gone = shell.json("workspaces", "create", "--name", "Going", "--owner-email", OPERATOR)

    cancellation = shell.json("workspaces", "cancel", gone["id"])

    assert cancellation["status"] == "cancelled" and cancellation["purge_after"] > cancellation["cancelled_at"]
    assert [w["id"] for w in shell.json("workspaces", "list", "--status", "cancelled")] == [gone["id"]]
    assert [w["id"] for w in shell.json("workspaces", "list", "--status", "active")] == [kept["id"]]
    [row] = shell.audited("workspace.cancel")
    assert (row["actor_type"], row["actor_id"], row["workspace_id"]) == ("system", "cli", gone["id"])
    mails = shell.json("mail", "outbox")
    assert [(m["recipient"], m["subject"]) for m in mails] == [(OPERATOR, 'Workspace "Going" is cancelled')]
    assert_one_line_failure(shell.run("workspaces", "cancel", gone["id"]), "already cancelled")
    with shell.services() as services:
        assert services.workspaces.get(gone["id"]).status == "cancelled"


def test_what_cannot_be_created_or_cancelled_is_refused_in_one_line_and_nothing_changes(shell):
    assert_one_line_failure(shell.run("workspaces", "create", "--name", "Sales", "--owner-email",
                                      "nobody@example.com"), "no account uses nobody@example.com")
    assert_one_line_failure(shell.run("workspaces", "create", "--name", "two\nlines", "--owner-email", OPERATOR),
                            "workspace name")
    assert_one_line_failure(shell.run("workspaces", "cancel", "0123456789abcdef"), "no workspace 0123456789abcdef")

    assert shell.json("workspaces", "list") == []
    assert shell.audited("workspace") == []


@pytest.mark.parametrize("args, command, fragment", [
    (["workspaces", "create", "--name", "Sales"], "chatspark workspaces create", "--owner-email"),
    (["workspaces", "list", "--colour", "red"], "chatspark workspaces list", "unrecognized arguments: --colour"),
    (["workspaces", "list", "--status", "paused"], "chatspark workspaces list", "invalid choice: 'paused'"),
    (["workspaces", "cancel"], "chatspark workspaces cancel", "ID"),
    (["workspaces", "rename"], "chatspark workspaces", "invalid choice: 'rename'"),
])
def test_an_argument_error_prints_the_usage_of_the_subcommand(args, command, fragment):
    assert_usage_error(chatspark(*args), command, fragment)
