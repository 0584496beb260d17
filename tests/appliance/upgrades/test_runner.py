"""An upgrade run in this process against a real appliance, with the previous release a `chatspark` wrapper around
this checkout: it backs up, snapshots, migrates and serves on trial, or rolls every database back byte for byte and
has the previous release audit and mail the failure; and it refuses, changing nothing, what it must not start."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sys

import pytest

from appliance import __version__, resources
from appliance.backups import index
from appliance.bootstrap import open_appliance
from appliance.services import build_services
from appliance.storage.migrations import KINDS
from appliance.upgrades import schema, snapshot
from appliance.upgrades.runner import (
    AUDIT_ACTION,
    DowngradeRefused,
    Release,
    Upgrade,
    UpgradeFailed,
    UpgradeRefused,
)
from tests.appliance.upgrades.conftest import OPERATORS

TO_RELEASE = "release-2.0"
FAILURE_SUBJECT = f"ChatSpark: the upgrade to {TO_RELEASE} failed and was rolled back"
SHIPPED = {kind: len(list(resources.migrations_dir(kind).glob("[0-9][0-9][0-9][0-9]_*.sql"))) for kind in KINDS}
EXTRA = "CREATE TABLE upgrade_probe (id INTEGER PRIMARY KEY);"


def release_folder(path, script: str):
    path.mkdir()
    (path / "chatspark").write_text(f"#!/bin/sh\n{script}\n", encoding="utf-8")
    (path / "chatspark").chmod(0o755)
    return path


@pytest.fixture
def previous_release(tmp_path):
    """The release the appliance runs now: this checkout's `chatspark`, run from its own folder."""
    return release_folder(tmp_path / "release-1.0", f'exec {sys.executable} -m server.cli "$@"')


def upgrade(layout, release, clock, said: list[str], **options) -> Upgrade:
    return Upgrade(layout=layout, previous=Release(release), clock=clock, to_release=TO_RELEASE,
                   flags=["--data-dir", str(layout.data_dir), "--key-dir", str(layout.key_dir)], say=said.append,
                   **options)


def migrations_with(tmp_path, monkeypatch, extra: dict[str, dict[str, str]] | None = None,
                    without: tuple[str, ...] = ()) -> None:
    """The shipped migrations copied aside, `extra` files added per kind and `without` (kind/name) taken out, found
    where this process's code looks; the previous release, a child process, still finds the shipped ones."""
    root = tmp_path / "migrations"
    shutil.copytree(resources.shipped("migrations"), root)
    for kind, files in (extra or {}).items():
        for name, sql in files.items():
            (root / kind / name).write_text(sql, encoding="utf-8")
    for name in without:
        (root / name).unlink()
    monkeypatch.setattr(resources, "migrations_dir", lambda kind: root / kind)


def next_migration(kind: str, name: str = "x") -> str:
    return f"{SHIPPED[kind] + 1:04d}_{name}.sql"


def tree(layout) -> dict[str, str]:
    """Every file under the data and key directories with its sha256 (but the -shm read index, rebuilt at will)."""
    return {f"{name}/{path.relative_to(root)}": hashlib.sha256(path.read_bytes()).hexdigest()
            for name, root in (("data", layout.data_dir), ("keys", layout.key_dir))
            for path in sorted(root.rglob("*")) if path.is_file() and not path.name.endswith("-shm")}


def state_hashes(layout) -> dict[str, str]:
    return {str(path.relative_to(layout.key_dir if root == "keys" else layout.data_dir)):
            hashlib.sha256(path.read_bytes()).hexdigest() for root, path in snapshot.state_files(layout)}


def upgrade_log(layout) -> list[dict]:
    path = layout.logs_dir / "upgrades.log"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def upgrade_events(services) -> list:
    return services.audit.events(action=AUDIT_ACTION)


@contextlib.contextmanager
def services_of(layout, clock, settings):
    """The appliance's services in this process, closed again after."""
    appliance = open_appliance(layout, clock=clock)
    services = build_services(appliance, settings)
    try:
        yield services
    finally:
        services.knowledge.close()
        appliance.close()


