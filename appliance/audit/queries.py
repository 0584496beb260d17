"""The SQL of the audit log: appending rows, moving the head checkpoint, and reading rows back in seq order."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Iterator

from appliance.clock import isoformat

# Every column the MAC covers, in table order; `mac` itself is stored beside them.
COLUMNS = ("seq", "at", "actor_type", "actor_id", "action", "target_type", "target_id", "workspace_id",
           "client_address", "outcome", "details")
HEAD_NAME = "audit_head"

_SELECT = f"SELECT {', '.join(COLUMNS)}, mac, key_version FROM audit_log"


@dataclass(frozen=True)
class StoredRow:
    """One audit_log row as it is on disk, hand edits included: the columns the MAC covers, the MAC, and the version
    of the audit key that made it (outside the MAC: under another key the MAC no longer verifies)."""

    values: dict[str, Any]
    mac: bytes
    key_version: Any = 1

    @property
    def seq(self) -> int:
        return self.values["seq"]


def newest_row(conn: Any) -> StoredRow | None:
    row = conn.execute(f"{_SELECT} ORDER BY seq DESC LIMIT 1").fetchone()
    return None if row is None else _stored(row)


def rows_in_order(conn: Any) -> Iterator[StoredRow]:
    """Every row, oldest first, read lazily so a long log is never held in memory whole."""
    return (_stored(row) for row in conn.execute(f"{_SELECT} ORDER BY seq"))


def insert_row(conn: Any, values: dict[str, Any], mac: bytes, *, key_version: int) -> None:
    conn.execute(
        f"INSERT INTO audit_log ({', '.join(COLUMNS)}, mac, key_version) "
        f"VALUES ({', '.join('?' for _ in COLUMNS)}, ?, ?)",
        [values[name] for name in COLUMNS] + [mac, key_version],
    )


def read_head(conn: Any) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE name = ?", (HEAD_NAME,)).fetchone()
    return None if row is None else row["value"]


def write_head(conn: Any, value: str) -> None:
    conn.execute(
        "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (HEAD_NAME, value),
    )


def select_rows(conn: Any, *, workspace_id: str | None, actor_id: str | None, action: str | None,
                outcome: str | None, since: dt.datetime | None, until: dt.datetime | None,
                after_seq: int | None, limit: int, newest_first: bool = False) -> list[StoredRow]:
    """Rows matching every filter given, oldest first (or newest first, `after_seq` then continuing below it);
    `action` matches itself and its dotted children."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("workspace_id", workspace_id), ("actor_id", actor_id), ("outcome", outcome)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if action:
        # substr, not LIKE: action names contain '_', which LIKE would take as a wildcard.
        prefix = action.rstrip(".")
        clauses.append("(action = ? OR substr(action, 1, ?) = ?)")
        params += [prefix, len(prefix) + 1, prefix + "."]
    if since is not None:
        clauses.append("at >= ?")
        params.append(isoformat(since))
    if until is not None:
        clauses.append("at < ?")
        params.append(isoformat(until))
    if after_seq is not None:
        clauses.append("seq < ?" if newest_first else "seq > ?")
        params.append(after_seq)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    order = "seq DESC" if newest_first else "seq"
    return [_stored(row) for row in conn.execute(f"{_SELECT}{where} ORDER BY {order} LIMIT ?", [*params, limit])]


def _stored(row: Any) -> StoredRow:
    mac = row["mac"]
    # A MAC overwritten with text or a number is no MAC at all; it must fail to verify, not crash the check.
    return StoredRow({name: row[name] for name in COLUMNS},
                     bytes(mac) if isinstance(mac, (bytes, bytearray, memoryview)) else b"", row["key_version"])
