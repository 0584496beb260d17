"""Key rotation in one process: new keys for every database (old ones refused), new backup and audit key versions."""

from __future__ import annotations

import pytest

from appliance.audit.keys import AUDIT_MAC_KEY, audit_log
from appliance.backups import keys as backup_keys
from appliance.bootstrap import open_appliance
from appliance.errors import DatabaseUnreadable, DataDirectoryBusy, ValidationError
from appliance.keys import rotation
from appliance.keys.keystore import CONTROL_DB_KEY, workspace_db_key
from appliance.storage.database import Database
from appliance.storage.encrypted_files import decrypt_bytes, encrypt_bytes
from tests.appliance.keys.populated import canary_found, contents, populate


@pytest.fixture
def workspaces(initialised, clock, settings) -> list[str]:
    return populate(initialised, clock=clock, settings=settings, workspaces=3, messages_per_workspace=200)


@pytest.fixture
def exclusive(initialised, clock, workspaces):
    opened = open_appliance(initialised, clock=clock, exclusive=True)
    yield opened
    opened.close()


def database_keys(appliance, workspaces) -> dict:
    """Path and key of every database, as the keystore records them now."""
    found = {appliance.layout.control_db: appliance.keystore.get(CONTROL_DB_KEY)}
    for workspace_id in workspaces:
        found[appliance.layout.workspace_db(workspace_id)] = appliance.keystore.get(workspace_db_key(workspace_id))
    return found


def test_after_rotation_every_database_opens_under_its_new_key_and_not_under_the_old(exclusive, workspaces,
                                                                                      initialised, clock):
    old = database_keys(exclusive, workspaces)
    before = contents(exclusive, workspaces)

    rotation.rotate(exclusive)
    new = database_keys(exclusive, workspaces)
    exclusive.close()

    for path in old:
        assert new[path] != old[path]
        with pytest.raises(DatabaseUnreadable):
            Database.check_file(path, old[path])
        Database.check_file(path, new[path])
    reopened = open_appliance(initialised, clock=clock)
    try:
        assert contents(reopened, workspaces) == before
        assert all(canary_found(reopened, workspace_id) for workspace_id in workspaces)
    finally:
        reopened.close()


def test_rotation_reports_and_audits_each_key_without_its_material(exclusive, workspaces):
    done = rotation.rotate(exclusive)

    expected = [("control", CONTROL_DB_KEY, 1, 2)]
    expected += [("workspaces", workspace_db_key(w), 1, 2) for w in sorted(workspaces)]
    expected += [("backup", "backup:1", None, 1), ("audit", "audit:mac:2", 1, 2)]
    assert [(r.part, r.key_name, r.from_version, r.to_version) for r in done] == expected
    log = audit_log(exclusive.control_db, keystore=exclusive.keystore, clock=exclusive.clock)
    events = log.events(action="key.rotate")
    assert [(e.target_id, e.details["from_version"], e.details["to_version"]) for e in events] == [
        (name, before, after) for _, name, before, after in expected]
    assert [e.workspace_id for e in events][1:4] == sorted(workspaces)
    stored = " ".join(str(e) for e in events)
    for record in exclusive.keystore.records():
        assert exclusive.keystore.get(record.name).hex() not in stored


def test_the_audit_log_verifies_across_a_rotation_and_new_rows_are_signed_with_the_new_key(exclusive):
    log = audit_log(exclusive.control_db, keystore=exclusive.keystore, clock=exclusive.clock)
    rows_before = log.verify().rows_checked

    rotation.rotate(exclusive, parts=["audit"])
    after = audit_log(exclusive.control_db, keystore=exclusive.keystore, clock=exclusive.clock)
    after.record("test.after_rotation")

    result = after.verify()
    assert (result.ok, result.rows_checked) == (True, rows_before + 2)
    versions = [r["key_version"] for r in exclusive.control_db.query("SELECT key_version FROM audit_log")]
    assert versions == [1] * rows_before + [2, 2]
    assert exclusive.keystore.has(AUDIT_MAC_KEY)


@pytest.mark.parametrize("side", ["before", "after"])
def test_tampering_on_either_side_of_an_audit_key_rotation_is_detected(exclusive, side):
    rotation.rotate(exclusive, parts=["audit"])
    rotation.rotate(exclusive, parts=["audit"])
    rows = exclusive.control_db.query("SELECT seq, key_version FROM audit_log ORDER BY seq")
    target = next(r["seq"] for r in rows if (r["key_version"] == 1) == (side == "before"))
    exclusive.control_db.connection.execute("UPDATE audit_log SET actor_id = 'someone-else' WHERE seq = ?",
                                            (target,))

    result = audit_log(exclusive.control_db, keystore=exclusive.keystore, clock=exclusive.clock).verify()
    assert (result.ok, result.first_bad_seq, result.problem) == (False, target, f"row {target} was altered")


