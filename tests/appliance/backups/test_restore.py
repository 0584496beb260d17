"""Restore onto a fresh machine from a backup and a recovery kit: the same data, or a clear refusal and no change."""

from __future__ import annotations

import pytest

from appliance.backups.restore import RestoreRefused, restore
from appliance.bootstrap import initialise, open_appliance
from appliance.keys import masterkey
from appliance.keys.database_keys import rekey_database
from appliance.keys.recovery_kit import export_kit
from appliance.services import build_services, resume_workspaces
from appliance.storage.database import Database
from appliance.storage.layout import Layout
from tests.appliance.backups.conftest import (
    CANARY,
    FAST_SCRYPT,
    KIT_PASSPHRASE,
    add_ballast,
    kit_of,
    second_workspace,
)
from tests.appliance.conversations.chats import OWNER_PASSWORD
from tests.appliance.on_disk import snapshot


def _content(services, workspace_id: str) -> dict:
    """What a person sees of a workspace: sources, conversations with their messages, leads."""
    records = services.conversations.records(workspace_id)
    conversations = [records.get(c.id).public() for c in records.list().items]
    return {"sources": sorted((s.title, s.status, s.chunk_count)
                              for s in services.knowledge.sources(workspace_id).list()),
            "conversations": conversations,
            "leads": [lead.email for lead in services.conversations.lead_records(workspace_id).list().items]}


def _counts(db, tables) -> dict:
    return {t: db.query_one(f"SELECT count(*) FROM {t}")[0] for t in tables}


@pytest.fixture
def target(tmp_path) -> Layout:
    return Layout.of(tmp_path / "new" / "data", tmp_path / "new" / "keys")


def test_restore_onto_fresh_directories_gives_the_same_counts_and_content(services, chats, backups, clock, settings,
                                                                          target):
    other = second_workspace(services, chats)
    backup = backups.create()
    expected = {w: _content(services, w) for w in (chats.workspace_id, other)}
    tables = ("users", "workspaces", "memberships", "agent_routes")
    expected_counts = _counts(services.appliance.control_db, tables)

    result = restore(backups.path_of(backup), kit_data=kit_of(services, clock), kit_passphrase=KIT_PASSPHRASE,
                     layout=target, clock=clock)

    assert (result.backup_id, result.skipped_purged) == (backup.id, [])
    assert sorted(result.workspaces) == sorted([chats.workspace_id, other])
    restored = open_appliance(target, clock=clock)
    try:
        assert restored.appliance_id == services.appliance.appliance_id
        again = build_services(restored, settings)
        assert {w: _content(again, w) for w in (chats.workspace_id, other)} == expected
        assert CANARY in str(expected[chats.workspace_id]["conversations"])
        assert _counts(restored.control_db, tables) == expected_counts
        assert again.audit.verify().ok  # the chain continues under the same audit key
        event = again.audit.events(action="backup.restore")[-1]
        assert event.target_id == backup.id and event.details["workspaces"] == 2
        login = again.auth.login(email="op@example.com", password=OWNER_PASSWORD, client_address=None)
        assert again.workspaces.role_of(chats.workspace_id, login.user.id) == "owner"
        again.knowledge.close()
    finally:
        restored.close()
    assert not list(target.data_dir.parent.glob(".chatspark-restore-*"))  # the scratch directory is gone


def test_the_restored_master_key_can_be_wrapped_under_a_new_passphrase(services, chats, backups, clock, target):
    backup = backups.create()

    restore(backups.path_of(backup), kit_data=kit_of(services, clock), kit_passphrase=KIT_PASSPHRASE, layout=target,
            clock=clock, passphrase="a new master passphrase")

    assert masterkey.is_wrapped(target.key_dir)
    open_appliance(target, clock=clock, passphrase="a new master passphrase").close()


def _refused(services, backups, clock, target, backup_file, *, kit=None, passphrase=KIT_PASSPHRASE) -> str:
    before = snapshot(target.data_dir.parent)
    with pytest.raises(RestoreRefused) as refused:
        restore(backup_file, kit_data=kit or kit_of(services, clock), kit_passphrase=passphrase, layout=target,
                clock=clock)
    assert snapshot(target.data_dir.parent) == before  # nothing written, no scratch left behind
    assert "nothing was written" in str(refused.value)
    return str(refused.value)


def test_a_wrong_kit_passphrase_is_refused_and_changes_nothing(services, chats, backups, clock, target):
    backup = backups.create()
    target.data_dir.mkdir(parents=True)  # an empty target directory stays just that

    message = _refused(services, backups, clock, target, backups.path_of(backup), passphrase="not the passphrase")

    assert "recovery kit cannot be opened (wrong passphrase)" in message
    assert not target.key_dir.exists() and list(target.data_dir.iterdir()) == []


