"""Audit rows under several MAC key versions: each verifies under its own, the chain runs on across the change."""

from __future__ import annotations

import json
import os

import pytest

from appliance.audit import queries
from appliance.audit.keys import AUDIT_MAC_KEY, audit_log, key_name
from appliance.audit.log import AuditLog
from appliance.errors import ConfigurationError


@pytest.fixture
def keys(appliance) -> dict[int, bytes]:
    return {1: appliance.keystore.get(AUDIT_MAC_KEY), 2: os.urandom(32)}


@pytest.fixture
def across_a_change(appliance, keys) -> AuditLog:
    """Rows 1-3 signed under version 1, rows 4-6 under version 2."""
    before = AuditLog(appliance.control_db, key=keys[1], clock=appliance.clock)
    for n in range(1, 4):
        before.record(f"test.before{n}", details={"n": n})
    after = AuditLog(appliance.control_db, key=keys[2], key_version=2, earlier_keys={1: keys[1]},
                     clock=appliance.clock)
    for n in range(4, 7):
        after.record(f"test.after{n}", details={"n": n})
    return after


def raw(appliance, sql: str, *params) -> None:
    appliance.control_db.connection.execute(sql, params)


def versions(appliance) -> list[int]:
    return [r["key_version"] for r in appliance.control_db.query("SELECT key_version FROM audit_log ORDER BY seq")]


def test_rows_signed_before_and_after_a_key_change_all_verify(across_a_change, appliance):
    result = across_a_change.verify()

    assert (result.ok, result.rows_checked) == (True, 6)
    assert versions(appliance) == [1, 1, 1, 2, 2, 2]


def test_the_chain_runs_on_across_the_change(across_a_change, appliance, keys):
    # The first row under the new key is chained to the MAC of the last row under the old one.
    row3, row4 = (appliance.control_db.query_one("SELECT * FROM audit_log WHERE seq = ?", (seq,)) for seq in (3, 4))
    values = {name: row4[name] for name in queries.COLUMNS}
    assert AuditLog._mac(values, bytes(row3["mac"]), keys[2]) == bytes(row4["mac"])


def test_without_the_earlier_key_the_older_rows_cannot_be_verified(across_a_change, appliance, keys):
    alone = AuditLog(appliance.control_db, key=keys[2], key_version=2, clock=appliance.clock)

    result = alone.verify()
    assert (result.ok, result.first_bad_seq) == (False, 1)
    assert result.problem == "row 1 was altered: it names audit key version 1, which this appliance does not hold"


@pytest.mark.parametrize("seq", [2, 3, 4, 5])
def test_altering_a_row_is_detected_on_either_side_of_the_change(across_a_change, appliance, seq):
    raw(appliance, "UPDATE audit_log SET action = 'auth.nothing_happened' WHERE seq = ?", seq)

    result = across_a_change.verify()
    assert (result.ok, result.first_bad_seq, result.problem) == (False, seq, f"row {seq} was altered")


def test_deleting_a_row_is_detected_on_either_side_of_the_change(across_a_change, appliance):
    raw(appliance, "DELETE FROM audit_log WHERE seq IN (2, 5)")

    result = across_a_change.verify()
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 2, "row 2 is missing (removed)")


def test_moving_a_row_to_the_other_key_version_is_detected(across_a_change, appliance):
    raw(appliance, "UPDATE audit_log SET key_version = 2 WHERE seq = 2")

    result = across_a_change.verify()
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 2, "row 2 was altered")


def test_a_row_claiming_a_retired_key_after_the_change_is_detected(across_a_change, appliance):
    raw(appliance, "UPDATE audit_log SET key_version = 1 WHERE seq = 5")

    result = across_a_change.verify()
    assert (result.ok, result.first_bad_seq) == (False, 5)
    assert result.problem == ("row 5 is signed with audit key version 1, retired before the version 2 of the rows "
                              "before it")


def test_a_row_forged_with_the_retired_key_after_the_change_is_detected(across_a_change, appliance, keys):
    # Someone holding the database key and the retired audit key (an old recovery kit) appends a row with a valid
    # MAC and head checkpoint under version 1.
    newest = appliance.control_db.query_one("SELECT mac FROM audit_log WHERE seq = 6")
    values = {"seq": 7, "at": "2026-11-29T12:00:00Z", "actor_type": "user", "actor_id": "intruder",
              "action": "auth.login", "target_type": None, "target_id": None, "workspace_id": None,
              "client_address": None, "outcome": "success", "details": "{}"}
    mac = AuditLog._mac(values, bytes(newest["mac"]), keys[1])
    queries.insert_row(appliance.control_db.connection, values, mac, key_version=1)
    queries.write_head(appliance.control_db.connection, json.dumps(
        {"seq": 7, "mac": mac.hex(), "check": AuditLog._head_check(7, mac, keys[1]), "key_version": 1}))

    result = across_a_change.verify()
    assert (result.ok, result.first_bad_seq, result.rows_checked) == (False, 7, 6)
    assert "retired" in result.problem


def test_a_head_checkpoint_resigned_with_the_retired_key_is_detected(across_a_change, appliance, keys):
    head = json.loads(appliance.control_db.query_one("SELECT value FROM meta WHERE name = 'audit_head'")["value"])
    mac = bytes.fromhex(head["mac"])
    raw(appliance, "UPDATE meta SET value = ? WHERE name = 'audit_head'",
        json.dumps({"seq": 6, "mac": mac.hex(), "check": AuditLog._head_check(6, mac, keys[1]), "key_version": 1}))

    result = across_a_change.verify()
    assert not result.ok
    assert result.problem == ("the head checkpoint is signed with audit key version 1, but the newest row with "
                              "version 2 (it was replaced)")


def test_a_log_built_with_a_retired_key_refuses_to_append(across_a_change, appliance, keys):
    stale = AuditLog(appliance.control_db, key=keys[1], clock=appliance.clock)

    with pytest.raises(ConfigurationError, match="build it with appliance.audit.keys.audit_log"):
        stale.record("test.too_late")
    assert versions(appliance) == [1, 1, 1, 2, 2, 2]


def test_audit_log_from_the_keystore_signs_with_the_newest_version_and_verifies_all(appliance):
    audit_log(appliance.control_db, keystore=appliance.keystore, clock=appliance.clock).record("test.one")
    appliance.keystore.create_key(key_name(2), purpose="audit log HMAC chain")
    appliance.keystore.create_key(key_name(3), purpose="audit log HMAC chain")
    log = audit_log(appliance.control_db, keystore=appliance.keystore, clock=appliance.clock)
    log.record("test.two")

    assert key_name(1) == AUDIT_MAC_KEY and key_name(3) == "audit:mac:3"
    assert versions(appliance) == [1, 3]
    assert log.verify().ok


def test_a_head_checkpoint_written_before_key_versions_existed_still_verifies(appliance, keys):
    log = AuditLog(appliance.control_db, key=keys[1], clock=appliance.clock)
    log.record("test.old")
    head = json.loads(appliance.control_db.query_one("SELECT value FROM meta WHERE name = 'audit_head'")["value"])
    del head["key_version"]
    raw(appliance, "UPDATE meta SET value = ? WHERE name = 'audit_head'", json.dumps(head))

    assert log.verify().ok