def assert_rolled_back(layout, before: dict[str, str], *, reason: str, said: list[str], monkeypatch, clock,
                       settings, logged_before: tuple[str, ...] = ()) -> None:
    """Every state file as it was before the run; control.db (which the previous release has since written the
    failure into) restored at the shipped version; one failure row audited and one mail per operator; the rollback
    logged after the outcomes `logged_before`."""
    after = state_hashes(layout)
    assert sorted(after) == sorted(before)
    assert {name: after[name] for name in before if name != "control.db"} == \
        {name: digest for name, digest in before.items() if name != "control.db"}
    *earlier, entry = upgrade_log(layout)
    assert [e["outcome"] for e in earlier] == list(logged_before)
    assert (entry["outcome"], entry["from"], entry["to"]) == ("rolled back", "release-1.0", TO_RELEASE)
    assert reason in entry["reason"] and sorted(entry["restored"]) == sorted(before)
    assert {d.name: d.version for d in schema.inspect(layout)} == {
        name: SHIPPED[kind] for name, kind in (("keys.db", "keystore"), ("control.db", "control"))} | {
        name: SHIPPED["workspace"] for name in before if name.startswith("workspaces/")}
    assert not any(folder.exists() for folder in snapshot.folders(layout).values())
    assert any("the failure is in the audit log and mailed to the operators" in line for line in said), said
    monkeypatch.undo()  # opened by the shipped migrations, as the previous release opens it
    with services_of(layout, clock, settings) as services:
        [event] = upgrade_events(services)
        assert (event.outcome, event.target_id, event.details["rolled_back_to"]) == ("failure", TO_RELEASE,
                                                                                    __version__)
        assert reason in event.details["reason"]
        mails = [m for m in services.outbox.recent() if m.subject == FAILURE_SUBJECT]
        assert sorted(m.recipient for m in mails) == sorted(OPERATORS)
        assert services.audit.verify().ok


# Success --------------------------------------------------------------------------------------------------------


def test_an_upgrade_backs_up_serves_on_trial_and_records_its_success(layout, workspace_id, previous_release, clock,
                                                                     settings):
    said: list[str] = []

    done = upgrade(layout, previous_release, clock, said, ready_timeout=60).run()

    assert (done["outcome"], done["from"], done["to"], done["migrations"]) == ("upgraded", "release-1.0",
                                                                               TO_RELEASE, [])
    assert upgrade_log(layout) == [done]
    assert any(line.startswith("Trial serve on port ") and "passed /readyz" in line for line in said), said
    assert not any(folder.exists() for folder in snapshot.folders(layout).values())
    assert not (layout.data_dir / "serving.json").exists()  # a trial leaves no record for `status` to find
    with services_of(layout, clock, settings) as services:
        # The trial serve ran no job (no catch-up backup, sweep or mail): the one backup is the pre-upgrade one.
        [backup] = index.all_backups(services.appliance.control_db)
        assert services.appliance.control_db.query_one("SELECT count(*) FROM job_runs")[0] == 0
        assert (backup.id, backup.status, backup.verification_status) == (done["backup_id"], "complete", "passed")
        assert (layout.data_dir / "backups" / backup.file_name).is_file()
        [event] = upgrade_events(services)
        assert (event.outcome, event.target_id, event.details) == (
            "success", TO_RELEASE, {"from": "release-1.0", "migrations": 0, "backup_id": backup.id})


def test_an_upgrade_applies_this_releases_new_migrations_to_every_database_before_the_trial(
        layout, workspace_id, previous_release, clock, tmp_path, monkeypatch):
    migrations_with(tmp_path, monkeypatch, {kind: {next_migration(kind): EXTRA} for kind in KINDS})
    seen_at_trial: list[dict] = []

    def serves(running: Upgrade) -> None:
        seen_at_trial.append({d.name: d.version for d in schema.inspect(running.layout)})

    done = upgrade(layout, previous_release, clock, [], serves=serves).run(backup=False)

    workspace = f"workspaces/{workspace_id}.db"
    assert done["migrations"] == [f"keys.db: {next_migration('keystore')}", f"control.db: {next_migration('control')}",
                                  f"{workspace}: {next_migration('workspace')}"]
    assert seen_at_trial == [{"keys.db": SHIPPED["keystore"] + 1, "control.db": SHIPPED["control"] + 1,
                              workspace: SHIPPED["workspace"] + 1}]
    assert all(d.pending == () for d in schema.inspect(layout))
    assert upgrade_log(layout) == [done]


def test_an_upgrade_told_to_skip_the_backup_makes_none(layout, workspace_id, previous_release, clock, settings):
    said: list[str] = []

    done = upgrade(layout, previous_release, clock, said, serves=lambda running: None).run(backup=False)

    assert done["backup_id"] is None and "Pre-upgrade backup skipped, as asked." in said
    assert not (layout.data_dir / "backups").exists() or not any((layout.data_dir / "backups").iterdir())
    with services_of(layout, clock, settings) as services:
        assert index.all_backups(services.appliance.control_db) == []
        assert [e.outcome for e in upgrade_events(services)] == ["success"]


# Rollback -------------------------------------------------------------------------------------------------------


