"""Reading the audit log: filters, paging in either order, and the CSV and JSON exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest

from appliance.audit.log import AuditEvent, AuditLog
from appliance.errors import ValidationError
from appliance.exports.audit_events import to_csv, to_json


@pytest.fixture
def mixed(audit, clock) -> AuditLog:
    audit.record("auth.login", actor_type="user", actor_id="alice", client_address="10.0.0.1")
    audit.record("auth.login", actor_type="user", actor_id="bob", outcome="failure")
    clock.advance(hours=1)
    audit.record("workspace.create", actor_type="user", actor_id="alice", workspace_id="ws-1")
    audit.record("authz.check", actor_type="user", actor_id="bob", workspace_id="ws-1", outcome="denied")
    clock.advance(hours=1)
    audit.record("auth.logout", actor_type="user", actor_id="alice")
    audit.record("workspace.rename", actor_type="user", actor_id="alice", workspace_id="ws-2")
    return audit


@pytest.mark.parametrize("filters, seqs", [
    ({}, [1, 2, 3, 4, 5, 6]),
    ({"workspace_id": "ws-1"}, [3, 4]),
    ({"actor_id": "bob"}, [2, 4]),
    ({"action": "auth."}, [1, 2, 5]),
    ({"action": "auth"}, [1, 2, 5]),
    ({"action": "auth.login"}, [1, 2]),
    ({"outcome": "denied"}, [4]),
    ({"actor_id": "alice", "action": "workspace"}, [3, 6]),
])
def test_events_filter_by_workspace_actor_action_and_outcome(mixed, filters, seqs):
    assert [e.seq for e in mixed.events(**filters)] == seqs


def test_events_filter_by_a_time_window_including_since_and_excluding_until(mixed):
    start = dt.datetime(2026, 11, 29, 13, 0, tzinfo=dt.timezone.utc)

    assert [e.seq for e in mixed.events(since=start)] == [3, 4, 5, 6]
    assert [e.seq for e in mixed.events(since=start, until=start + dt.timedelta(hours=1))] == [3, 4]


def test_a_naive_datetime_filter_is_refused(mixed):
    with pytest.raises(ValidationError, match="timezone-aware"):
        mixed.events(since=dt.datetime(2026, 11, 29, 13, 0))


def test_after_seq_pages_through_the_log_without_overlap(mixed):
    pages, cursor = [], None
    while page := mixed.events(after_seq=cursor, limit=4):
        pages.append([e.seq for e in page])
        cursor = page[-1].seq

    assert pages == [[1, 2, 3, 4], [5, 6]]


def test_newest_first_pages_down_the_log_without_overlap_and_keeps_the_filters(mixed):
    pages, cursor = [], None
    while page := mixed.events(after_seq=cursor, limit=4, newest_first=True):
        pages.append([e.seq for e in page])
        cursor = page[-1].seq

    assert pages == [[6, 5, 4, 3], [2, 1]]
    oldest = [e.seq for e in mixed.events(action="auth")]
    assert [e.seq for e in mixed.events(action="auth", newest_first=True)] == oldest[::-1]


def test_csv_export_has_a_header_and_neutralised_formula_cells(audit):
    audit.record("export.workspace", actor_type="user", actor_id="=HYPERLINK(\"http://evil\")",
                 target_id="+1-555", workspace_id="@SUM(A1)", client_address="-2+3", details={"kind": "full"})

    rows = list(csv.reader(io.StringIO(to_csv(audit.events()))))
    assert rows[0] == ["seq", "at", "actor_type", "actor_id", "action", "target_type", "target_id", "workspace_id",
                       "client_address", "outcome", "details"]
    assert rows[1] == ["1", "2026-11-29T12:00:00Z", "user", "'=HYPERLINK(\"http://evil\")", "export.workspace", "",
                       "'+1-555", "'@SUM(A1)", "'-2+3", "success", '{"kind":"full"}']


def test_json_export_round_trips(mixed):
    mixed.record("settings.change", details={"name": "retention", "days": 30, "nested": {"on": True}})
    events = mixed.events()

    assert [AuditEvent(**item) for item in json.loads(to_json(events))] == events
