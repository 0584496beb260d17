"""Verification: a backup restored into scratch, every file and database checked, the result recorded."""

from __future__ import annotations

import pytest

from appliance.backups.checks import PURGED_MESSAGE
from appliance.backups.jobs import BackupVerificationFailed, prune_backups, scheduled_backup, verify_latest_backup
from appliance.errors import Conflict, NotFound
from appliance.keys.database_keys import rekey_database
from appliance.storage.database import Database
from tests.appliance.backups.conftest import failed_backup, second_workspace


def test_a_verified_backup_records_each_database_with_its_counts(services, chats, backups, clock):
    backup = backups.create()
    clock.advance(minutes=5)

    verified = backups.verify(backup.id)

    assert (verified.verification_status, verified.verified_at) == ("passed", "2026-11-29T12:05:00Z")
    result = verified.verification
    assert result["passed"] and result["problem"] is None and result["purged_workspaces"] == []
    files = {f["name"]: f for f in result["files"]}
    assert set(files) == {"control.db", f"workspaces/{chats.workspace_id}.db"}
    assert all(f["status"] == "ok" for f in files.values())
    assert files[f"workspaces/{chats.workspace_id}.db"]["counts"]["messages"] == 4
    assert backups.get(backup.id) == verified
    assert [p.name for p in backups.directory.iterdir() if p.name != ".lock"] == [backup.file_name]  # scratch gone
    event = services.audit.events(action="backup.verify")[-1]
    assert (event.target_id, event.outcome, event.details["passed"]) == (backup.id, "success", True)


def test_a_flipped_byte_fails_the_verification_and_says_so(services, chats, backups):
    backup = backups.create()
    path = backups.path_of(backup)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    verified = backups.verify(backup.id)

    assert verified.verification_status == "failed"
    assert "SHA-256 differs" in verified.verification["problem"] and "damaged" in verified.verification["problem"]
    assert services.audit.events(action="backup.verify")[-1].outcome == "failure"


def test_a_missing_backup_file_fails_the_verification(chats, backups):
    backup = backups.create()
    backups.path_of(backup).unlink()

    verified = backups.verify(backup.id)

    assert verified.verification_status == "failed" and "missing" in verified.verification["problem"]
    assert backups.describe(verified)["file_present"] is False


def test_a_workspace_purged_since_the_backup_is_reported_purged_not_failed(services, chats, backups):
    other = second_workspace(services, chats)
    backup = backups.create()
    services.appliance.workspaces.shred(other)

    verified = backups.verify(backup.id)

    assert verified.verification_status == "passed"
    result = verified.verification
    assert result["purged_workspaces"] == [other]
    purged = next(f for f in result["files"] if f["workspace_id"] == other)
    assert (purged["status"], purged["problem"]) == ("purged", PURGED_MESSAGE)
    assert purged["problem"].startswith("purged — cannot be opened")


def test_a_backup_made_before_a_key_rotation_verifies_with_the_retired_key(services, chats, backups):
    backup = backups.create()
    name = f"db:workspace:{chats.workspace_id}"
    services.knowledge.wait_idle()
    services.appliance.workspaces.close()  # as `chatspark keys rotate` does: the file to itself
    with Database(services.appliance.layout.workspace_db(chats.workspace_id),
                  services.appliance.keystore.get(name)) as db:
        rekey_database(services.appliance.keystore, name, db)
    assert len(services.appliance.keystore.retired(name)) == 1

    verified = backups.verify(backup.id)

    assert verified.verification_status == "passed", verified.verification
    checked = next(f for f in verified.verification["files"] if f["workspace_id"] == chats.workspace_id)
    assert checked["status"] == "ok" and checked["under_retired_key"] is True


def test_a_backup_under_a_material_no_longer_kept_fails_verification(services, chats, backups):
    backup = backups.create()
    name = f"db:workspace:{chats.workspace_id}"
    db = services.appliance.workspaces.open(chats.workspace_id)
    new_key = b"\x07" * 32
    db.connection.execute(f"PRAGMA rekey = \"x'{new_key.hex()}'\"")
    services.appliance.keystore.replace_secret(name, new_key)  # replaced without keeping the old material

    verified = backups.verify(backup.id)

    assert verified.verification_status == "failed"
    assert "no longer kept" in verified.verification["problem"]


def test_only_complete_backups_can_be_verified(services, chats, backups):
    failed_backup(services)

    with pytest.raises(Conflict, match="failed; only complete backups"):
        backups.verify(backups.list()[0].id)
    with pytest.raises(NotFound):
        backups.verify("nope")


def test_the_job_functions_back_up_verify_the_newest_and_prune(services, chats, clock):
    assert verify_latest_backup(services.backups) == {"verified": None}
    made = scheduled_backup(services.backups)
    assert made["workspaces"] == 1 and made["size"] > 0

    assert verify_latest_backup(services.backups) == {"verified": made["backup_id"], "passed": True,
                                              "purged_workspaces": []}
    assert prune_backups(services.backups) == {"deleted": [], "kept": 1}


def test_the_verification_job_fails_when_the_newest_backup_is_damaged(services, chats):
    made = scheduled_backup(services.backups)
    path = services.backups.directory / made["file"]
    path.write_bytes(path.read_bytes()[:-100])

    with pytest.raises(BackupVerificationFailed, match=made["backup_id"]):
        verify_latest_backup(services.backups)

    assert services.backups.get(made["backup_id"]).verification_status == "failed"
