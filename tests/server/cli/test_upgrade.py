"""`chatspark upgrade` as an operator or the installer runs it, in a child process against a real appliance: `--check`
in text and JSON, another release's schema compared, an upgrade end to end with the real trial serve, and
`--rollback` refused without a reason or a snapshot, and done with one."""

from __future__ import annotations

import hashlib
import json
import sys

import pytest

from appliance import __version__, resources
from appliance.bootstrap import open_appliance
from appliance.clock import SystemClock
from appliance.storage.layout import Layout
from appliance.storage.migrations import KINDS
from appliance.upgrades import snapshot
from tests.server.cli.shell import OPERATOR, Shell, assert_one_line_failure

SHIPPED = {kind: len(list(resources.migrations_dir(kind).glob("[0-9][0-9][0-9][0-9]_*.sql"))) for kind in KINDS}


@pytest.fixture
def shell(tmp_path) -> Shell:
    return Shell.with_operator(tmp_path)


@pytest.fixture
def workspace_id(shell) -> str:
    return shell.json("workspaces", "create", "--name", "Support", "--owner-email", OPERATOR)["id"]


@pytest.fixture(scope="module")
def checked(tmp_path_factory) -> tuple[Shell, str]:
    """One appliance with a workspace for the module's `--check` tests, which change nothing (the first proves it)."""
    made = Shell.with_operator(tmp_path_factory.mktemp("checked"))
    return made, made.json("workspaces", "create", "--name", "Support", "--owner-email", OPERATOR)["id"]


@pytest.fixture
def previous_release(tmp_path):
    """The release the appliance runs now: a `chatspark` wrapper around this checkout."""
    folder = tmp_path / "release-1.0"
    folder.mkdir()
    (folder / "chatspark").write_text(f'#!/bin/sh\nexec {sys.executable} -m server.cli "$@"\n', encoding="utf-8")
    (folder / "chatspark").chmod(0o755)
    return folder


def layout_of(shell: Shell) -> Layout:
    return Layout.of(shell.data_dir, shell.key_dir)


def tree(shell: Shell) -> dict[str, str]:
    """Every file under the data and key directories with its sha256."""
    return {f"{name}/{path.relative_to(root)}": hashlib.sha256(path.read_bytes()).hexdigest()
            for name, root in (("data", shell.data_dir), ("keys", shell.key_dir))
            for path in sorted(root.rglob("*")) if path.is_file()}


def upgrade_log(shell: Shell) -> list[dict]:
    path = shell.data_dir / "logs" / "upgrades.log"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def schema_target(**changed: int) -> str:
    return ",".join(f"{kind}={changed.get(kind, SHIPPED[kind])}" for kind in KINDS)


def test_check_lists_every_database_up_to_date_and_changes_nothing(checked):
    shell, workspace_id = checked
    before = tree(shell)

    result = shell.run("upgrade", "--check")

    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows == [
        ["keys.db", "schema", str(SHIPPED["keystore"]), "of", str(SHIPPED["keystore"]), "up", "to", "date"],
        ["control.db", "schema", str(SHIPPED["control"]), "of", str(SHIPPED["control"]), "up", "to", "date"],
        [f"workspaces/{workspace_id}.db", "schema", str(SHIPPED["workspace"]), "of",
         str(SHIPPED["workspace"]), "up", "to", "date"],
        ["Nothing", "to", "migrate", "for", "release", f"{__version__}."],
    ]
    assert tree(shell) == before


def test_check_as_json_gives_each_databases_version_against_this_releases_latest(checked):
    shell, workspace_id = checked

    report = shell.json("upgrade", "--check")

    assert report["release"] == __version__ and report["latest"] == SHIPPED
    assert [(d["name"], d["kind"], d["version"], d["pending"], d["newer_than_release"])
            for d in report["databases"]] == [
        ("keys.db", "keystore", SHIPPED["keystore"], [], False),
        ("control.db", "control", SHIPPED["control"], [], False),
        (f"workspaces/{workspace_id}.db", "workspace", SHIPPED["workspace"], [], False)]


def test_check_against_an_older_releases_schema_exits_3_with_the_downgrade_message(checked):
    shell, _ = checked
    older = schema_target(control=SHIPPED["control"] - 1)

    result = shell.run("upgrade", "--check", "--target-schema", older)

    assert result.returncode == 3, (result.stdout, result.stderr)
    assert f"refusing a downgrade: control.db is at schema version {SHIPPED['control']}" in result.stderr
    assert "newer than the release being installed knows" in result.stderr
    assert f"(control {SHIPPED['control'] - 1})" in result.stderr and "nothing was changed" in result.stderr
    [control] = [line for line in result.stdout.splitlines() if line.startswith("control.db")]
    assert "NEWER than the release being installed" in control
    assert shell.run("upgrade", "--check", "--target-schema", schema_target()).returncode == 0


@pytest.mark.parametrize("target, fragment", [
    ("control=8", "--target-schema lacks keystore, workspace"),
    ("keystore=2,control=eight,workspace=8", "--target-schema takes keystore=N,control=N,workspace=N"),
    ("keystore=2,control=8,disk=8", "--target-schema takes keystore=N,control=N,workspace=N"),
])
def test_a_target_schema_that_is_not_kind_equals_number_for_every_kind_is_refused_in_one_line(checked, target,
                                                                                              fragment):
    shell, _ = checked
    assert_one_line_failure(shell.run("upgrade", "--check", "--target-schema", target), fragment)


