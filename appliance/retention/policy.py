"""Retention policies and legal holds as stored in the control database, and the rules a proposed policy must meet."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from appliance.clock import isoformat
from appliance.errors import NotFound, ValidationError
from appliance.storage.database import Database

MIN_DAYS, MAX_DAYS = 1, 3650
ADDRESS_ACTIONS = ("truncate", "drop")
DAY_FIELDS = ("conversations_days", "leads_days", "analytics_events_days", "visitor_addresses_days",
              "uploaded_originals_days")
FIELDS = (*DAY_FIELDS, "visitor_addresses_action")
MAX_REASON = 500


@dataclass(frozen=True)
class RetentionPolicy:
    """Days each kind of data is kept after it was last touched; None keeps it while the workspace is active."""

    conversations_days: int | None = None        # by the conversation's last activity; messages and index go with it
    leads_days: int | None = None                # by when the lead was left
    analytics_events_days: int | None = None     # by when the event happened
    visitor_addresses_days: int | None = None    # by when the conversation started or the lead was left
    visitor_addresses_action: str = "truncate"   # truncate: IPv4 to /24, IPv6 to /48; drop: remove
    uploaded_originals_days: int | None = None   # uploaded files; the source stays indexed and answering

    @classmethod
    def from_json(cls, data: Any) -> "RetentionPolicy":
        """A policy from a request body; a field left out keeps its kind while the workspace is active."""
        if not isinstance(data, dict):
            raise ValidationError("the retention policy must be a JSON object, like {\"conversations_days\": 90}")
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise ValidationError(f"unknown retention field {unknown[0]!r}; the fields are: {', '.join(FIELDS)}")
        values: dict[str, Any] = {}
        for name in DAY_FIELDS:
            days = data.get(name)
            if days is not None and (isinstance(days, bool) or not isinstance(days, int)
                                     or not MIN_DAYS <= days <= MAX_DAYS):
                raise ValidationError(f"'{name}' is a whole number of days from {MIN_DAYS} to {MAX_DAYS}, or null to "
                                      "keep that data while the workspace is active")
            values[name] = days
        action = data.get("visitor_addresses_action", "truncate")
        if action not in ADDRESS_ACTIONS:
            raise ValidationError("'visitor_addresses_action' is 'truncate' (IPv4 to /24, IPv6 to /48) or 'drop'")
        return cls(**values, visitor_addresses_action=action)

    def public(self) -> dict:
        return asdict(self)

    def keeps_everything(self) -> bool:
        return all(getattr(self, name) is None for name in DAY_FIELDS)

    def cutoff(self, name: str, now: dt.datetime) -> str | None:
        """The instant before which data of this kind goes: `now` less the policy's days, or None to keep it all."""
        days = getattr(self, name)
        return None if days is None else isoformat(now - dt.timedelta(days=days))


@dataclass(frozen=True)
class LegalHold:
    since: str
    reason: str | None

    def public(self) -> dict:
        return {"since": self.since, "reason": self.reason}


def _policy(row) -> RetentionPolicy:
    if row is None:
        return RetentionPolicy()
    return RetentionPolicy(**{name: row[name] for name in FIELDS})


class RetentionPolicies:
    """Reads and writes the policies and legal holds; callers write inside their own transaction, to audit with it."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, workspace_id: str) -> RetentionPolicy:
        self._check_exists(self._db.connection, workspace_id)
        return _policy(self._db.query_one("SELECT * FROM retention_policies WHERE workspace_id = ?", (workspace_id,)))

    def all(self) -> dict[str, RetentionPolicy]:
        """Every workspace with a policy that deletes something."""
        return {row["workspace_id"]: _policy(row) for row in self._db.query("SELECT * FROM retention_policies")}

    def put(self, conn, workspace_id: str, policy: RetentionPolicy, *, at: str, by: str | None) -> RetentionPolicy:
        """Store `policy` and return the one it replaced."""
        self._check_exists(conn, workspace_id)
        before = _policy(conn.execute("SELECT * FROM retention_policies WHERE workspace_id = ?",
                                      (workspace_id,)).fetchone())
        conn.execute(
            f"INSERT OR REPLACE INTO retention_policies (workspace_id, {', '.join(FIELDS)}, updated_at, updated_by) "
            f"VALUES (?, {', '.join('?' * len(FIELDS))}, ?, ?)",
            (workspace_id, *(getattr(policy, name) for name in FIELDS), at, by))
        return before

    def hold(self, workspace_id: str) -> LegalHold | None:
        row = self._check_exists(self._db.connection, workspace_id)
        return LegalHold(row["legal_hold_since"], row["legal_hold_reason"]) if row["legal_hold_since"] else None

    def set_hold(self, conn, workspace_id: str, *, on: bool, reason: str | None, at: str) -> LegalHold | None:
        """Put the workspace on hold (keeping the first date if it already is) or lift it; the hold before."""
        row = self._check_exists(conn, workspace_id)
        before = LegalHold(row["legal_hold_since"], row["legal_hold_reason"]) if row["legal_hold_since"] else None
        if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON):
            raise ValidationError(f"'reason' is text of at most {MAX_REASON} characters")
        if on:
            conn.execute("UPDATE workspaces SET legal_hold_since = ?, legal_hold_reason = ? WHERE id = ?",
                         (before.since if before else at, reason if reason is not None else
                          (before.reason if before else None), workspace_id))
        else:
            conn.execute("UPDATE workspaces SET legal_hold_since = NULL, legal_hold_reason = NULL WHERE id = ?",
                         (workspace_id,))
        return before

    @staticmethod
    def _check_exists(conn, workspace_id: str):
        row = conn.execute("SELECT legal_hold_since, legal_hold_reason FROM workspaces WHERE id = ?",
                           (workspace_id,)).fetchone()
        if row is None:
            raise NotFound(f"no workspace {workspace_id}")
        return row