def test_a_truncated_backup_is_refused_and_changes_nothing(services, chats, backups, clock, target, tmp_path):
    backup = backups.create()
    truncated = tmp_path / "truncated.backup"
    truncated.write_bytes(backups.path_of(backup).read_bytes()[:backup.size // 2])

    message = _refused(services, backups, clock, target, truncated)

    assert "cut short" in message and not target.data_dir.exists() and not target.key_dir.exists()


def test_a_backup_cut_at_a_chunk_boundary_is_refused(services, chats, backups, clock, target, tmp_path):
    add_ballast(services, chats.workspace_id, megabytes=3)
    backup = backups.create()
    data = backups.path_of(backup).read_bytes()
    cut = tmp_path / "cut.backup"
    # Keep the header and the first chunk whole: only the missing 'last chunk' mark can tell.
    header_end = 18 + int.from_bytes(data[14:18], "big")
    first_chunk = int.from_bytes(data[header_end:header_end + 4], "big")
    cut.write_bytes(data[:header_end + 4 + first_chunk])

    assert "cut short" in _refused(services, backups, clock, target, cut)


def test_a_flipped_byte_is_refused_and_changes_nothing(services, chats, backups, clock, target, tmp_path):
    backup = backups.create()
    data = bytearray(backups.path_of(backup).read_bytes())
    data[-200] ^= 0x40
    flipped = tmp_path / "flipped.backup"
    flipped.write_bytes(bytes(data))

    message = _refused(services, backups, clock, target, flipped)

    assert "damaged" in message and not target.data_dir.exists()


def test_a_target_that_is_not_empty_is_refused(services, chats, backups, clock, target):
    backup = backups.create()
    target.key_dir.mkdir(parents=True)
    (target.key_dir / "master.key").write_bytes(b"someone else's key")

    message = _refused(services, backups, clock, target, backups.path_of(backup))

    assert f"{target.key_dir} is not empty" in message and "not offered" in message


def test_a_kit_of_another_appliance_is_refused(services, chats, backups, clock, target, tmp_path):
    backup = backups.create()
    stranger = Layout.of(tmp_path / "stranger" / "data", tmp_path / "stranger" / "keys")
    initialise(stranger, clock=clock)
    other = open_appliance(stranger, clock=clock)
    try:
        other.keystore.create_key("backup:1", purpose="backup encryption")
        kit = export_kit(other.keystore, passphrase=KIT_PASSPHRASE, clock=clock, scrypt=FAST_SCRYPT)
    finally:
        other.close()

    message = _refused(services, backups, clock, target, backups.path_of(backup), kit=kit)

    assert "wrong key (this file needs backup:1)" in message


def test_a_kit_without_the_backup_key_names_the_key_it_lacks(services, chats, backups, clock, target):
    kit = kit_of(services, clock)  # exported before the first backup made backup:1
    backup = backups.create()

    message = _refused(services, backups, clock, target, backups.path_of(backup), kit=kit)

    assert "encrypted under backup:1, which this recovery kit does not hold" in message


def test_a_workspace_purged_after_the_backup_is_left_out_and_its_rows_removed(services, chats, backups, clock,
                                                                              settings, target):
    other = second_workspace(services, chats)
    earlier = backups.create()
    clock.advance(days=1)
    backup = backups.create()
    services.appliance.workspaces.shred(other)  # the purge destroys the key first
    kit = kit_of(services, clock)  # a kit exported after the purge no longer holds it

    result = restore(backups.path_of(backup), kit_data=kit, kit_passphrase=KIT_PASSPHRASE, layout=target,
                     clock=clock)

    assert (result.workspaces, result.skipped_purged) == ([chats.workspace_id], [other])
    assert not target.workspace_db(other).exists()
    restored = open_appliance(target, clock=clock)
    try:
        again = build_services(restored, settings)
        assert [w.id for w in again.workspaces.list_all()] == [chats.workspace_id]
        assert restored.control_db.query("SELECT * FROM memberships WHERE workspace_id = ?", (other,)) == []
        resume_workspaces(again, [w.id for w in again.workspaces.list_all()])  # what `chatspark serve` does at start
        assert set(backups.get(backup.id).workspace_ids) == {chats.workspace_id, other}  # the live index is untouched
        # The restored index (as of the backup) knows the earlier backup, and has forgotten the purged workspace.
        assert again.backups.get(earlier.id).workspace_ids == (chats.workspace_id,)
        event = again.audit.events(action="backup.restore")[-1]
        assert event.details["skipped_purged"] == [other]
        again.knowledge.close()
    finally:
        restored.close()


def test_a_backup_from_before_a_rotation_restores_with_a_kit_exported_after_it(services, chats, backups, clock,
                                                                             settings, target):
    backup = backups.create()
    expected = _content(services, chats.workspace_id)
    name = f"db:workspace:{chats.workspace_id}"
    services.knowledge.wait_idle()
    services.appliance.workspaces.close()  # as `chatspark keys rotate` does: the file to itself
    keystore = services.appliance.keystore
    with Database(services.appliance.layout.workspace_db(chats.workspace_id), keystore.get(name)) as db:
        rekey_database(keystore, name, db)

    restore(backups.path_of(backup), kit_data=kit_of(services, clock), kit_passphrase=KIT_PASSPHRASE, layout=target,
            clock=clock)

    restored = open_appliance(target, clock=clock)
    try:
        # The old copy was moved to the key's current material: the restored keystore opens it as usual.
        assert restored.keystore.get(name) == keystore.get(name)
        again = build_services(restored, settings)
        assert _content(again, chats.workspace_id) == expected
        again.knowledge.close()
    finally:
        restored.close()