def test_a_failing_migration_rolls_every_database_back_and_the_previous_release_audits_and_mails_it(
        layout, workspace_id, previous_release, clock, settings, tmp_path, monkeypatch):
    # The control database migrates first, so there is a migrated file to put back when the workspace's fails.
    migrations_with(tmp_path, monkeypatch, {"control": {next_migration("control"): EXTRA},
                                            "workspace": {next_migration("workspace", "broken"): "CREATE TABLE (;"}})
    before = state_hashes(layout)
    said: list[str] = []

    with pytest.raises(UpgradeFailed, match=f"rolled back to release-1.0: a migration failed: .*"
                                            f"{next_migration('workspace', 'broken')} failed"):
        upgrade(layout, previous_release, clock, said, serves=lambda running: None).run(backup=False)

    assert_rolled_back(layout, before, reason=f"migration {next_migration('workspace', 'broken')} failed",
                       said=said, monkeypatch=monkeypatch, clock=clock, settings=settings)


def test_a_failing_trial_serve_rolls_every_migrated_database_back(layout, workspace_id, previous_release, clock,
                                                                  settings, tmp_path, monkeypatch):
    migrations_with(tmp_path, monkeypatch, {kind: {next_migration(kind): EXTRA} for kind in KINDS})
    before = state_hashes(layout)
    said: list[str] = []
    migrated: list[dict] = []

    def serves(running: Upgrade) -> None:
        migrated.append({d.name: d.version for d in schema.inspect(running.layout)})
        raise RuntimeError("/readyz answered HTTP 503")

    with pytest.raises(UpgradeFailed, match="the new release did not serve: /readyz answered HTTP 503"):
        upgrade(layout, previous_release, clock, said, serves=serves).run(backup=False)

    assert migrated[0]["control.db"] == SHIPPED["control"] + 1
    assert_rolled_back(layout, before, reason="/readyz answered HTTP 503", said=said, monkeypatch=monkeypatch,
                       clock=clock, settings=settings)


def test_an_upgrade_that_keeps_its_snapshot_can_still_be_rolled_back_when_the_service_then_fails_to_start(
        layout, workspace_id, previous_release, clock, settings, tmp_path, monkeypatch):
    migrations_with(tmp_path, monkeypatch, {kind: {next_migration(kind): EXTRA} for kind in KINDS})
    before = state_hashes(layout)
    said: list[str] = []
    upgraded = upgrade(layout, previous_release, clock, said, serves=lambda running: None)
    upgraded.run(backup=False, keep_snapshot=True)
    assert snapshot.load(layout) is not None

    with pytest.raises(UpgradeFailed, match="rolled back to release-1.0: the service did not start"):
        upgraded.roll_back("the service did not start")

    # The success row went with the control database it was written into: the failure row is the one audited.
    assert_rolled_back(layout, before, reason="the service did not start", said=said, monkeypatch=monkeypatch,
                       clock=clock, settings=settings, logged_before=("upgraded",))


# Refusals -------------------------------------------------------------------------------------------------------


def test_a_database_newer_than_this_release_is_refused_as_a_downgrade_and_nothing_changes(
        layout, workspace_id, previous_release, clock, tmp_path, monkeypatch):
    newest = sorted(resources.migrations_dir("workspace").glob("*.sql"))[-1]
    migrations_with(tmp_path, monkeypatch, without=(f"workspace/{newest.name}",))
    before = tree(layout)

    with pytest.raises(DowngradeRefused, match=f"refusing a downgrade: workspaces/{workspace_id}.db is at schema "
                                               f"version {SHIPPED['workspace']}, newer than release {TO_RELEASE} "
                                               f"knows \\(workspace {SHIPPED['workspace'] - 1}\\)"):
        upgrade(layout, previous_release, clock, [], serves=lambda running: None).run()

    assert tree(layout) == before


def test_an_appliance_still_running_is_refused_with_stop_the_service_and_nothing_changes(
        layout, workspace_id, previous_release, clock):
    running = open_appliance(layout, clock=clock)
    try:
        before = tree(layout)

        with pytest.raises(UpgradeRefused, match="is in use: stop the service .* nothing was changed"):
            upgrade(layout, previous_release, clock, [], serves=lambda running: None).run()

        assert tree(layout) == before
    finally:
        running.close()


def test_a_failed_pre_upgrade_backup_refuses_the_upgrade_and_nothing_changes(layout, workspace_id, tmp_path,
                                                                             clock):
    broken = release_folder(tmp_path / "release-1.0", 'echo "backup: no space left on device" >&2; exit 1')
    before = tree(layout)

    with pytest.raises(UpgradeRefused, match="the pre-upgrade backup failed \\(release-1.0 exited 1: backup: no "
                                             "space left on device\\); nothing was changed"):
        upgrade(layout, broken, clock, [], serves=lambda running: None).run()

    assert tree(layout) == before


def test_a_previous_release_folder_without_chatspark_is_refused_and_nothing_changes(layout, workspace_id, tmp_path,
                                                                                    clock):
    empty = tmp_path / "release-1.0"
    empty.mkdir()
    before = tree(layout)

    with pytest.raises(UpgradeRefused, match="has no `chatspark` command"):
        upgrade(layout, empty, clock, [], serves=lambda running: None).run()

    assert tree(layout) == before
