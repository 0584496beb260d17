"""The SQL exports read beyond what the agent's record services already offer: sources with their originals, Q&A
pairs, one person's leads and conversations, and an account's memberships and sessions (never hashes or tokens)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from appliance.accounts.users import User, user_from_row
from appliance.conversations.leads import Lead, lead_from_row
from appliance.storage.database import Database

_IDS = "SELECT value FROM json_each(?)"


@dataclass(frozen=True)
class SourceRecord:
    id: str
    kind: str
    title: str
    url: str | None
    filename: str | None
    media_type: str | None
    status: str
    error: str | None
    size_bytes: int
    chunk_count: int
    content_hash: str | None
    created_at: str
    updated_at: str
    refreshed_at: str | None

    def public(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class QAPair:
    source_id: str
    source_title: str
    question: str
    answer: str


@dataclass(frozen=True)
class VisitorConversation:
    id: str
    visitor_id: str | None
    client_address: str | None


@dataclass(frozen=True)
class Membership:
    workspace_id: str
    workspace_name: str
    role: str
    joined_at: str


@dataclass(frozen=True)
class SessionRecord:
    id: str                          # the public handle sessions are listed and ended by, not the token
    created_at: str
    last_seen_at: str
    expires_at: str
    revoked_at: str | None
    client_address: str | None
    user_agent: str | None

    def public(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def sources(db: Database) -> list[SourceRecord]:
    return [SourceRecord(**{k: r[k] for k in r.keys()}) for r in db.query(
        "SELECT id, kind, title, url, filename, media_type, status, error, size_bytes, chunk_count, content_hash, "
        "created_at, updated_at, refreshed_at FROM sources ORDER BY created_at, id")]


def source_original(db: Database, source_id: str) -> bytes:
    """What the source was made from: the file as uploaded, the pasted text, the Q&A pairs as JSON, or nothing."""
    row = db.query_one("SELECT original FROM sources WHERE id = ?", (source_id,))
    return bytes(row["original"] or b"") if row else b""


def qa_pairs(db: Database) -> list[QAPair]:
    return [QAPair(r["source_id"], r["title"], r["question"], r["answer"]) for r in db.query(
        "SELECT q.source_id, s.title, q.question, q.answer FROM qa_pairs q JOIN sources s ON s.id = q.source_id "
        "ORDER BY s.created_at, s.id, q.id")]


def analytics_days(db: Database) -> tuple[str | None, str | None]:
    """The first and last day with an analytics event, or (None, None)."""
    row = db.query_one("SELECT min(day) AS first, max(day) AS last FROM analytics_events")
    return row["first"], row["last"]


def leads_with_email(db: Database, email: str) -> list[Lead]:
    """Leads left with this address; leads store addresses lower-cased, so `email` must be lower-cased too."""
    return [lead_from_row(r) for r in db.query("SELECT * FROM leads WHERE email = ? ORDER BY created_at, id",
                                               (email,))]


def conversations_of(db: Database, *, ids: list[str]) -> list[VisitorConversation]:
    return [VisitorConversation(r["id"], r["visitor_id"], r["client_address"]) for r in db.query(
        f"SELECT id, visitor_id, client_address FROM conversations WHERE id IN ({_IDS}) ORDER BY started_at, id",
        (json.dumps(ids),))]


def conversations_of_visitors(db: Database, visitor_ids: list[str]) -> list[VisitorConversation]:
    """Every widget conversation held under these visitor ids."""
    return [VisitorConversation(r["id"], r["visitor_id"], r["client_address"]) for r in db.query(
        f"SELECT id, visitor_id, client_address FROM conversations WHERE visitor_id IN ({_IDS}) "
        "ORDER BY started_at, id", (json.dumps(visitor_ids),))]


def user_with_email(db: Database, email: str) -> User | None:
    """The account with this address, in any case; the columns read leave password and second-factor secrets out."""
    row = db.query_one("SELECT id, email, display_name, is_operator, status, email_verified_at, totp_enabled_at, "
                       "created_at FROM users WHERE email = ?", (email,))
    return user_from_row(row) if row else None


def memberships_of(db: Database, user_id: str) -> list[Membership]:
    return [Membership(r["workspace_id"], r["name"], r["role"], r["created_at"]) for r in db.query(
        "SELECT m.workspace_id, w.name, m.role, m.created_at FROM memberships m "
        "JOIN workspaces w ON w.id = m.workspace_id WHERE m.user_id = ? ORDER BY m.created_at, w.id", (user_id,))]


def sessions_of(db: Database, user_id: str) -> list[SessionRecord]:
    """Every session the account has had that is still on record, ended ones included."""
    return [SessionRecord(**{k: r[k] for k in r.keys()}) for r in db.query(
        "SELECT id, created_at, last_seen_at, expires_at, revoked_at, client_address, user_agent FROM sessions "
        "WHERE user_id = ? ORDER BY created_at, id", (user_id,))]
