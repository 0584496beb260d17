"""The SQL of the backup index in the control database (migration 0007): one row per backup file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

from appliance.storage.database import Database

RUNNING, COMPLETE, FAILED = "running", "complete", "failed"
PASSED = "passed"

_COLUMNS = ("id, created_at, file_name, key_id, status, size, sha256, finished_at, error, verified_at, "
            "verification_status, verification")


@dataclass(frozen=True)
class Backup:
    id: str
    created_at: str
    file_name: str
    key_id: str
    status: str                      # running, complete or failed
    size: int | None
    sha256: str | None
    finished_at: str | None
    error: str | None
    verified_at: str | None
    verification_status: str | None  # passed or failed, None before the first verification
    verification: dict | None        # what the latest verification found, file by file
    workspace_ids: tuple[str, ...]


def _backups(db: Database, where: str = "", params: tuple = ()) -> list[Backup]:
    # Made in the same second (times are kept to the second), the one made later is the newer: rowid, not the id.
    rows = db.query(f"SELECT {_COLUMNS} FROM backups {where} ORDER BY created_at DESC, rowid DESC", params)
    members: dict[str, list[str]] = {}
    for row in db.query("SELECT backup_id, workspace_id FROM backup_workspaces ORDER BY workspace_id"):
        members.setdefault(row["backup_id"], []).append(row["workspace_id"])
    return [Backup(r["id"], r["created_at"], r["file_name"], r["key_id"], r["status"], r["size"], r["sha256"],
                   r["finished_at"], r["error"], r["verified_at"], r["verification_status"],
                   json.loads(r["verification"]) if r["verification"] else None,
                   tuple(members.get(r["id"], ()))) for r in rows]


def all_backups(db: Database) -> list[Backup]:
    """Every backup, newest first."""
    return _backups(db)


def find(db: Database, backup_id: str) -> Backup | None:
    found = _backups(db, "WHERE id = ?", (backup_id,))
    return found[0] if found else None


def with_status(db: Database, status: str) -> list[Backup]:
    return _backups(db, "WHERE status = ?", (status,))


def insert_running(conn: Any, *, backup_id: str, created_at: str, file_name: str, key_id: str,
                   workspace_ids: Iterable[str]) -> None:
    conn.execute("INSERT INTO backups (id, created_at, file_name, key_id) VALUES (?, ?, ?, ?)",
                 (backup_id, created_at, file_name, key_id))
    conn.executemany("INSERT INTO backup_workspaces (backup_id, workspace_id) VALUES (?, ?)",
                     [(backup_id, w) for w in workspace_ids])


def complete(conn: Any, backup_id: str, *, size: int, sha256: str, finished_at: str,
             workspace_ids: Iterable[str] | None = None) -> None:
    conn.execute("UPDATE backups SET status = 'complete', size = ?, sha256 = ?, finished_at = ?, error = NULL "
                 "WHERE id = ?", (size, sha256, finished_at, backup_id))
    if workspace_ids is not None:
        keep = list(workspace_ids)
        conn.execute(f"DELETE FROM backup_workspaces WHERE backup_id = ? AND workspace_id NOT IN "
                     f"({', '.join('?' * len(keep)) or 'NULL'})", (backup_id, *keep))


def fail(conn: Any, backup_id: str, *, error: str, finished_at: str) -> None:
    conn.execute("UPDATE backups SET status = 'failed', error = ?, finished_at = ? WHERE id = ?",
                 (error, finished_at, backup_id))


def record_verification(conn: Any, backup_id: str, *, verified_at: str, passed: bool, result: dict) -> None:
    conn.execute("UPDATE backups SET verified_at = ?, verification_status = ?, verification = ? WHERE id = ?",
                 (verified_at, PASSED if passed else FAILED, json.dumps(result, sort_keys=True), backup_id))


def delete(conn: Any, backup_id: str) -> None:
    conn.execute("DELETE FROM backups WHERE id = ?", (backup_id,))


def forget_workspace(conn: Any, workspace_id: str) -> int:
    """Drop a purged workspace from the index: which backups held it, and what their verifications said of it."""
    forgotten = conn.execute("DELETE FROM backup_workspaces WHERE workspace_id = ?", (workspace_id,)).rowcount
    for row in conn.execute("SELECT id, verification FROM backups WHERE verification IS NOT NULL").fetchall():
        result = json.loads(row["verification"])
        files = result.get("files", [])
        kept = [f for f in files if f.get("workspace_id") != workspace_id]
        if len(kept) != len(files):
            result["files"] = kept
            conn.execute("UPDATE backups SET verification = ? WHERE id = ?",
                         (json.dumps(result, sort_keys=True), row["id"]))
    return forgotten
