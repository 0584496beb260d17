"""Conversations as the workspace's people review them: filtered lists, transcripts with the passages each reply
cited, exports, and deletion on demand that takes the text with it everywhere."""

from __future__ import annotations

import json
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Iterator

from appliance.clock import Clock, isoformat
from appliance.conversations import listing, message_index
from appliance.conversations.leads import Lead, lead_from_row
from appliance.errors import NotFound, ValidationError
from appliance.exports.spreadsheets import csv_chunks
from appliance.exports.streamed import StreamedExport, json_array_chunks
from appliance.knowledge.search import citation_url, content_hash
from appliance.storage.database import Database

OUTCOMES = ("answered", "fell_back")
FEEDBACK = ("up", "down")
CHANNELS = ("api", "widget")
FORMATS = ("csv", "json")
MAX_DELETE = 1000
MAX_SEARCH_TERMS = 10
FIRST_QUESTION_CHARS = 200
EXPORT_BATCH = 500
CSV_COLUMNS = ("conversation_id", "agent_id", "started_at", "role", "text", "answered", "method", "feedback",
               "created_at", "sources")
_IDS = "SELECT value FROM json_each(?)"


@dataclass(frozen=True)
class ConversationFilters:
    agent_id: str | None = None
    since: str | None = None          # started at or after (inclusive)
    until: str | None = None          # started before (exclusive)
    outcome: str | None = None        # answered: every reply answered; fell_back: at least one fallback
    has_lead: bool | None = None
    feedback: str | None = None       # at least one reply rated so
    channel: str | None = None
    q: str | None = None              # every word appears somewhere in the conversation

    @classmethod
    def from_params(cls, params: listing.Params) -> "ConversationFilters":
        """Filters from query parameters; a value that is not understood is refused, never ignored."""
        q = (params.get("q") or "").strip() or None
        if q is not None and not search_terms(q):
            raise ValidationError("'q' needs at least one word (letters or digits) to search for")
        return cls(agent_id=params.get("agent_id") or None, since=listing.instant(params, "since"),
                   until=listing.instant(params, "until"), outcome=listing.choice(params, "outcome", OUTCOMES),
                   has_lead=listing.flag(params, "has_lead"), feedback=listing.choice(params, "feedback", FEEDBACK),
                   channel=listing.choice(params, "channel", CHANNELS), q=q)

    def summary(self) -> dict:
        """The filters in force, for an audit row: what was searched for is personal data and stays out of it."""
        used = {name: value for name, value in asdict(self).items() if value is not None}
        if "q" in used:
            used["q"] = True
        return used


