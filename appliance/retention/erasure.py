"""Data-subject erasure: everything about one visitor's email address, in every workspace the caller administers,
with a receipt per workspace that the audit log keeps (by a hash of the address, never the address itself)."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from appliance.audit.log import AuditLog
from appliance.clock import Clock, isoformat
from appliance.errors import PermissionDenied, ValidationError
from appliance.retention.deletions import forget_questions
from appliance.retention.service import Actor
from appliance.storage.database import Database
from appliance.storage.workspace_files import WorkspaceDatabases

MAX_EMAIL = 320
KINDS = ("leads", "conversations", "messages", "analytics_questions")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_IDS = "SELECT value FROM json_each(?)"


def normalise_email(email: Any) -> str:
    if not isinstance(email, str) or not _EMAIL.fullmatch(email.strip()) or len(email.strip()) > MAX_EMAIL:
        raise ValidationError("'email' is the visitor's email address, like jane@example.com")
    return email.strip().lower()


def subject_hash(email: str) -> str:
    """How receipts and the audit log name the data subject: SHA-256 of the lower-cased address."""
    return hashlib.sha256(normalise_email(email).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class WorkspaceErasure:
    """One workspace's part of the receipt: what went (dry: what would go), or that a legal hold kept it."""

    workspace_id: str
    workspace_name: str
    held: bool
    deleted: dict[str, int]

    def public(self) -> dict:
        return {"workspace_id": self.workspace_id, "workspace_name": self.workspace_name, "legal_hold": self.held,
                "deleted": self.deleted}


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
        return {"erasure_id": self.erasure_id, "subject_sha256": self.subject_sha256, "at": self.at, "by": self.by,
                "dry_run": self.dry_run, "deleted": self.totals(),
                "workspaces": [w.public() for w in self.workspaces]}


@dataclass(frozen=True)
class _Found:
    leads: list[str]
    conversations: list[str]
    messages: int
    questions: int

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
        """Delete (dry: find) in each workspace `actor` owns or administers: the leads with this address (in any
        case, or mentioning it in another field), the conversations of those leads and every other conversation of
        the same widget visitor, the conversations where a visitor wrote the address, and the question text their
        analytics hold. A workspace on legal hold is left as it is and says so. The files are checkpointed after."""
        address = normalise_email(email)
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
            counts = dict.fromkeys(KINDS, 0) if held else self._erase_in(row["id"], address, dry_run=dry_run)
            part = WorkspaceErasure(row["id"], row["name"], held, counts)
            receipt.workspaces.append(part)
            # Each workspace's receipt is recorded as soon as its erasure commits.
            self._audit.record("erasure.preview" if dry_run else "erasure.subject", actor_type=actor.type,
                               actor_id=actor.id, target_type="data_subject", target_id=receipt.subject_sha256,
                               workspace_id=row["id"], client_address=actor.client_address,
                               details={"erasure_id": receipt.erasure_id, "deleted": counts, "legal_hold": held})
        return receipt

    def _erase_in(self, workspace_id: str, address: str, *, dry_run: bool) -> dict[str, int]:
        db = self._files.open(workspace_id)
        if dry_run:
            return _find(db.connection, address).counts()
        with db.transaction() as conn:
            found = _find(conn, address)
            conversations = json.dumps(found.conversations)
            forget_questions(conn, conversations)
            # Messages, their cited sources and index entries cascade with their conversations.
            conn.execute(f"DELETE FROM conversations WHERE id IN ({_IDS})", (conversations,))
            conn.execute(f"DELETE FROM leads WHERE id IN ({_IDS})", (json.dumps(found.leads),))
        if found.leads or found.conversations:
            db.checkpoint()
        return found.counts()


def _find(conn, address: str) -> _Found:
    leads = [r[0] for r in conn.execute(
        "SELECT id FROM leads WHERE lower(email) = ? OR instr(lower(concat_ws(' ', name, phone, company, "
        "custom_fields)), ?) > 0 ORDER BY id", (address, address))]
    lead_ids = json.dumps(leads)
    of_leads = [r[0] for r in conn.execute(
        f"SELECT DISTINCT conversation_id FROM leads WHERE id IN ({_IDS}) AND conversation_id IS NOT NULL",
        (lead_ids,))]
    # The same widget visitor's other conversations are theirs too.
    of_visitor = [r[0] for r in conn.execute(
        f"SELECT id FROM conversations WHERE visitor_id IN (SELECT visitor_id FROM conversations "
        f"WHERE id IN ({_IDS}) AND visitor_id IS NOT NULL)", (json.dumps(of_leads),))]
    conversations = sorted(set(of_leads) | set(of_visitor) | set(_mentioning(conn, address)))
    ids = json.dumps(conversations)
    messages = conn.execute(f"SELECT count(*) FROM messages WHERE conversation_id IN ({_IDS})", (ids,)).fetchone()[0]
    questions = conn.execute(f"SELECT count(*) FROM analytics_events WHERE conversation_id IN ({_IDS}) "
                             "AND question IS NOT NULL", (ids,)).fetchone()[0]
    # Ids found through the index or a lead's link are counted only for conversations that still exist.
    existing = [r[0] for r in conn.execute(f"SELECT id FROM conversations WHERE id IN ({_IDS}) ORDER BY id", (ids,))]
    return _Found(leads, existing, messages, questions)


def _mentioning(conn, address: str) -> list[str]:
    """Conversations in which a visitor wrote the address: found through the index, confirmed on the text."""
    words = re.findall(r"[^\W_]+", address)
    if not words:
        return []
    phrase = '"' + " ".join(words) + '"'
    return [r[0] for r in conn.execute(
        "SELECT DISTINCT m.conversation_id FROM messages m WHERE m.id IN "
        "(SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?) AND m.role = 'visitor' "
        "AND instr(lower(m.text), ?) > 0", (phrase, address))]