def test_backups_encrypted_under_an_older_backup_key_still_decrypt_after_rotation(exclusive):
    name, key = backup_keys.current_key(exclusive.keystore)
    old_backup = encrypt_bytes(b"a backup made before the rotation", purpose="backup", key=key, key_id=name)

    rotation.rotate(exclusive, parts=["backup"])

    assert backup_keys.current_key(exclusive.keystore)[0] == "backup:2"
    keystore = exclusive.keystore
    assert decrypt_bytes(old_backup, purpose="backup",
                         key=lambda header: keystore.get(header.key_id)) == b"a backup made before the rotation"
    new_name, new_key = backup_keys.current_key(keystore)
    new_backup = encrypt_bytes(b"made after", purpose="backup", key=new_key, key_id=new_name)
    assert decrypt_bytes(new_backup, purpose="backup", key=lambda header: keystore.get(header.key_id)) == b"made after"


def test_rotating_some_parts_leaves_the_other_keys_as_they_were(exclusive, workspaces):
    keys_before = {r.name: exclusive.keystore.get(r.name) for r in exclusive.keystore.records()}

    done = rotation.rotate(exclusive, parts=["workspaces"])

    assert {r.part for r in done} == {"workspaces"}
    for name, material in keys_before.items():
        changed = exclusive.keystore.get(name) != material
        assert changed == name.startswith("db:workspace:"), name
    assert not exclusive.keystore.has("backup:1") and not exclusive.keystore.has("audit:mac:2")


def test_rotating_again_moves_every_database_on_to_another_key(exclusive, workspaces):
    rotation.rotate(exclusive)
    second = database_keys(exclusive, workspaces)

    done = rotation.rotate(exclusive)

    assert {(r.key_name, r.from_version, r.to_version) for r in done if r.part == "control"} == {
        (CONTROL_DB_KEY, 2, 3)}
    assert [r.key_name for r in done if r.part in ("backup", "audit")] == ["backup:2", "audit:mac:3"]
    for path, key in database_keys(exclusive, workspaces).items():
        assert key != second[path]
    assert audit_log(exclusive.control_db, keystore=exclusive.keystore, clock=exclusive.clock).verify().ok


def test_a_workspace_key_without_a_file_is_skipped(exclusive, workspaces):
    exclusive.keystore.create_key(workspace_db_key("never-made"), purpose="workspace database")

    done = rotation.rotate(exclusive, parts=["workspaces"])

    assert sorted(r.workspace_id for r in done) == sorted(workspaces)
    assert exclusive.keystore.version(workspace_db_key("never-made")) == 1


def test_rotation_refuses_an_appliance_not_opened_exclusively(appliance):
    with pytest.raises(DataDirectoryBusy, match="opened exclusively"):
        rotation.rotate(appliance)
    assert appliance.keystore.version(CONTROL_DB_KEY) == 1


def test_an_exclusive_open_is_refused_while_another_opener_holds_the_appliance(appliance, initialised, clock):
    with pytest.raises(DataDirectoryBusy, match="stop the service"):
        open_appliance(initialised, clock=clock, exclusive=True)


def test_nothing_else_opens_the_appliance_while_a_rotation_holds_it(exclusive, initialised, clock):
    with pytest.raises(DataDirectoryBusy, match="a key rotation is running"):
        open_appliance(initialised, clock=clock)


def test_unknown_parts_are_refused_before_anything_rotates(exclusive):
    with pytest.raises(ValidationError, match="unknown key part"):
        rotation.rotate(exclusive, parts=["control", "everything"])
    assert exclusive.keystore.version(CONTROL_DB_KEY) == 1


def test_key_versions_read_from_names_for_backup_and_audit_keys(exclusive):
    rotation.rotate(exclusive, parts=["control", "backup", "audit"])
    rotation.rotate(exclusive, parts=["audit"])

    versions = {r.name: rotation.key_version(r) for r in exclusive.keystore.records()}
    assert {name: versions[name] for name in ("db:control", "backup:1", "audit:mac", "audit:mac:2",
                                               "audit:mac:3")} == {
        "db:control": 2, "backup:1": 1, "audit:mac": 1, "audit:mac:2": 2, "audit:mac:3": 3}