def test_an_upgrade_from_the_command_line_backs_up_serves_on_trial_and_logs_its_success(shell, previous_release):
    upgraded = shell.run("upgrade", "--previous-release", str(previous_release), "--ready-timeout", "60")

    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert f"Upgraded to {__version__}: 0 migrations applied, /readyz passed." in upgraded.stdout
    [entry] = upgrade_log(shell)
    assert (entry["outcome"], entry["from"], entry["to"]) == ("upgraded", "release-1.0", __version__)
    assert entry["backup_id"] in {b["id"] for b in shell.json("backup", "list")}
    [row] = shell.audited("appliance.upgrade")
    assert (row["outcome"], row["target_id"]) == ("success", __version__)
    assert not any(folder.exists() for folder in snapshot.folders(layout_of(shell)).values())


def test_an_upgrade_onto_a_database_newer_than_this_release_exits_3_and_changes_nothing(shell, workspace_id,
                                                                                         previous_release):
    appliance = open_appliance(layout_of(shell), clock=SystemClock())
    try:
        appliance.workspaces.open(workspace_id).execute_script_in_transaction(
            f"PRAGMA user_version = {SHIPPED['workspace'] + 1};")
    finally:
        appliance.close()
    before = tree(shell)

    refused = shell.run("upgrade", "--previous-release", str(previous_release))

    assert refused.returncode == 3, (refused.stdout, refused.stderr)
    assert f"refusing a downgrade: workspaces/{workspace_id}.db is at schema version " \
           f"{SHIPPED['workspace'] + 1}" in refused.stderr
    assert tree(shell) == before


def test_a_rollback_without_a_reason_is_refused_in_one_line(shell, previous_release):
    assert_one_line_failure(shell.run("upgrade", "--rollback", "--previous-release", str(previous_release)),
                            "--rollback needs --reason")


def test_a_rollback_with_no_snapshot_says_there_is_none_and_exits_4(shell, previous_release):
    before = tree(shell)

    rolled = shell.run("upgrade", "--rollback", "--reason", "the service did not start", "--previous-release",
                       str(previous_release))

    assert rolled.returncode == 4, (rolled.stdout, rolled.stderr)
    assert "the service did not start; and there is no upgrade snapshot to roll back to" in rolled.stderr
    assert tree(shell) == before


def test_a_rollback_puts_the_snapshot_back_and_has_the_previous_release_audit_and_mail_it(shell, workspace_id,
                                                                                          previous_release):
    layout = layout_of(shell)
    taken = snapshot.take(layout, taken_at="2026-12-01T09:00:00Z", release="release-1.0")
    kept = {f.path: f.sha256 for f in taken.files}
    # What the new release did after the snapshot, which the rollback must undo.
    shell.json("workspaces", "create", "--name", "Made by the new release", "--owner-email", OPERATOR)

    rolled = shell.run("upgrade", "--rollback", "--reason", "the service did not start", "--previous-release",
                       str(previous_release))

    assert rolled.returncode == 4, (rolled.stdout, rolled.stderr)
    assert "rolled back to release-1.0: the service did not start" in rolled.stderr
    [entry] = upgrade_log(shell)
    assert (entry["outcome"], entry["reason"], sorted(entry["restored"])) == (
        "rolled back", "the service did not start", sorted(kept))
    assert [w["id"] for w in shell.json("workspaces", "list")] == [workspace_id]
    assert [p.stem for p in (shell.data_dir / "workspaces").glob("*.db")] == [workspace_id]
    [row] = shell.audited("appliance.upgrade")
    assert (row["outcome"], row["target_id"]) == ("failure", __version__)
    assert [m["recipient"] for m in shell.json("mail", "outbox")
            if m["subject"] == f"ChatSpark: the upgrade to {__version__} failed and was rolled back"] == [OPERATOR]
    assert snapshot.load(layout) is None


def test_an_appliance_whose_master_key_is_wrapped_upgrades_with_its_passphrase_file(tmp_path, previous_release):
    """The installer's path when the operator chose a passphrase at init: `passphrase_file` (here the flag) opens the
    keys for the backup, the migrations and the trial serve; without it the upgrade stops before touching anything."""
    from tests.server.conftest import init_appliance

    secret = tmp_path / "passphrase.txt"
    secret.write_text("wrapped key passphrase for the upgrade test\n")
    password_file = tmp_path / "operator-password.txt"
    password_file.write_text("violet harbour quartz lantern 58")
    shell = Shell(*init_appliance(tmp_path, "--operator-email", OPERATOR, "--password-file", str(password_file),
                                  "--passphrase-file", str(secret)))
    before = tree(shell)
    refused = shell.run("upgrade", "--previous-release", str(previous_release))
    assert refused.returncode != 0 and "passphrase" in (refused.stdout + refused.stderr).lower()
    assert tree(shell) == before

    checked = shell.run("upgrade", "--check", "--passphrase-file", str(secret))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    upgraded = shell.run("upgrade", "--previous-release", str(previous_release), "--ready-timeout", "60",
                         "--passphrase-file", str(secret))
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    [entry] = upgrade_log(shell)
    assert entry["outcome"] == "upgraded" and entry["backup_id"]
