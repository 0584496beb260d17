"""The backup index: what each backup holds, failures recorded, leftovers of a killed backup settled, one at a time."""

from __future__ import annotations

import hashlib

import pytest

from appliance.backups import index, lock
from appliance.backups.service import INTERRUPTED, PARTIAL
from appliance.errors import Conflict, NotFound
from tests.appliance.backups.conftest import failed_backup, second_workspace


def test_a_backup_is_indexed_with_its_size_hash_key_and_workspaces(services, chats, backups):
    other = second_workspace(services, chats)

    backup = backups.create()

    data = backups.path_of(backup).read_bytes()
    assert backup.status == "complete" and backup.error is None
    assert (backup.size, backup.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert backup.key_id == "backup:1" and services.appliance.keystore.has("backup:1")
    assert set(backup.workspace_ids) == {chats.workspace_id, other}
    assert backups.directory == services.appliance.layout.data_dir / "backups"
    assert backups.list() == [backup] and backups.get(backup.id) == backup
    assert backups.describe(backup)["file_present"] is True
    event = services.audit.events(action="backup.create")[-1]
    assert (event.target_id, event.outcome, event.details["size"]) == (backup.id, "success", backup.size)


def test_unknown_backups_are_not_found(backups):
    with pytest.raises(NotFound, match="no backup nope"):
        backups.get("nope")


def test_the_newest_backup_key_encrypts_and_older_backups_stay_readable(services, chats, backups, clock):
    first = backups.create()
    services.appliance.keystore.create_key("backup:2", purpose="backup encryption")  # as a key rotation adds it
    clock.advance(days=1)

    second = backups.create()

    assert (first.key_id, second.key_id) == ("backup:1", "backup:2")
    assert backups.verify(first.id).verification_status == "passed"
    assert backups.verify(second.id).verification_status == "passed"


def test_a_failed_backup_is_recorded_audited_and_leaves_no_partial_file(services, chats, backups):
    failed_backup(services)

    [failed] = backups.list()
    assert failed.status == "failed" and "appliance.json" in failed.error
    assert services.audit.events(action="backup.create")[-1].outcome == "failure"
    assert [p.name for p in backups.directory.iterdir()] == [".lock"]
    assert backups.create().status == "complete"


def test_the_next_run_removes_partial_files_and_settles_rows_left_running(services, chats, backups):
    """What a killed backup leaves (see tests/server/cli/test_backup.py for a real SIGKILL)."""
    done = backups.create()
    backups.directory.joinpath("backup-x.backup" + PARTIAL).write_bytes(b"half an archive")
    backups.directory.joinpath("backup-x.backup.staging" + PARTIAL).mkdir()
    db = services.appliance.control_db
    with db.transaction() as conn:
        # One killed before its file was complete, one killed after the rename but before its row was updated.
        index.insert_running(conn, backup_id="killed", created_at="2026-11-29T12:00:01Z",
                             file_name="backup-killed.backup", key_id="backup:1", workspace_ids=[])
        index.insert_running(conn, backup_id="renamed", created_at="2026-11-29T12:00:02Z",
                             file_name="backup-renamed.backup", key_id="backup:1", workspace_ids=[])
    backups.path_of(done).rename(backups.directory / "backup-renamed.backup")

    listed = {b.id: b for b in backups.list()}

    assert listed["killed"].status == "failed" and listed["killed"].error == INTERRUPTED
    renamed = listed["renamed"]
    data = (backups.directory / "backup-renamed.backup").read_bytes()
    assert (renamed.status, renamed.size, renamed.sha256) == ("complete", len(data), hashlib.sha256(data).hexdigest())
    assert not any(p.name.endswith(PARTIAL) for p in backups.directory.iterdir())


def test_a_second_backup_is_refused_while_one_runs(backups, chats):
    backups.directory.mkdir(parents=True, exist_ok=True)
    with lock.holding(backups.directory):
        with pytest.raises(Conflict, match="already running"):
            backups.create()
        with pytest.raises(Conflict, match="already running"):
            backups.prune()
        assert backups.list() == []  # reading the index never waits


def test_forgetting_a_purged_workspace_drops_it_from_every_backup_in_the_index(services, chats, backups):
    other = second_workspace(services, chats)
    first = backups.verify(backups.create().id)
    second = backups.create()

    assert backups.forget_workspace(other) == 2

    for backup in (backups.get(first.id), backups.get(second.id)):
        assert backup.workspace_ids == (chats.workspace_id,)
    assert other not in str(backups.get(first.id).verification)
