"""The tamper-evident audit log: append-only rows chained by HMAC, a signed head checkpoint, verification, export."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from appliance.audit import queries
from appliance.audit.cleaning import details_json, neutralise
from appliance.audit.queries import StoredRow
from appliance.audit.repeats import RepeatedRefusals, Summary
from appliance.clock import Clock, isoformat
from appliance.errors import ConfigurationError, ValidationError
from appliance.storage.database import Database

log = logging.getLogger(__name__)

OUTCOMES = ("success", "failure", "denied")
ACTOR_TYPES = ("user", "api_key", "system", "anonymous")
MAX_PAGE = 10_000
ZERO_MAC = bytes(32)


@dataclass(frozen=True)
class AuditEvent:
    seq: int
    at: str
    actor_type: str
    actor_id: str | None
    action: str
    target_type: str | None
    target_id: str | None
    workspace_id: str | None
    client_address: str | None
    outcome: str
    details: dict


@dataclass(frozen=True)
class AuditVerification:
    """The result of walking the chain: `problem` names the first row that was altered, removed or inserted."""

    ok: bool
    rows_checked: int
    first_bad_seq: int | None = None
    problem: str | None = None


@dataclass(frozen=True)
class _Head:
    seq: int
    mac: bytes
    key_version: int


class AuditLog:
    """Appends audit rows and proves them untouched. There is deliberately no way to update or delete a row."""

    def __init__(self, db: Database, *, key: bytes, clock: Clock, key_version: int = 1,
                 earlier_keys: Mapping[int, bytes] | None = None, repeats: RepeatedRefusals | None = None) -> None:
        """`key`, version `key_version`, signs new rows; `earlier_keys` (by version) verify rows signed before a
        rotation; `repeats`, when given, counts repeated refusals from one source into summary rows instead of
        writing each. appliance.audit.keys.audit_log builds one from the keystore."""
        earlier = dict(earlier_keys or {})
        if any(len(k) < 16 for k in (key, *earlier.values())):
            raise ValueError("the audit MAC key must be at least 16 bytes")
        if not all(type(v) is int and 1 <= v < key_version for v in earlier):
            raise ValueError(f"earlier audit key versions must run from 1 to below {key_version}")
        self._db = db
        self._version = key_version
        self._keys = {**{v: bytes(k) for v, k in earlier.items()}, key_version: bytes(key)}
        self._clock = clock
        self._repeats = repeats

    def record(self, action: str, *, actor_type: str = "system", actor_id: str | None = None,
               target_type: str | None = None, target_id: str | None = None, workspace_id: str | None = None,
               client_address: str | None = None, outcome: str = "success", details: dict | None = None,
               conn: Any = None) -> int:
        """Append one row and return its seq; given `conn` (inside the caller's transaction) it commits with it.

        A refusal (outcome failure or denied) repeated from the same address past what `repeats` keeps is counted,
        not written, and 0 is returned; its summary row comes when the window closes (see `flush_repeats`)."""
        if outcome not in OUTCOMES:
            raise ValidationError(f"audit outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
        if actor_type not in ACTOR_TYPES:
            raise ValidationError(f"audit actor_type must be one of {', '.join(ACTOR_TYPES)}, not {actor_type!r}")
        if not isinstance(action, str) or not action.strip():
            raise ValidationError("audit action must be a non-empty text such as 'auth.login'")
        values = {"actor_type": actor_type, "action": neutralise(action), "outcome": outcome,
                  "details": details_json(details)}
        for name, text in (("actor_id", actor_id), ("target_type", target_type), ("target_id", target_id),
                           ("workspace_id", workspace_id), ("client_address", client_address)):
            if text is not None and not isinstance(text, str):
                raise ValidationError(f"audit {name} must be text or None, not {type(text).__name__}")
            values[name] = None if text is None else neutralise(text)
        if conn is not None and not conn.in_transaction:
            raise ValueError("record(conn=...) needs a connection inside db.transaction()")
        summaries: list[Summary] = []
        if outcome != "success" and self._repeats is not None:
            write, summaries = self._repeats.admit(values["action"], outcome, values["client_address"],
                                                   values["actor_id"], self._clock.now())
            if not write:
                if summaries:
                    self._write_summaries(summaries, conn)
                return 0
        if conn is None:
            with self._db.transaction() as own:
                self._summaries(own, summaries)
                return self._append(own, values)
        self._summaries(conn, summaries)
        return self._append(conn, values)

    def flush_repeats(self, *, everything: bool = False) -> int:
        """Write the summary rows of repeated refusals whose window has closed (all of them with `everything`, as
        the server stops); returns how many rows were written."""
        if self._repeats is None:
            return 0
        summaries = self._repeats.due(self._clock.now(), everything=everything)
        self._write_summaries(summaries, None)
        return len(summaries)

    def _write_summaries(self, summaries: list[Summary], conn: Any) -> None:
        if not summaries:
            return
        if conn is None:
            with self._db.transaction() as own:
                self._summaries(own, summaries)
        else:
            self._summaries(conn, summaries)

    def _summaries(self, conn: Any, summaries: list[Summary]) -> None:
        for summary in summaries:
            self._append(conn, {"actor_type": "system", "action": neutralise(f"{summary.action}.repeated"),
                                "outcome": summary.outcome, "details": details_json(summary.details()),
                                "actor_id": None, "target_type": None, "target_id": None, "workspace_id": None,
                                "client_address": summary.client_address})

    def _append(self, conn: Any, values: dict[str, Any]) -> int:
        # Chain from the head checkpoint, not just the newest row: rows cut from the end stay a visible gap.
        head, newest = self._parse_head(queries.read_head(conn)), queries.newest_row(conn)
        if newest is not None and type(newest.key_version) is int and newest.key_version > self._version:
            # A log built from a stale key would sign new rows with a retired key, which verify() then rejects.
            raise ConfigurationError(
                f"this audit log signs with key version {self._version}, but its newest row is signed with version "
                f"{newest.key_version}: build it with appliance.audit.keys.audit_log, which takes the newest key"
            )
        if head is not None and (newest is None or head.seq >= newest.seq):
            seq, previous = head.seq + 1, head.mac
        else:
            seq, previous = (newest.seq + 1, newest.mac) if newest else (1, ZERO_MAC)
        row = {"seq": seq, "at": isoformat(self._clock.now()), **values}
        key = self._keys[self._version]
        mac = self._mac(row, previous, key)
        queries.insert_row(conn, row, mac, key_version=self._version)
        # The line that ties the row to the request's other lines (the formatter adds the request id).
        log.info("audit row %d: %s", seq, values["action"], extra={"audit_seq": seq, "audit_action": values["action"],
                                                                   "outcome": values["outcome"]})
        queries.write_head(conn, json.dumps({"seq": seq, "mac": mac.hex(), "check": self._head_check(seq, mac, key),
                                             "key_version": self._version}))
        return seq

    def verify(self) -> AuditVerification:
        """Walk every row in seq order recomputing the chain, then compare its end with the head checkpoint.

        Each row is checked under the key version it names; versions never go down along the chain, so a retired
        key (say, from an old recovery kit) cannot add or replace rows after a rotation (it could still cut the log
        back to the rotation, as the current key can cut it anywhere).
        """
        with _snapshot(self._db.connection) as conn:
            head_text = queries.read_head(conn)
            head = self._parse_head(head_text)
            expected, previous, checked, version = 1, ZERO_MAC, 0, 1
            rows = queries.rows_in_order(conn)
            row = next(rows, None)
            while row is not None:
                following = next(rows, None)
                seq = row.seq
                if seq < expected:
                    return _bad(checked, seq, f"row {seq} was inserted (sequence numbers start at 1)")
                if seq > expected:
                    gap = f"row {expected} is" if seq == expected + 1 else f"rows {expected} to {seq - 1} are"
                    return _bad(checked, expected, f"{gap} missing (removed)")
                if self._key_of(row) is None:
                    return _bad(checked, seq, f"row {seq} was altered: it names audit key version "
                                              f"{row.key_version!r}, which this appliance does not hold")
                if row.key_version < version:
                    return _bad(checked, seq, f"row {seq} is signed with audit key version {row.key_version}, "
                                              f"retired before the version {version} of the rows before it")
                if not self._chains(row, row.values, previous):
                    return _bad(checked, seq, self._diagnose(conn, row, following, previous, head))
                expected, previous, checked, version = seq + 1, row.mac, checked + 1, row.key_version
                row = following
        last = expected - 1
        if head_text is None:
            if last == 0:
                return AuditVerification(ok=True, rows_checked=0)
            return _bad(checked, None, "the head checkpoint (meta 'audit_head') is missing, so removal of the "
                                       "newest rows cannot be ruled out")
        if head is None:
            return _bad(checked, None, "the head checkpoint (meta 'audit_head') was altered")
        if head.seq > last:
            removed = f"all {head.seq} rows were removed" if last == 0 else f"rows after {last} were removed"
            return _bad(checked, last + 1, f"{removed} (the head checkpoint records row {head.seq})")
        if head.seq < last:
            return _bad(checked, head.seq + 1, f"rows after {head.seq} are not covered by the head checkpoint "
                                               "(it was replaced by an older one)")
        if not hmac.compare_digest(head.mac, previous):
            return _bad(checked, last, f"row {last} does not match the head checkpoint")
        if head.key_version != version:
            return _bad(checked, None, f"the head checkpoint is signed with audit key version {head.key_version}, "
                                       f"but the newest row with version {version} (it was replaced)")
        return AuditVerification(ok=True, rows_checked=checked)

    def _diagnose(self, conn: Any, row: StoredRow, following: StoredRow | None, previous: bytes,
                  head: _Head | None) -> str:
        """Say why row `seq` breaks the chain: altered in place, moved from elsewhere, or inserted."""
        seq = row.seq
        if head is not None and seq > head.seq:
            return f"row {seq} was inserted after the newest recorded row {head.seq}"
        recomputed = self._mac(row.values, previous, self._key_of(row))
        if following is not None and following.seq == seq + 1:
            # The next row was chained to this row's MAC: if it still verifies, only this row's content changed.
            if self._chains(following, following.values, row.mac):
                return f"row {seq} was altered"
            if self._chains(following, following.values, recomputed):
                return f"row {seq} was altered (its MAC was replaced)"
        elif following is None and head is not None and head.seq == seq:
            return f"row {seq} was altered" + (" (its MAC was replaced)" if head.mac == recomputed else "")
        moved_from = self._original_seq(conn, row)
        if moved_from is not None:
            return f"row {seq} was moved: it holds the entry written as row {moved_from} (rows swapped or reordered)"
        if following is not None and self._chains(following, {**following.values, "seq": seq}, previous):
            return f"row {seq} was inserted (the rows after it were renumbered)"
        return f"row {seq} was altered or inserted (its MAC does not match the chain)"

    def _chains(self, row: StoredRow, values: dict[str, Any], previous: bytes) -> bool:
        key = self._key_of(row)
        return key is not None and hmac.compare_digest(row.mac, self._mac(values, previous, key))

    def _key_of(self, row: StoredRow) -> bytes | None:
        return self._keys.get(row.key_version) if type(row.key_version) is int else None

    def _original_seq(self, conn: Any, row: StoredRow) -> int | None:
        """The seq this row's MAC was made for, if it is an authentic row put in another place."""
        macs = {other.seq: other.mac for other in queries.rows_in_order(conn)}
        for seq in sorted(macs.keys() - {row.seq}):
            # Its predecessor is in place, or (when the neighbour was swapped with it) sits where it was.
            for previous in (macs.get(seq - 1, ZERO_MAC if seq == 1 else None), macs[seq]):
                if previous is not None and self._chains(row, {**row.values, "seq": seq}, previous):
                    return seq
        return None

    def events(self, *, workspace_id: str | None = None, actor_id: str | None = None, action: str | None = None,
               outcome: str | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None,
               after_seq: int | None = None, limit: int = 100, newest_first: bool = False) -> list[AuditEvent]:
        """Rows matching every filter, oldest first (or newest first); pass the last seq seen as `after_seq` for
        the next page, which continues in the same order.

        `action` matches that action and those under it ("auth" or "auth." matches "auth.login"); `since` is
        inclusive and `until` exclusive.
        """
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationError(f"limit must be between 1 and {MAX_PAGE}, not {limit}")
        for name, moment in (("since", since), ("until", until)):
            if moment is not None and moment.tzinfo is None:
                raise ValidationError(f"{name} must be a timezone-aware datetime")
        # Filters are escaped like stored values, so a value with a newline finds the row it was recorded in.
        workspace_id, actor_id, action = (None if text is None else neutralise(text)
                                          for text in (workspace_id, actor_id, action))
        rows = queries.select_rows(self._db.connection, workspace_id=workspace_id, actor_id=actor_id, action=action,
                                   outcome=outcome, since=since, until=until, after_seq=after_seq, limit=limit,
                                   newest_first=newest_first)
        return [_event(row) for row in rows]

    @staticmethod
    def _mac(values: dict[str, Any], previous: bytes, key: bytes) -> bytes:
        return hmac.new(key, b"chatspark-audit-row\x00" + _canonical(values, previous), hashlib.sha256).digest()

    @staticmethod
    def _head_check(seq: int, mac: bytes, key: bytes) -> str:
        message = f"chatspark-audit-head\x00{seq}\x00{mac.hex()}".encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()

    def _parse_head(self, text: str | None) -> _Head | None:
        """The checkpoint if present and signed by the key version it names (1 when it names none), else None."""
        try:
            value = json.loads(text) if text else None
            version = value.get("key_version", 1)
            head = _Head(int(value["seq"]), bytes.fromhex(value["mac"]), version)
            check = str(value["check"])
        except (TypeError, ValueError, KeyError, AttributeError):
            return None
        key = self._keys.get(version) if type(version) is int else None
        if key is None:
            return None
        return head if hmac.compare_digest(check.encode(), self._head_check(head.seq, head.mac, key).encode()) else None


@contextlib.contextmanager
def _snapshot(conn: Any) -> Iterator[Any]:
    # One read transaction, so a row appended mid-walk cannot look like a mismatch with the head checkpoint.
    if conn.in_transaction:
        yield conn
        return
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")


def _bad(checked: int, seq: int | None, problem: str) -> AuditVerification:
    return AuditVerification(ok=False, rows_checked=checked, first_bad_seq=seq, problem=problem)


def _canonical(values: dict[str, Any], previous: bytes) -> bytes:
    # JSON of named fields is unambiguous where concatenation is not; a value of the wrong type (a blob or a
    # number written by hand) encodes differently from the text it replaced, so it cannot verify.
    payload = {name: values[name] for name in queries.COLUMNS}
    payload["previous_mac"] = previous.hex()
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      default=lambda v: {"blob": bytes(v).hex()}).encode("ascii")


def _event(row: StoredRow) -> AuditEvent:
    try:
        details = json.loads(row.values["details"])
    except (TypeError, ValueError):
        # A hand-edited row must still be listable; `verify` is what reports it.
        details = {"unreadable_details": str(row.values["details"])}
    return AuditEvent(**{**row.values, "details": details})
