"""Cancelling a workspace: it turns read-only and its purge is scheduled at most 30 days on; the owner can undo it
until the purge begins, an operator can bring the purge earlier but never later. Every step is audited and mailed."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any, Callable

from appliance.audit.log import AuditLog
from appliance.clock import Clock, isoformat
from appliance.conversations.listing import instant
from appliance.errors import Conflict, NotFound, ValidationError
from appliance.mail.outbox import Outbox
from appliance.retention.service import Actor
from appliance.storage.database import Database

MAX_PURGE_DAYS = 30


@dataclass(frozen=True)
class Cancellation:
    """A workspace's place in the cancellation lifecycle."""

    workspace_id: str
    status: str                     # active or cancelled
    cancelled_at: str | None
    purge_after: str | None         # when the purge is due; it runs at the first purge job after this
    purge_started_at: str | None    # the purge has begun and can no longer be undone
    legal_hold: bool                # a hold suspends the purge however due it is

    def public(self) -> dict:
        return asdict(self)


def _cancellation(row) -> Cancellation:
    return Cancellation(row["id"], row["status"], row["cancelled_at"], row["purge_after"], row["purge_started_at"],
                        row["legal_hold_since"] is not None)


_SELECT = "SELECT id, name, status, cancelled_at, purge_after, purge_started_at, legal_hold_since FROM workspaces"


class CancellationService:
    def __init__(self, db: Database, *, clock: Clock, audit: AuditLog, outbox: Outbox, purge_days: int,
                 public_url: str, on_undone: Callable[[str], None] | None = None) -> None:
        if not 1 <= purge_days <= MAX_PURGE_DAYS:
            raise ValidationError(f"a cancelled workspace is purged within 1 to {MAX_PURGE_DAYS} days, "
                                  f"not {purge_days}")
        self._db = db
        self._clock = clock
        self._audit = audit
        self._outbox = outbox
        self._purge_days = purge_days
        self._public_url = public_url.rstrip("/")
        self._on_undone = on_undone or (lambda workspace_id: None)

    def get(self, workspace_id: str) -> Cancellation:
        return _cancellation(self._row(self._db.connection, workspace_id))

    def list_cancelled(self) -> list[Cancellation]:
        """Every cancelled workspace, the soonest purge first."""
        return [_cancellation(r) for r in self._db.query(
            f"{_SELECT} WHERE status = 'cancelled' ORDER BY purge_after, id")]

    def cancel(self, workspace_id: str, *, actor: Actor) -> Cancellation:
        """Cancel the workspace: read-only from now on, purged `purge_days` from now unless undone first."""
        now = self._clock.now()
        purge_after = isoformat(now + dt.timedelta(days=self._purge_days))
        with self._db.transaction() as conn:
            row = self._row(conn, workspace_id)
            if row["status"] == "cancelled":
                raise Conflict(f"this workspace is already cancelled; its purge is due at {row['purge_after']}")
            conn.execute("UPDATE workspaces SET status = 'cancelled', cancelled_at = ?, purge_after = ? WHERE id = ?",
                         (isoformat(now), purge_after, workspace_id))
            self._audit_step(conn, "workspace.cancel", workspace_id, actor, {"purge_after": purge_after})
            self._mail_owner(conn, workspace_id, f"Workspace \"{row['name']}\" is cancelled", (
                f"The workspace \"{row['name']}\" was cancelled at {isoformat(now)} (UTC). It is read-only now: its "
                "conversations, leads and training data can still be read and exported.\n\n"
                f"All of its data will be deleted for good after {purge_after} (UTC), including its backups' "
                "copies, which become unreadable at once.\n\n"
                "Changed your mind? The owner can undo the cancellation until then:\n"
                f"POST {self._public_url}/api/v1/workspaces/{workspace_id}/cancel/undo\n"))
        return self.get(workspace_id)

    def undo(self, workspace_id: str, *, actor: Actor) -> Cancellation:
        """Make a cancelled workspace active again, before its purge has begun."""
        with self._db.transaction() as conn:
            row = self._row(conn, workspace_id)
            if row["status"] != "cancelled":
                raise Conflict("this workspace is not cancelled; there is nothing to undo")
            if row["purge_started_at"] is not None:
                raise Conflict("the purge of this workspace has begun; it can no longer be undone")
            conn.execute("UPDATE workspaces SET status = 'active', cancelled_at = NULL, purge_after = NULL "
                         "WHERE id = ?", (workspace_id,))
            self._audit_step(conn, "workspace.cancel_undo", workspace_id, actor,
                             {"cancelled_at": row["cancelled_at"], "purge_after": row["purge_after"]})
            self._mail_owner(conn, workspace_id, f"Workspace \"{row['name']}\" is active again", (
                f"The cancellation of the workspace \"{row['name']}\" was undone at {isoformat(self._clock.now())} "
                "(UTC). Its purge is called off and it can be changed again.\n"))
        self._on_undone(workspace_id)
        return self.get(workspace_id)

    def set_purge_date(self, workspace_id: str, purge_after: Any, *, actor: Actor) -> Cancellation:
        """Bring the purge earlier (an operator's power); a date in the past means at the next purge run. Never
        later than it was: the 30-day promise holds."""
        if not isinstance(purge_after, str):
            raise ValidationError("'purge_after' is an ISO 8601 time or date, like 2026-12-01T00:00:00Z")
        wanted = instant({"purge_after": purge_after}, "purge_after")
        if wanted is None:
            raise ValidationError("'purge_after' is an ISO 8601 time or date, like 2026-12-01T00:00:00Z")
        now = isoformat(self._clock.now())
        with self._db.transaction() as conn:
            row = self._row(conn, workspace_id)
            if row["status"] != "cancelled":
                raise Conflict("only a cancelled workspace has a purge date; the owner cancels it first")
            if row["purge_started_at"] is not None:
                raise Conflict("the purge of this workspace has already begun")
            if wanted > row["purge_after"]:
                raise ValidationError(f"a purge can only be brought earlier: it is due at {row['purge_after']}, "
                                      f"and {wanted} is later")
            wanted = max(wanted, now)
            conn.execute("UPDATE workspaces SET purge_after = ? WHERE id = ?", (wanted, workspace_id))
            self._audit_step(conn, "workspace.purge_date", workspace_id, actor,
                             {"before": row["purge_after"], "after": wanted})
            self._mail_owner(conn, workspace_id, f"Workspace \"{row['name']}\" will be deleted sooner", (
                f"An appliance operator brought the deletion of the cancelled workspace \"{row['name']}\" forward: "
                f"all of its data will be deleted for good after {wanted} (UTC) instead of {row['purge_after']}.\n\n"
                "Export what you need before then.\n"))
        return self.get(workspace_id)

    @staticmethod
    def _row(conn, workspace_id: str):
        row = conn.execute(f"{_SELECT} WHERE id = ?", (workspace_id,)).fetchone()
        if row is None:
            raise NotFound(f"no workspace {workspace_id}")
        return row

    def _audit_step(self, conn, action: str, workspace_id: str, actor: Actor, details: dict) -> None:
        self._audit.record(action, actor_type=actor.type, actor_id=actor.id, target_type="workspace",
                           target_id=workspace_id, workspace_id=workspace_id, client_address=actor.client_address,
                           details=details, conn=conn)

    def _mail_owner(self, conn, workspace_id: str, subject: str, body: str) -> None:
        owner = conn.execute("SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id "
                             "WHERE m.workspace_id = ? AND m.role = 'owner'", (workspace_id,)).fetchone()
        if owner is not None:
            self._outbox.enqueue(to=owner["email"], subject=subject, body=body, conn=conn)