@dataclass(frozen=True)
class ConversationSummary:
    id: str
    agent_id: str
    channel: str
    started_at: str
    updated_at: str
    origin: str | None
    page_url: str | None
    message_count: int
    answered_count: int
    fell_back_count: int
    has_lead: bool
    thumbs_up: int
    thumbs_down: int
    first_question: str | None

    def public(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class CitedSource:
    source_id: str | None
    title: str | None                 # None once the source itself is deleted
    url: str | None
    heading_path: str
    content_hash: str
    current: bool                     # the cited passage still exists with the text the reply was built on

    def label(self) -> str:
        title = self.title or "(deleted source)"
        return f"{title} ({self.url})" if self.url else title


@dataclass(frozen=True)
class RecordedMessage:
    id: int
    role: str
    text: str
    answered: bool | None
    confidence: float | None
    method: str | None
    feedback: str | None
    offer_lead_form: bool
    created_at: str
    sources: list[CitedSource] = field(default_factory=list)

    def public(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Transcript:
    id: str
    agent_id: str
    channel: str
    started_at: str
    updated_at: str
    origin: str | None
    page_url: str | None
    messages: list[RecordedMessage]
    leads: list[Lead]

    def public(self, *, with_leads: bool = True) -> dict:
        """The transcript as JSON; without leads (for whoever may not read them) it says only whether there are."""
        data = {"id": self.id, "agent_id": self.agent_id, "channel": self.channel, "started_at": self.started_at,
                "updated_at": self.updated_at, "origin": self.origin, "page_url": self.page_url,
                "has_lead": bool(self.leads), "messages": [m.public() for m in self.messages]}
        if with_leads:
            data["leads"] = [lead.public() for lead in self.leads]
        return data


@dataclass(frozen=True)
class Deletion:
    """What one deletion removed, for the receipt and the audit log: counts and ids, never text."""

    conversations: int
    messages: int
    leads_unlinked: int
    ids: list[str]
    at: str

    def counts(self) -> dict[str, int]:
        return {"conversations": self.conversations, "messages": self.messages, "leads_unlinked": self.leads_unlinked}


@dataclass(frozen=True)
class Export:
    content: str
    media_type: str
    filename: str
    count: int


def search_terms(text: str) -> list[str]:
    """The words of a search box, each quoted for FTS5, so no input is ever read as query syntax."""
    # FTS5 reads a query only up to a NUL, which would leave a quote open: control characters become spaces.
    text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
    words = [w for w in text.split() if any(ch.isalnum() for ch in w)]
    return ['"' + w.replace('"', '""') + '"' for w in words[:MAX_SEARCH_TERMS]]


def _where(filters: ConversationFilters) -> tuple[list[str], list]:
    clauses, params = [], []
    for column, value in (("c.agent_id = ?", filters.agent_id), ("c.started_at >= ?", filters.since),
                          ("c.started_at < ?", filters.until), ("c.channel = ?", filters.channel)):
        if value is not None:
            clauses.append(column)
            params.append(value)
    replies = "SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.role = 'agent'"
    if filters.outcome == "answered":
        clauses.append(f"EXISTS ({replies}) AND NOT EXISTS ({replies} AND m.answered = 0)")
    elif filters.outcome == "fell_back":
        clauses.append(f"EXISTS ({replies} AND m.method = 'fallback')")
    if filters.has_lead is not None:
        clauses.append(("" if filters.has_lead else "NOT ") +
                       "EXISTS (SELECT 1 FROM leads l WHERE l.conversation_id = c.id)")
    if filters.feedback is not None:
        clauses.append(f"EXISTS ({replies} AND m.feedback = ?)")
        params.append(filters.feedback)
    for term in search_terms(filters.q or ""):
        clauses.append("c.id IN (SELECT m.conversation_id FROM messages m WHERE m.id IN "
                       "(SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?))")
        params.append(term)
    return clauses, params


class ConversationRecords:
    def __init__(self, db: Database, *, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def count(self, filters: ConversationFilters | None = None) -> int:
        clauses, params = self._where(filters or ConversationFilters())
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return self._db.query_one(f"SELECT count(*) FROM conversations c {where}", params)[0]

    def list(self, filters: ConversationFilters | None = None, *, limit: int = listing.DEFAULT_LIMIT,
             after: str | None = None) -> listing.Page[ConversationSummary]:
        """Conversations newest first (ties by id), `limit` at a time; `after` is the previous page's next_after."""
        clauses, params = self._where(filters or ConversationFilters())
        start = listing.position(after)
        if start is not None:
            clauses.append("(c.started_at < ? OR (c.started_at = ? AND c.id > ?))")
            params += [start[0], start[0], start[1]]
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.query(
            "SELECT c.id, c.agent_id, c.channel, c.started_at, c.updated_at, c.origin, c.page_url "
            f"FROM conversations c {where} ORDER BY c.started_at DESC, c.id LIMIT ?", [*params, limit + 1])
        more, rows = len(rows) > limit, rows[:limit]
        ids = json.dumps([r["id"] for r in rows])
        counts = {r["conversation_id"]: r for r in self._db.query(
            f"""WITH counted AS (
                    SELECT conversation_id, count(*) AS message_count,
                           sum(role = 'agent' AND answered IS 1) AS answered_count,
                           sum(method IS 'fallback') AS fell_back_count,
                           sum(feedback IS 'up') AS thumbs_up, sum(feedback IS 'down') AS thumbs_down,
                           min(CASE WHEN role = 'visitor' THEN id END) AS first_id
                    FROM messages WHERE conversation_id IN ({_IDS}) GROUP BY conversation_id)
                SELECT counted.*, substr(v.text, 1, ?) AS first_question
                FROM counted LEFT JOIN messages v ON v.id = counted.first_id""",
            (ids, FIRST_QUESTION_CHARS + 1))}
        with_leads = {r[0] for r in self._db.query(
            f"SELECT DISTINCT conversation_id FROM leads WHERE conversation_id IN ({_IDS})", (ids,))}
        no_messages = {"message_count": 0, "answered_count": 0, "fell_back_count": 0, "thumbs_up": 0,
                       "thumbs_down": 0, "first_question": None}  # a conversation a lead started, nothing asked
        items = []
        for row in rows:
            count = counts.get(row["id"], no_messages)
            items.append(ConversationSummary(
                row["id"], row["agent_id"], row["channel"], row["started_at"], row["updated_at"], row["origin"],
                row["page_url"], count["message_count"], count["answered_count"], count["fell_back_count"],
                row["id"] in with_leads, count["thumbs_up"], count["thumbs_down"],
                listing.shorten(count["first_question"], FIRST_QUESTION_CHARS)))
        next_after = listing.cursor(rows[-1]["started_at"], rows[-1]["id"]) if more else None
        return listing.Page(items, next_after)

    def _where(self, filters: ConversationFilters) -> tuple[list[str], list]:
        if filters.q:
            message_index.up_to_date(self._db)  # words are searched in the index only
        return _where(filters)

    def get(self, conversation_id: str) -> Transcript:
        """One conversation with every message, the sources its replies cited, and its leads."""
        found = self._transcripts([conversation_id])
        if not found:
            raise NotFound(f"no conversation {conversation_id}")
        return found[0]

    def delete(self, conversation_id: str) -> Deletion:
        """Delete one conversation; see `delete_many`."""
        with self._db.transaction() as conn:
            if conn.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)).fetchone() is None:
                raise NotFound(f"no conversation {conversation_id}")
            return self._delete(conn, [conversation_id])

    def delete_many(self, ids: list[str]) -> Deletion:
        """Delete conversations in one transaction: their messages, cited sources and search index entries go, their
        leads stay without the link, and their analytics keep the counts but lose the question text."""
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ValidationError("'ids' is a list of conversation ids")
        if not 1 <= len(ids) <= MAX_DELETE:
            raise ValidationError(f"delete 1 to {MAX_DELETE} conversations at a time")
        with self._db.transaction() as conn:
            return self._delete(conn, list(dict.fromkeys(ids)))

    def _delete(self, conn, ids: list[str]) -> Deletion:
        requested = json.dumps(ids)
        found = [r[0] for r in conn.execute(f"SELECT id FROM conversations WHERE id IN ({_IDS}) ORDER BY id",
                                            (requested,))]
        ids_json = json.dumps(found)
        messages = conn.execute(f"SELECT count(*) FROM messages WHERE conversation_id IN ({_IDS})",
                                (ids_json,)).fetchone()[0]
        leads = conn.execute(f"SELECT count(*) FROM leads WHERE conversation_id IN ({_IDS})",
                             (ids_json,)).fetchone()[0]
        conn.execute(f"UPDATE analytics_events SET question = NULL WHERE conversation_id IN ({_IDS}) "
                     "AND question IS NOT NULL", (ids_json,))
        # Messages and their cited sources cascade, the search index follows by trigger, leads lose the link.
        conn.execute(f"DELETE FROM conversations WHERE id IN ({_IDS})", (ids_json,))
        return Deletion(len(found), messages, leads, found, isoformat(self._clock.now()))

    def export(self, filters: ConversationFilters, format: str) -> Export:
        """Every matching conversation at once; `stream` gives the same a page at a time."""
        stream = self.stream(filters, format)
        content = "".join(stream.chunks)
        return Export(content, stream.media_type, stream.filename, stream.count)

    def stream(self, filters: ConversationFilters, format: str) -> StreamedExport:
        """Every matching conversation, newest first, made as it is read: CSV with one row per message, or JSON
        transcripts (without leads). Each page is read on its own: inside `Database.snapshot()` all show one moment.
        """
        if format not in FORMATS:
            raise ValidationError(f"'format' is one of: {', '.join(FORMATS)}")
        day = isoformat(self._clock.now())[:10]
        if format == "json":
            export = StreamedExport("application/json", f"conversations-{day}.json")
            export.chunks = json_array_chunks([t.public(with_leads=False) for t in page]
                                              for page in export.counting(self._pages(filters)))
            return export
        export = StreamedExport("text/csv", f"conversations-{day}.csv")
        rows = ([t.id, t.agent_id, t.started_at, m.role, m.text, m.answered, m.method, m.feedback, m.created_at,
                 " | ".join(s.label() for s in m.sources)]
                for page in export.counting(self._pages(filters)) for t in page for m in t.messages)
        export.chunks = csv_chunks(CSV_COLUMNS, rows)
        return export

    def _pages(self, filters: ConversationFilters) -> Iterator[list[Transcript]]:
        after = None
        while True:
            page = self.list(filters, limit=EXPORT_BATCH, after=after)
            yield self._transcripts([c.id for c in page.items])
            if page.next_after is None:
                return
            after = page.next_after

    def _transcripts(self, ids: list[str]) -> list[Transcript]:
        """Transcripts of the given conversations, in the given order, in four queries whatever their number."""
        ids_json = json.dumps(ids)
        conversations = self._db.query(
            "SELECT id, agent_id, channel, started_at, updated_at, origin, page_url FROM conversations "
            f"WHERE id IN ({_IDS})", (ids_json,))
        messages = self._db.query(
            "SELECT id, conversation_id, role, text, answered, confidence, method, feedback, offer_lead_form, "
            f"created_at FROM messages WHERE conversation_id IN ({_IDS}) ORDER BY id", (ids_json,))
        sources = self._cited([m["id"] for m in messages if m["role"] == "agent"])
        leads: dict[str, list[Lead]] = {}
        for row in self._db.query(f"SELECT * FROM leads WHERE conversation_id IN ({_IDS}) ORDER BY created_at, id",
                                  (ids_json,)):
            leads.setdefault(row["conversation_id"], []).append(lead_from_row(row))
        by_conversation: dict[str, list[RecordedMessage]] = {}
        for m in messages:
            by_conversation.setdefault(m["conversation_id"], []).append(RecordedMessage(
                m["id"], m["role"], m["text"], None if m["answered"] is None else bool(m["answered"]),
                m["confidence"], m["method"], m["feedback"], bool(m["offer_lead_form"]), m["created_at"],
                sources.get(m["id"], [])))
        found = {c["id"]: Transcript(c["id"], c["agent_id"], c["channel"], c["started_at"], c["updated_at"],
                                     c["origin"], c["page_url"], by_conversation.get(c["id"], []),
                                     leads.get(c["id"], []))
                 for c in conversations}
        return [found[i] for i in ids if i in found]

    def _cited(self, message_ids: list[int]) -> dict[int, list[CitedSource]]:
        """Each reply's cited passages, marked current while the passage still holds the text it had then."""
        if not message_ids:
            return {}
        rows = self._db.query(
            f"""SELECT ms.message_id, ms.source_id, ms.content_hash, ms.chunk_id, ms.qa_pair_id,
                       c.source_id AS chunk_source, c.title AS chunk_title, c.url AS chunk_url, c.heading_path,
                       c.content_hash AS chunk_hash, q.source_id AS qa_source, q.answer AS qa_answer,
                       s.title AS source_title, s.url AS source_url, s.kind AS source_kind
                FROM message_sources ms
                LEFT JOIN chunks c ON c.id = ms.chunk_id
                LEFT JOIN qa_pairs q ON q.id = ms.qa_pair_id
                LEFT JOIN sources s ON s.id = ms.source_id
                WHERE ms.message_id IN ({_IDS}) ORDER BY ms.message_id, ms.rank""", (json.dumps(message_ids),))
        cited: dict[int, list[CitedSource]] = {}
        for r in rows:
            if r["chunk_id"] is not None:
                current = r["chunk_source"] == r["source_id"] and r["chunk_hash"] == r["content_hash"]
            else:
                current = (r["qa_answer"] is not None and r["qa_source"] == r["source_id"]
                           and content_hash(r["qa_answer"]) == r["content_hash"])
            if current and r["chunk_id"] is not None:
                source = CitedSource(r["source_id"], r["chunk_title"], citation_url(r["source_kind"], r["chunk_url"]),
                                     r["heading_path"] or "", r["content_hash"], True)
            else:
                source = CitedSource(r["source_id"], r["source_title"], citation_url(r["source_kind"], r["source_url"]),
                                     "", r["content_hash"], current)
            cited.setdefault(r["message_id"], []).append(source)
        return cited
