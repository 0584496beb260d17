"""The audit log: HMAC chain, detection of altered, removed, inserted and moved rows, injection, the rules a record
must meet (reading and export: test_events.py)."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading

import pytest

from appliance.audit.log import AuditLog, AuditVerification
from appliance.errors import ValidationError


@pytest.fixture
def five_rows(audit) -> AuditLog:
    for n in range(1, 6):
        audit.record(f"test.step{n}", actor_type="user", actor_id=f"user-{n}", target_type="thing",
                     target_id=f"thing-{n}", workspace_id="ws-1", client_address="10.0.0.1", details={"n": n})
    return audit


def raw(appliance, sql: str, *params) -> None:
    """What an attacker with the database key but not the audit key could do: plain SQL, no API."""
    appliance.control_db.connection.execute(sql, params)


def renumber_from(appliance, seq: int, by: int) -> None:
    # In two steps, so no UPDATE ever collides with an existing primary key.
    raw(appliance, "UPDATE audit_log SET seq = -seq WHERE seq >= ?", seq)
    raw(appliance, "UPDATE audit_log SET seq = -seq + ? WHERE seq < 0", by)


def forge(appliance, seq: int, action: str = "auth.login") -> None:
    raw(appliance, "INSERT INTO audit_log (seq, at, actor_type, actor_id, action, outcome, details, mac) "
                   "VALUES (?, '2026-11-29T12:00:00Z', 'user', 'intruder', ?, 'success', '{}', ?)",
        seq, action, os.urandom(32))


def swap(appliance, a: int, b: int) -> None:
    raw(appliance, "UPDATE audit_log SET seq = -1 WHERE seq = ?", a)
    raw(appliance, "UPDATE audit_log SET seq = ? WHERE seq = ?", a, b)
    raw(appliance, "UPDATE audit_log SET seq = ? WHERE seq = -1", b)


def stored(appliance, seq: int):
    return appliance.control_db.query_one("SELECT * FROM audit_log WHERE seq = ?", (seq,))


# --- the chain ----------------------------------------------------------------------------------------------------


def test_an_empty_log_verifies(audit):
    assert audit.verify() == AuditVerification(ok=True, rows_checked=0, first_bad_seq=None, problem=None)


def test_records_get_consecutive_seqs_and_the_chain_verifies(audit):
    seqs = [audit.record("job.run", details={"job": name}) for name in ("purge", "backup", "purge")]

    assert seqs == [1, 2, 3]
    result = audit.verify()
    assert (result.ok, result.rows_checked, result.first_bad_seq, result.problem) == (True, 3, None, None)


def test_each_row_stores_when_it_was_written_by_the_clock(audit, clock):
    audit.record("job.run")
    clock.advance(minutes=5)
    audit.record("job.run")

    assert [e.at for e in audit.events()] == ["2026-11-29T12:00:00Z", "2026-11-29T12:05:00Z"]


def test_a_log_checked_under_another_key_fails_at_its_first_row(five_rows, appliance):
    other = AuditLog(appliance.control_db, key=os.urandom(32), clock=appliance.clock)

    result = other.verify()
    assert not result.ok and result.first_bad_seq == 1 and result.rows_checked == 0


def test_record_inside_a_caller_transaction_commits_with_it(audit, appliance):
    with appliance.control_db.transaction() as conn:
        conn.execute("INSERT INTO workspaces (id, name, created_at) VALUES ('ws-9', 'Sales', '2026-11-29T12:00:00Z')")
        seq = audit.record("workspace.create", target_type="workspace", target_id="ws-9", conn=conn)

    assert seq == 1
    assert [e.target_id for e in audit.events()] == ["ws-9"]
    assert audit.verify().ok


def test_record_inside_a_caller_transaction_rolls_back_with_it(audit, appliance):
    audit.record("job.run")
    with pytest.raises(RuntimeError):
        with appliance.control_db.transaction() as conn:
            conn.execute("INSERT INTO workspaces (id, name, created_at) VALUES ('ws-9', 'S', '2026-11-29T12:00:00Z')")
            audit.record("workspace.create", target_id="ws-9", conn=conn)
            raise RuntimeError("the caller's change failed")

    assert appliance.control_db.query_one("SELECT 1 FROM workspaces WHERE id = 'ws-9'") is None
    assert [e.action for e in audit.events()] == ["job.run"]
    assert audit.record("job.run") == 2
    assert audit.verify().ok


def test_record_through_a_connection_outside_a_transaction_is_refused(audit, appliance):
    with pytest.raises(ValueError, match="inside db.transaction"):
        audit.record("job.run", conn=appliance.control_db.connection)
    assert audit.events() == []


def test_records_from_several_threads_stay_consecutive_and_chained(audit):
    def write(name: str) -> None:
        for _ in range(20):
            audit.record("job.run", details={"worker": name})

    workers = [threading.Thread(target=write, args=(f"w{n}",)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert [e.seq for e in audit.events(limit=1000)] == list(range(1, 81))
    assert audit.verify() == AuditVerification(ok=True, rows_checked=80)


def test_the_log_offers_no_way_to_change_or_remove_rows(audit):
    public = {name for name in dir(audit) if not name.startswith("_")}
    assert public == {"record", "verify", "events", "flush_repeats"}  # flush_repeats only appends summaries


# --- tampering by raw SQL -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("column, value", [
    ("at", "2020-01-01T00:00:00Z"), ("actor_type", "system"), ("actor_id", "user-9"), ("action", "test.other"),
    ("target_type", "other"), ("target_id", None), ("workspace_id", "ws-2"), ("client_address", "10.6.6.6"),
    ("outcome", "denied"), ("details", '{"n":33}'), ("details", '{"n": 3}'), ("actor_id", b"user-3"),
])
def test_altering_any_column_of_a_row_is_named_by_its_seq(five_rows, appliance, column, value):
    raw(appliance, f"UPDATE audit_log SET {column} = ? WHERE seq = 3", value)

    result = five_rows.verify()
    assert (result.ok, result.first_bad_seq, result.rows_checked) == (False, 3, 2)
    assert result.problem == "row 3 was altered"


def test_replacing_the_mac_of_a_row_is_named_by_its_seq(five_rows, appliance):
    raw(appliance, "UPDATE audit_log SET mac = ? WHERE seq = 2", os.urandom(32))

    result = five_rows.verify()
    assert result.first_bad_seq == 2 and result.problem == "row 2 was altered (its MAC was replaced)"


def test_altering_the_newest_row_is_named_thanks_to_the_head_checkpoint(five_rows, appliance):
    raw(appliance, "UPDATE audit_log SET outcome = 'failure' WHERE seq = 5")

    result = five_rows.verify()
    assert (result.first_bad_seq, result.problem) == (5, "row 5 was altered")


def test_deleting_a_middle_row_is_reported_as_removed(five_rows, appliance):
    raw(appliance, "DELETE FROM audit_log WHERE seq = 3")

    result = five_rows.verify()
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 3, "row 3 is missing (removed)")


def test_deleting_several_middle_rows_names_the_range(five_rows, appliance):
    raw(appliance, "DELETE FROM audit_log WHERE seq IN (2, 3, 4)")

    result = five_rows.verify()
    assert (result.first_bad_seq, result.problem) == (2, "rows 2 to 4 are missing (removed)")


def test_deleting_the_newest_rows_is_detected_by_the_head_checkpoint(five_rows, appliance):
    raw(appliance, "DELETE FROM audit_log WHERE seq > 3")

    result = five_rows.verify()
    assert (result.ok, result.rows_checked, result.first_bad_seq) == (False, 3, 4)
    assert result.problem.startswith("rows after 3 were removed")


def test_deleting_every_row_is_detected_by_the_head_checkpoint(five_rows, appliance):
    raw(appliance, "DELETE FROM audit_log")

    result = five_rows.verify()
    assert not result.ok and result.problem.startswith("all 5 rows were removed")


def test_rows_recorded_after_a_truncation_leave_it_visible_as_a_gap(five_rows, appliance):
    raw(appliance, "DELETE FROM audit_log WHERE seq > 3")

    assert five_rows.record("job.run") == 6
    result = five_rows.verify()
    assert (result.first_bad_seq, result.problem) == (4, "rows 4 to 5 are missing (removed)")


def test_deleting_the_head_checkpoint_is_detected(five_rows, appliance):
    raw(appliance, "DELETE FROM meta WHERE name = 'audit_head'")

    result = five_rows.verify()
    assert not result.ok and "head checkpoint" in result.problem and "missing" in result.problem


def test_a_forged_head_checkpoint_is_detected(five_rows, appliance):
    raw(appliance, "DELETE FROM audit_log WHERE seq > 3")
    mac = stored(appliance, 3)["mac"].hex()
    raw(appliance, "UPDATE meta SET value = ? WHERE name = 'audit_head'",
        json.dumps({"seq": 3, "mac": mac, "check": "00" * 32}))

    result = five_rows.verify()
    assert not result.ok and result.problem == "the head checkpoint (meta 'audit_head') was altered"


@pytest.mark.parametrize("value", ["not json", json.dumps({"seq": 5, "mac": "00" * 32, "check": "é"}), "[]"])
def test_a_garbled_head_checkpoint_is_reported_not_crashed_on(five_rows, appliance, value):
    raw(appliance, "UPDATE meta SET value = ? WHERE name = 'audit_head'", value)

    assert five_rows.verify().problem == "the head checkpoint (meta 'audit_head') was altered"
    assert five_rows.record("job.run") == 6


def test_a_forged_row_inserted_in_the_middle_by_renumbering_is_named(five_rows, appliance):
    renumber_from(appliance, 3, by=1)
    forge(appliance, 3)

    result = five_rows.verify()
    assert (result.first_bad_seq, result.rows_checked) == (3, 2)
    assert result.problem == "row 3 was inserted (the rows after it were renumbered)"


def test_a_forged_row_appended_at_the_end_is_named(five_rows, appliance):
    forge(appliance, 6)

    result = five_rows.verify()
    assert (result.first_bad_seq, result.rows_checked) == (6, 5)
    assert result.problem == "row 6 was inserted after the newest recorded row 5"


def test_a_forged_row_before_the_first_is_named(five_rows, appliance):
    forge(appliance, 0)

    result = five_rows.verify()
    assert (result.first_bad_seq, result.problem) == (0, "row 0 was inserted (sequence numbers start at 1)")


@pytest.mark.parametrize("a, b", [(2, 3), (2, 5), (1, 4)])
def test_swapping_two_rows_is_named_as_a_move(five_rows, appliance, a, b):
    swap(appliance, a, b)

    result = five_rows.verify()
    assert (result.ok, result.first_bad_seq) == (False, a)
    assert result.problem.startswith(f"row {a} was moved: it holds the entry written as row {b}")


def test_recording_keeps_working_after_a_forged_row_and_the_forgery_stays_visible(five_rows, appliance):
    forge(appliance, 6)

    assert five_rows.record("job.run") == 7
    assert five_rows.verify().first_bad_seq == 6


# --- log injection and secrets ------------------------------------------------------------------------------------


def test_newlines_and_terminal_escapes_are_stored_as_visible_escapes(audit, appliance):
    audit.record("auth.login\nauth.logout", actor_type="user", actor_id="alice\r\n2026-11-29 admin logged in",
                 client_address="\x1b[2J10.0.0.1", details={"agent": "curl\x1b]0;pwned\x07", "list": ["a\u2028b"]})

    row = stored(appliance, 1)
    assert row["action"] == "auth.login\\nauth.logout"
    assert row["actor_id"] == "alice\\r\\n2026-11-29 admin logged in"
    assert row["client_address"] == "\\x1b[2J10.0.0.1"
    assert json.loads(row["details"]) == {"agent": "curl\\x1b]0;pwned\\x07", "list": ["a\\u2028b"]}
    assert audit.verify().ok


def test_a_filter_value_with_control_characters_finds_the_row_it_was_recorded_in(audit):
    audit.record("auth.login", actor_type="user", actor_id="bob\nsmith")

    assert [e.actor_id for e in audit.events(actor_id="bob\nsmith")] == ["bob\\nsmith"]


def test_overlong_text_is_capped(audit):
    audit.record("auth.login", actor_type="user", actor_id="x" * 5000, details={"note": "y" * 600})

    event = audit.events()[0]
    assert len(event.actor_id) == 512 and event.actor_id.endswith("…")
    assert len(event.details["note"]) == 512


@pytest.mark.parametrize("details", [
    {"password": "hunter2"}, {"new_passphrase": "x"}, {"api_key": "cs_live_1"}, {"accessToken": "t"},
    {"client_secret": "s"}, {"key": "00ff"}, {"request": {"headers": {"Cookie": "session=1"}}},
    {"items": [{"token": "abc"}]},
])
def test_details_keys_that_look_like_secrets_are_refused(audit, details):
    with pytest.raises(ValidationError, match="looks like a secret"):
        audit.record("auth.login", details=details)
    assert audit.events() == []


def test_ordinary_details_keys_are_accepted(audit):
    details = {"key_id": "k1", "sessions_ended": 2, "owner_id": "u1", "from": "viewer", "to": "admin"}
    audit.record("member.role_change", details=details)

    assert audit.events()[0].details == details


@pytest.mark.parametrize("kwargs, fragment", [
    ({"outcome": "maybe"}, "outcome must be one of success, failure, denied"),
    ({"actor_type": "robot"}, "actor_type must be one of"),
    ({"details": {"at": dt.datetime(2026, 1, 1)}}, "must be text, a finite number"),
    ({"details": {"ratio": float("nan")}}, "must be text, a finite number"),
    ({"details": ["not", "a", "dict"]}, "details must be a dict"),
    ({"details": {"lines": ["z" * 500] * 10}}, "the limit is 4096"),
    ({"actor_id": 42}, "actor_id must be text"),
])
def test_invalid_records_are_refused_naming_the_rule(audit, kwargs, fragment):
    with pytest.raises(ValidationError, match=fragment):
        audit.record("auth.login", **kwargs)
    assert audit.events() == []


def test_an_empty_action_is_refused(audit):
    with pytest.raises(ValidationError, match="action must be a non-empty text"):
        audit.record("  ")
