"""`chatspark audit verify` and `chatspark audit list` as an operator runs them against a real appliance."""

from __future__ import annotations

import contextlib
import csv
import io
import json

import pytest

from appliance.audit.log import AuditLog
from appliance.bootstrap import AUDIT_MAC_KEY, open_appliance
from appliance.clock import SystemClock
from appliance.storage.layout import Layout
from tests.running import chatspark
from tests.server.conftest import init_appliance


@contextlib.contextmanager
def opened(data_dir, key_dir):
    appliance = open_appliance(Layout.of(data_dir, key_dir), clock=SystemClock())
    try:
        yield appliance, AuditLog(appliance.control_db, key=appliance.keystore.get(AUDIT_MAC_KEY),
                                  clock=appliance.clock)
    finally:
        appliance.close()


@pytest.fixture
def with_rows(tmp_path):
    """An initialised appliance whose audit log holds four rows, written in-process and closed again."""
    data_dir, key_dir = init_appliance(tmp_path)
    with opened(data_dir, key_dir) as (_appliance, audit):
        audit.record("auth.login", actor_type="user", actor_id="alice", client_address="10.0.0.7")
        audit.record("workspace.create", actor_type="user", actor_id="alice", workspace_id="ws-1",
                     details={"name": "Sales"})
        audit.record("auth.login", actor_type="user", actor_id="bob", outcome="failure")
        audit.record("export.workspace", actor_type="user", actor_id="=cmd|' /C calc'!A0", workspace_id="ws-1")
    return data_dir, key_dir


def dirs(data_dir, key_dir) -> list[str]:
    return ["--data-dir", str(data_dir), "--key-dir", str(key_dir)]


def test_audit_verify_on_a_fresh_appliance_reports_an_intact_empty_log(tmp_path):
    data_dir, key_dir = init_appliance(tmp_path)

    result = chatspark("audit", "verify", *dirs(data_dir, key_dir))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "audit log intact: 0 rows"


def test_audit_verify_counts_the_rows_of_an_intact_log(with_rows):
    result = chatspark("audit", "verify", *dirs(*with_rows))

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "audit log intact: 4 rows"


def test_audit_verify_names_an_altered_row_and_exits_4(with_rows):
    with opened(*with_rows) as (appliance, _audit):
        appliance.control_db.connection.execute("UPDATE audit_log SET outcome = 'success' WHERE seq = 3")

    result = chatspark("audit", "verify", *dirs(*with_rows))
    assert result.returncode == 4, result.stderr
    assert "row 3 was altered" in result.stdout
    assert "2 rows before it are intact" in result.stdout


def test_audit_verify_names_rows_removed_from_the_end_and_exits_4(with_rows):
    with opened(*with_rows) as (appliance, _audit):
        appliance.control_db.connection.execute("DELETE FROM audit_log WHERE seq > 2")

    result = chatspark("audit", "verify", *dirs(*with_rows))
    assert result.returncode == 4
    assert "rows after 2 were removed" in result.stdout


def test_audit_list_json_prints_the_rows(with_rows):
    result = chatspark("audit", "list", "--json", *dirs(*with_rows))

    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["seq"], r["action"], r["actor_id"], r["outcome"]) for r in rows] == [
        (1, "auth.login", "alice", "success"), (2, "workspace.create", "alice", "success"),
        (3, "auth.login", "bob", "failure"), (4, "export.workspace", "=cmd|' /C calc'!A0", "success"),
    ]
    assert rows[1]["details"] == {"name": "Sales"}


def test_audit_list_filters_by_action_prefix_workspace_and_limit(with_rows):
    by_action = chatspark("audit", "list", "--action", "auth", *dirs(*with_rows))
    by_workspace = chatspark("audit", "list", "--workspace", "ws-1", "--limit", "1", "--json", *dirs(*with_rows))

    assert by_action.returncode == 0, by_action.stderr
    lines = by_action.stdout.splitlines()
    assert len(lines) == 2 and all(" auth.login " in line for line in lines)
    assert "actor=user:bob" in lines[1] and "failure" in lines[1]
    assert [r["seq"] for r in json.loads(by_workspace.stdout)] == [2]


def test_audit_list_pages_with_after(with_rows):
    result = chatspark("audit", "list", "--after", "2", "--json", *dirs(*with_rows))

    assert [r["seq"] for r in json.loads(result.stdout)] == [3, 4]


def test_audit_list_csv_neutralises_formula_cells(with_rows):
    result = chatspark("audit", "list", "--csv", *dirs(*with_rows))

    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0][:5] == ["seq", "at", "actor_type", "actor_id", "action"]
    assert rows[4][3] == "'=cmd|' /C calc'!A0"


def test_audit_commands_fail_with_one_line_when_there_is_no_appliance(tmp_path):
    result = chatspark("audit", "verify", *dirs(tmp_path / "nothing", tmp_path / "nokeys"))

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chatspark: ") and "does not exist" in lines[0]


def test_audit_list_refuses_a_limit_of_zero_with_one_line(with_rows):
    result = chatspark("audit", "list", "--limit", "0", *dirs(*with_rows))

    assert result.returncode == 1
    assert result.stderr.strip() == "chatspark: limit must be between 1 and 10000, not 0"


@pytest.mark.parametrize("action", ["verify", "list"])
def test_audit_commands_have_help_naming_the_directories(action):
    result = chatspark("audit", action, "--help")

    assert result.returncode == 0
    assert "--data-dir" in result.stdout and "--key-dir" in result.stdout
