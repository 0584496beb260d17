"""Data-subject erasure: everything about one visitor's email address, in every workspace the caller administers,
with a receipt per workspace that the audit log keeps (by a hash of the address, never the address itself)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from appliance.audit.log import AuditLog
from appliance.clock import Clock, isoformat
from appliance.conversations.subjects import Match, find_subject, subject_address, subject_hash
from appliance.errors import PermissionDenied, ValidationError
from appliance.retention.deletions import forget_questions
from appliance.retention.service import Actor
from appliance.storage.database import Database
from appliance.storage.workspace_files import WorkspaceDatabases

KINDS = ("leads", "conversations", "messages", "analytics_questions")
_IDS = "SELECT value FROM json_each(?)"
# How much of an audit row's details the matches may fill; more matches go into further rows of the same receipt.
AUDIT_MATCHES_CHARS = 3000


@dataclass(frozen=True)
class WorkspaceErasure:
    """One workspace's part of the receipt: what went (dry: what would go) and why each record matched, or that a
    legal hold kept it."""

    workspace_id: str
    workspace_name: str
    held: bool
    deleted: dict[str, int]
    matches: list[Match] = field(default_factory=list)

    def public(self, *, clear: bool = False) -> dict:
        """`clear`: the matched text as found (for the preview); otherwise its SHA-256, as the receipt keeps it."""
        return {"workspace_id": self.workspace_id, "workspace_name": self.workspace_name, "legal_hold": self.held,
                "deleted": self.deleted, "matches": [m.public(clear=clear) for m in self.matches]}


@dataclass(frozen=True)
class ErasureReceipt:
    erasure_id: str
    subject_sha256: str
    at: str
    by: str | None
    dry_run: bool
    workspaces: list[WorkspaceErasure] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        return {kind: sum(w.deleted[kind] for w in self.workspaces) for kind in KINDS}

    def public(self) -> dict:
        """A preview shows what matched in clear, to be checked before erasing; the receipt of an erasure names the
        matched text by hash only, like the subject, so keeping the receipt keeps no address."""
        return {"erasure_id": self.erasure_id, "subject_sha256": self.subject_sha256, "at": self.at, "by": self.by,
                "dry_run": self.dry_run, "deleted": self.totals(),
                "workspaces": [w.public(clear=self.dry_run) for w in self.workspaces]}


@dataclass(frozen=True)
class _Found:
    leads: list[str]
    conversations: list[str]
    messages: int
    questions: int
    matches: list[Match]

    def counts(self) -> dict[str, int]:
        return {"leads": len(self.leads), "conversations": len(self.conversations), "messages": self.messages,
                "analytics_questions": self.questions}


class ErasureService:
    def __init__(self, db: Database, *, files: WorkspaceDatabases, audit: AuditLog, clock: Clock) -> None:
        self._db = db
        self._files = files
        self._audit = audit
        self._clock = clock

    def erase(self, email: Any, *, actor: Actor, dry_run: bool = False) -> ErasureReceipt:
        """Delete (dry: find) in each workspace `actor` owns or administers what appliance.conversations.subjects
        finds for the address: the leads left with it (in any case) or naming it as a whole address in another field,
        the conversations of those leads and every other conversation of the same widget visitor, the conversations
        where a visitor wrote it, and the question text their analytics hold; each with why it matched. A workspace
        on legal hold is left as it is and says so. The files are checkpointed after."""
        address = subject_address(email)
        if not isinstance(dry_run, bool):
            raise ValidationError("'dry_run' is true or false")
        workspaces = self._db.query(
            "SELECT w.id, w.name, w.legal_hold_since FROM memberships m JOIN workspaces w ON w.id = m.workspace_id "
            "WHERE m.user_id = ? AND m.role IN ('owner', 'admin') AND w.purge_started_at IS NULL "
            "ORDER BY w.created_at, w.id", (actor.id,))
        if not workspaces:
            raise PermissionDenied("data-subject erasure covers the workspaces you own or administer, and you "
                                   "administer none")
        receipt = ErasureReceipt(uuid.uuid4().hex, subject_hash(address), isoformat(self._clock.now()), actor.id,
                                 dry_run)
        for row in workspaces:
            held = row["legal_hold_since"] is not None
            found = None if held else self._erase_in(row["id"], address, dry_run=dry_run)
            part = WorkspaceErasure(row["id"], row["name"], held,
                                    found.counts() if found else dict.fromkeys(KINDS, 0),
                                    found.matches if found else [])
            receipt.workspaces.append(part)
            # Each workspace's receipt is recorded as soon as its erasure commits, the matches by hash.
            matches = [m.public(clear=False) for m in part.matches]
            parts = _batches(matches)
            for number, batch in enumerate(parts, start=1):
                details = {"erasure_id": receipt.erasure_id, "deleted": part.deleted, "legal_hold": held,
                           "matches": batch}
                if len(parts) > 1:
                    details.update(part=number, parts=len(parts))
                self._audit.record("erasure.preview" if dry_run else "erasure.subject", actor_type=actor.type,
                                   actor_id=actor.id, target_type="data_subject", target_id=receipt.subject_sha256,
                                   workspace_id=row["id"], client_address=actor.client_address, details=details)
        return receipt

    def _erase_in(self, workspace_id: str, address: str, *, dry_run: bool) -> _Found:
        db = self._files.open(workspace_id)
        if dry_run:
            with db.snapshot():
                return _find(db.connection, address)
        with db.transaction() as conn:
            found = _find(conn, address)
            conversations = json.dumps(found.conversations)
            forget_questions(conn, conversations)
            # Messages, their cited sources and index entries cascade with their conversations.
            conn.execute(f"DELETE FROM conversations WHERE id IN ({_IDS})", (conversations,))
            conn.execute(f"DELETE FROM leads WHERE id IN ({_IDS})", (json.dumps(found.leads),))
        if found.leads or found.conversations:
            db.checkpoint()
        return found


def _find(conn, address: str) -> _Found:
    subject = find_subject(conn, address)
    ids = json.dumps(subject.conversations)
    messages = conn.execute(f"SELECT count(*) FROM messages WHERE conversation_id IN ({_IDS})", (ids,)).fetchone()[0]
    questions = conn.execute(f"SELECT count(*) FROM analytics_events WHERE conversation_id IN ({_IDS}) "
                             "AND question IS NOT NULL", (ids,)).fetchone()[0]
    return _Found(subject.leads, subject.conversations, messages, questions, subject.matches)


def _batches(matches: list[dict]) -> list[list[dict]]:
    """The matches split so each audit row's details stay within the log's size limit (one row if there are none)."""
    batches: list[list[dict]] = [[]]
    size = 0
    for match in matches:
        length = len(json.dumps(match)) + 2
        if batches[-1] and size + length > AUDIT_MATCHES_CHARS:
            batches.append([])
            size = 0
        batches[-1].append(match)
        size += length
    return batches
