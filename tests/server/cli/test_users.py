"""`chatspark users list|disable|enable|end-sessions` on a real appliance: what the API's operators can do to
accounts, from a shell, through the same services and audited as the CLI."""

from __future__ import annotations

import pytest

from appliance.errors import AuthenticationFailed
from tests.running import chatspark
from tests.server.cli.shell import OPERATOR, PASSWORD, Shell, assert_one_line_failure, assert_usage_error

SECOND = "second@example.com"


@pytest.fixture
def shell(tmp_path) -> Shell:
    shell = Shell.with_operator(tmp_path)
    password_file = tmp_path / "second-password.txt"
    password_file.write_text(PASSWORD)
    created = shell.run("users", "create-operator", "--email", SECOND, "--password-file", str(password_file))
    assert created.returncode == 0, created.stderr
    return shell


def test_users_are_listed_with_their_status_and_whether_they_operate(shell):
    listed = shell.json("users", "list")

    assert [(u["email"], u["status"], u["is_operator"]) for u in listed] == [(OPERATOR, "active", True),
                                                                              (SECOND, "active", True)]
    text = shell.run("users", "list")
    assert text.returncode == 0 and all(u["id"] in text.stdout for u in listed) and "(operator)" in text.stdout


def test_disabling_ends_the_sessions_and_revokes_the_api_keys_and_enabling_lets_the_account_back(shell):
    with shell.services() as services:
        second = services.users.find_by_email(SECOND)
        services.auth.login(email=SECOND, password=PASSWORD, client_address="192.0.2.7")
        workspace = services.workspaces.create(name="Kiosk", owner_id=second.id, actor_id=second.id,
                                               client_address=None)
        _, key = services.api_keys.create(workspace.id, name="CRM sync", scopes=["chat"], actor_id=second.id,
                                          client_address=None)

    disabled = shell.run("users", "disable", SECOND)

    assert disabled.returncode == 0, disabled.stderr
    assert f"{SECOND} is disabled" in disabled.stdout and f"API key {key.id} (CRM sync): revoked" in disabled.stdout
    with shell.services() as services:
        assert services.users.get(second.id).status == "disabled"
        assert services.sessions.list_for_user(second.id) == []
        assert services.api_keys.get(workspace.id, key.id).revoked_at is not None
        with pytest.raises(AuthenticationFailed):
            services.auth.login(email=SECOND, password=PASSWORD, client_address="192.0.2.7")
    [row] = shell.audited("user.disable")
    assert (row["actor_type"], row["actor_id"], row["target_id"]) == ("system", "cli", second.id)
    assert row["details"]["sessions_ended"] == 1
    [revoked] = shell.audited("api_key.revoke")
    assert (revoked["actor_type"], revoked["actor_id"], revoked["target_id"]) == ("system", "cli", key.id)

    enabled = shell.run("users", "enable", second.id)

    assert enabled.returncode == 0 and f"{SECOND} is enabled (active)" in enabled.stdout
    with shell.services() as services:
        assert services.auth.login(email=SECOND, password=PASSWORD, client_address="192.0.2.7").user.id == second.id
    [row] = shell.audited("user.enable")
    assert (row["actor_type"], row["actor_id"]) == ("system", "cli")


def test_end_sessions_signs_the_account_out_everywhere_and_keeps_it_enabled(shell):
    with shell.services() as services:
        for address in ("192.0.2.7", "198.51.100.3"):
            services.auth.login(email=SECOND, password=PASSWORD, client_address=address)

    ended = shell.run("users", "end-sessions", SECOND)

    assert ended.returncode == 0 and f"Ended 2 session(s) of {SECOND}." in ended.stdout
    with shell.services() as services:
        second = services.users.find_by_email(SECOND)
        assert services.sessions.list_for_user(second.id) == [] and second.status == "active"
    [row] = shell.audited("session.end_all")
    assert (row["actor_type"], row["actor_id"], row["details"]["sessions_ended"]) == ("system", "cli", 2)


def test_an_unknown_account_is_refused_in_one_line_and_nothing_changes(shell):
    assert_one_line_failure(shell.run("users", "disable", "nobody@example.com"), "no account nobody@example.com")
    assert_one_line_failure(shell.run("users", "disable", SECOND, "--hand-api-keys-to", "ghost"), "no account ghost")
    assert_one_line_failure(shell.run("users", "end-sessions", "not-an-id"), "no account not-an-id")

    assert [u["status"] for u in shell.json("users", "list")] == ["active", "active"]
    assert [r["action"] for r in shell.audited("user")] == ["user.create_operator"] * 2
    assert shell.audited("session") == []


@pytest.mark.parametrize("args, command, fragment", [
    (["users", "disable"], "chatspark users disable", "USER"),
    (["users", "enable", "a@example.com", "b@example.com"], "chatspark users enable", "unrecognized arguments"),
    (["users", "list", "--all"], "chatspark users list", "unrecognized arguments: --all"),
    (["users", "remove", "a@example.com"], "chatspark users", "invalid choice: 'remove'"),
])
def test_an_argument_error_prints_the_usage_of_the_subcommand(args, command, fragment):
    assert_usage_error(chatspark(*args), command, fragment)
