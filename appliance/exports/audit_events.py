"""The audit log as files people read: CSV for spreadsheets and JSON, from the events `AuditLog.events` returns."""

from __future__ import annotations

import dataclasses
import json

from appliance.audit import queries
from appliance.audit.log import AuditEvent
from appliance.exports.spreadsheets import to_csv as table_csv


def to_csv(events: list[AuditEvent]) -> str:
    """CSV with a header row; cells a spreadsheet would run as a formula get a leading apostrophe."""
    return table_csv(queries.COLUMNS, ([getattr(event, name) for name in queries.COLUMNS[:-1]]
                                       + [_compact(event.details)] for event in events))


def to_json(events: list[AuditEvent]) -> str:
    """A JSON array of events, each an object with the fields of AuditEvent."""
    return json.dumps([dataclasses.asdict(event) for event in events], indent=2, ensure_ascii=False)


def _compact(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
