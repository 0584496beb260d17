"""Purging cancelled workspaces once their date has passed: crypto-shredding first, then everything else, in an order
that a crash at any point leaves invisible to users and the next run completes.

The steps, each safe to repeat:
1. one control transaction marks the purge begun and removes every way in (memberships, invitations, API keys,
   widget routes): from here on nobody reaches the workspace, and the purge can no longer be undone;
2. the workspace's key is destroyed in the keystore, so the file and every copy of it (backups included) are
   unreadable at once; then the file with its -wal and -shm is removed;
3. the purge hooks run (the backup index forgets the workspace);
4. one control transaction replaces the workspace row by a record of the purge (ids and dates only).
A workspace whose purge has begun is finished by the next run, legal hold or not: its data may already be gone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Sequence

from appliance.audit.log import AuditLog
from appliance.clock import Clock, isoformat
from appliance.errors import PurgeFailed, UnknownKey
from appliance.storage.database import Database
from appliance.storage.layout import Layout
from appliance.storage.workspace_files import WorkspaceDatabases

log = logging.getLogger(__name__)
# The rows that let anyone reach a workspace; they go in the first step, so a half-done purge shows nothing.
ACCESS_TABLES = ("memberships", "invitations", "api_keys", "agent_routes")
# As the audit log counts them: it refuses detail names that look like secrets ("api_keys" among them).
_AUDIT_NAMES = {"memberships": "memberships", "invitations": "invitations", "api_keys": "integrations",
                "agent_routes": "widget_routes"}


@dataclass
class PurgeReport:
    dry_run: bool
    purged: list[str] = field(default_factory=list)      # dry: would be purged now
    held: list[str] = field(default_factory=list)        # due, but on legal hold
    failed: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict:
        return {"dry_run": self.dry_run, "purged": self.purged, "held": self.held, "failed": self.failed}


@dataclass(frozen=True)
class Due:
    unfinished: list[str]     # begun by an earlier run that stopped half-way
    due: list[str]
    held: list[str]


class WorkspacePurger:
    def __init__(self, db: Database, *, files: WorkspaceDatabases, layout: Layout,
                 audit: AuditLog, clock: Clock, on_purged: Sequence[Callable[[str], None]] = ()) -> None:
        self._db = db
        self._files = files
        self._layout = layout
        self._audit = audit
        self._clock = clock
        # Called with the workspace id after its key and file are gone; each must be safe to call twice.
        self.on_purged: list[Callable[[str], None]] = list(on_purged)

    def due(self) -> Due:
        now = isoformat(self._clock.now())
        unfinished = [r[0] for r in self._db.query(
            "SELECT id FROM workspaces WHERE purge_started_at IS NOT NULL ORDER BY purge_started_at, id")]
        rows = self._db.query(
            "SELECT id, legal_hold_since FROM workspaces WHERE status = 'cancelled' AND purge_started_at IS NULL "
            "AND purge_after <= ? ORDER BY purge_after, id", (now,))
        return Due(unfinished, [r["id"] for r in rows if r["legal_hold_since"] is None],
                   [r["id"] for r in rows if r["legal_hold_since"] is not None])

    def purge_due(self, *, dry_run: bool = False) -> PurgeReport:
        """Finish purges an earlier run left half-done, then purge every cancelled workspace that is due and not on
        legal hold. A failure is reported after the others were purged; the next run retries it."""
        due = self.due()
        report = PurgeReport(dry_run=dry_run, held=due.held)
        for workspace_id in due.unfinished + due.due:
            if dry_run:
                report.purged.append(workspace_id)
                continue
            try:
                if self.purge(workspace_id):
                    report.purged.append(workspace_id)
            except Exception as exc:  # the others are still purged; this one is retried by the next run
                log.exception("workspace purge failed", extra={"workspace_id": workspace_id})
                report.failed[workspace_id] = str(exc)
        if report.failed:
            raise PurgeFailed(f"the purge of {len(report.failed)} workspace(s) did not finish "
                              f"({'; '.join(f'{w}: {m}' for w, m in report.failed.items())}); the next run retries; "
                              f"purged: {', '.join(report.purged) or 'none'}")
        return report

    def purge(self, workspace_id: str) -> bool:
        """Purge one workspace whose purge is due or begun; False if it no longer is (undone, held, gone)."""
        if not self._begin(workspace_id):
            return False
        self._shred(workspace_id)
        for hook in self.on_purged:
            hook(workspace_id)
        self._finish(workspace_id)
        log.info("workspace purged", extra={"workspace_id": workspace_id})
        return True

    def _begin(self, workspace_id: str) -> bool:
        now = isoformat(self._clock.now())
        with self._db.transaction() as conn:
            row = conn.execute("SELECT purge_started_at FROM workspaces WHERE id = ?", (workspace_id,)).fetchone()
            if row is None:
                return False
            if row["purge_started_at"] is not None:
                return True
            started = conn.execute(
                "UPDATE workspaces SET purge_started_at = ? WHERE id = ? AND status = 'cancelled' "
                "AND legal_hold_since IS NULL AND purge_after <= ?", (now, workspace_id, now)).rowcount
            if not started:
                return False
            removed = {_AUDIT_NAMES[table]: conn.execute(f"DELETE FROM {table} WHERE workspace_id = ?",
                                                         (workspace_id,)).rowcount for table in ACCESS_TABLES}
            self._audit.record("workspace.purge_begin", target_type="workspace", target_id=workspace_id,
                               workspace_id=workspace_id, details={"removed": removed}, conn=conn)
        return True

    def _shred(self, workspace_id: str) -> None:
        try:
            self._files.shred(workspace_id)  # the key first, then the file
            return
        except UnknownKey:
            pass  # an earlier run destroyed the key and stopped: only files may be left
        path = self._layout.workspace_db(workspace_id)
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)

    def _finish(self, workspace_id: str) -> None:
        now = isoformat(self._clock.now())
        with self._db.transaction() as conn:
            row = conn.execute("SELECT cancelled_at, purge_after, purge_started_at FROM workspaces WHERE id = ?",
                               (workspace_id,)).fetchone()
            if row is None:
                return
            conn.execute("INSERT OR REPLACE INTO purged_workspaces (workspace_id, cancelled_at, purge_after, "
                         "started_at, purged_at) VALUES (?, ?, ?, ?, ?)",
                         (workspace_id, row["cancelled_at"], row["purge_after"], row["purge_started_at"], now))
            # What is left of it in the control database goes with the row (retention policy by cascade).
            for table in ACCESS_TABLES:
                conn.execute(f"DELETE FROM {table} WHERE workspace_id = ?", (workspace_id,))
            conn.execute("DELETE FROM workspaces WHERE id = ?", (workspace_id,))
            self._audit.record("workspace.purge", target_type="workspace", target_id=workspace_id,
                               workspace_id=workspace_id,
                               details={"cancelled_at": row["cancelled_at"], "purge_after": row["purge_after"],
                                        "started_at": row["purge_started_at"], "key_destroyed": True,
                                        "file_removed": True}, conn=conn)
        self._db.checkpoint()

    def purged(self) -> list[dict]:
        """The record of finished purges, newest first."""
        return [dict(r) for r in self._db.query("SELECT * FROM purged_workspaces ORDER BY purged_at DESC, "
                                                "workspace_id")]


def purge_cancelled_workspaces(purges: WorkspacePurger, *, dry_run: bool = False) -> dict:
    """The purge job: purge every cancelled workspace whose date has passed, not on legal hold (dry: list them)."""
    return purges.purge_due(dry_run=dry_run).summary()
