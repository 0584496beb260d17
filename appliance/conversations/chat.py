"""Conversations with an agent: each question and reply kept, with the passages every reply used and its feedback."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from appliance.agent.agents import Agent
from appliance.agent.answer import Answerer, Reply
from appliance.clock import Clock, isoformat
from appliance.conversations import analytics
from appliance.errors import NotFound, ValidationError
from appliance.storage.database import Database

MAX_QUESTION_CHARS = 2000
HISTORY_TURNS = 3
RATINGS = ("up", "down")


@dataclass(frozen=True)
class Visitor:
    """Where a widget conversation comes from: the visitor token's id, the page, and the client address."""

    visitor_id: str
    origin: str
    page_url: str | None = None
    client_address: str | None = None


@dataclass(frozen=True)
class Exchange:
    conversation_id: str
    message_id: int
    visitor_message_id: int
    reply: Reply
    created_at: str


@dataclass(frozen=True)
class SourceLink:
    title: str
    url: str | None
    heading_path: str

    def public(self) -> dict:
        return {"title": self.title, "url": self.url, "heading_path": self.heading_path}


@dataclass(frozen=True)
class Message:
    id: int
    role: str
    text: str
    answered: bool | None
    confidence: float | None
    method: str | None
    offer_lead_form: bool
    feedback: str | None
    created_at: str
    sources: list[SourceLink] = field(default_factory=list)

    def public(self) -> dict:
        return {"id": self.id, "role": self.role, "text": self.text, "answered": self.answered,
                "confidence": self.confidence, "method": self.method, "offer_lead_form": self.offer_lead_form,
                "feedback": self.feedback, "created_at": self.created_at,
                "sources": [s.public() for s in self.sources]}


def _message(row, sources: list[SourceLink]) -> Message:
    return Message(row["id"], row["role"], row["text"], None if row["answered"] is None else bool(row["answered"]),
                   row["confidence"], row["method"], bool(row["offer_lead_form"]), row["feedback"],
                   row["created_at"], sources)


def message_sources(db: Database, message_ids: list[int]) -> dict[int, list[SourceLink]]:
    """The passages each reply cited, as links; a passage edited away since shows its source's title alone."""
    if not message_ids:
        return {}
    marks = ", ".join("?" * len(message_ids))
    rows = db.query(
        f"""SELECT ms.message_id, ms.rank, c.title AS chunk_title, c.url, c.heading_path, s.title AS source_title
            FROM message_sources ms
            LEFT JOIN chunks c ON c.id = ms.chunk_id
            LEFT JOIN sources s ON s.id = ms.source_id
            WHERE ms.message_id IN ({marks}) ORDER BY ms.message_id, ms.rank""", message_ids)
    links: dict[int, list[SourceLink]] = {}
    for row in rows:
        title = row["chunk_title"] or row["source_title"]
        if title:
            links.setdefault(row["message_id"], []).append(
                SourceLink(title, row["url"], row["heading_path"] or ""))
    return links


class ConversationService:
    def __init__(self, db: Database, *, clock: Clock, answerer: Answerer) -> None:
        self._db = db
        self._clock = clock
        self._answerer = answerer

    def ask(self, agent: Agent, question: str, *, conversation_id: str | None = None,
            visitor: Visitor | None = None, max_chars: int = MAX_QUESTION_CHARS) -> Exchange:
        """Answer `question` and keep both. A widget visitor's conversation id comes from its token and starts here."""
        question = (question or "").strip()
        if not question:
            raise ValidationError("ask a question")
        if len(question) > max_chars:
            raise ValidationError(f"a message is at most {max_chars} characters")
        existing = self._conversation(agent, conversation_id, visitor) if conversation_id else None
        history: list[str] = []
        if existing:
            history = [r["text"] for r in reversed(self._db.query(
                "SELECT text FROM messages WHERE conversation_id = ? AND role = 'visitor' ORDER BY id DESC LIMIT ?",
                (conversation_id, HISTORY_TURNS)))]
        reply = self._answerer.answer(agent.profile, question, history=history)
        at = self._clock.now()
        now = isoformat(at)
        with self._db.transaction() as conn:
            if not existing:
                conversation_id = conversation_id or uuid.uuid4().hex
                if visitor is None:
                    conn.execute("INSERT INTO conversations (id, agent_id, started_at, updated_at) VALUES (?, ?, ?, ?)",
                                 (conversation_id, agent.id, now, now))
                else:
                    conn.execute(
                        "INSERT INTO conversations (id, agent_id, started_at, updated_at, channel, visitor_id, origin, "
                        "page_url, client_address) VALUES (?, ?, ?, ?, 'widget', ?, ?, ?, ?)",
                        (conversation_id, agent.id, now, now, visitor.visitor_id, visitor.origin, visitor.page_url,
                         visitor.client_address))
                analytics.record(conn, agent_id=agent.id, kind="conversation", at=at, conversation_id=conversation_id)
            else:
                conn.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id))
            visitor_message_id = conn.execute(
                "INSERT INTO messages (conversation_id, role, text, created_at) VALUES (?, 'visitor', ?, ?)",
                (conversation_id, question, now)).lastrowid
            message_id = conn.execute(
                "INSERT INTO messages (conversation_id, role, text, answered, confidence, method, offer_lead_form, "
                "created_at) VALUES (?, 'agent', ?, ?, ?, ?, ?, ?)",
                (conversation_id, reply.text, int(reply.answered), reply.confidence, reply.method,
                 int(reply.offer_lead_form), now),
            ).lastrowid
            conn.executemany(
                "INSERT INTO message_sources (message_id, rank, chunk_id, qa_pair_id, source_id, content_hash) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(message_id, rank, c.chunk_id, c.qa_id, c.source_id, c.content_hash)
                 for rank, c in enumerate(reply.citations)],
            )
            analytics.record(conn, agent_id=agent.id, kind="question", at=at, conversation_id=conversation_id,
                             message_id=message_id, question=question,
                             answered=None if reply.method == "handoff" else int(reply.answered))
        return Exchange(conversation_id, message_id, visitor_message_id, reply, now)

    def _conversation(self, agent: Agent, conversation_id: str, visitor: Visitor | None) -> bool:
        """Whether the conversation exists (a widget's may not yet); one of another agent or visitor is not found."""
        row = self._db.query_one("SELECT agent_id, visitor_id FROM conversations WHERE id = ?", (conversation_id,))
        if row is None:
            if visitor is None:
                raise NotFound(f"no conversation {conversation_id} with this agent")
            return False
        if row["agent_id"] != agent.id or (visitor is not None and row["visitor_id"] != visitor.visitor_id):
            raise NotFound(f"no conversation {conversation_id} with this agent")
        return True

    def messages(self, conversation_id: str, *, since_id: int = 0) -> list[Message]:
        """The conversation's messages after `since_id` (all by default), oldest first, replies with their sources;
        empty if it has not started."""
        rows = self._db.query("SELECT id, role, text, answered, confidence, method, offer_lead_form, feedback, "
                              "created_at FROM messages WHERE conversation_id = ? AND id > ? ORDER BY id",
                              (conversation_id, since_id))
        sources = message_sources(self._db, [r["id"] for r in rows if r["role"] == "agent"])
        return [_message(r, sources.get(r["id"], [])) for r in rows]

    def transcript(self, conversation_id: str) -> list[dict]:
        messages = self.messages(conversation_id)
        if not messages:
            raise NotFound(f"no conversation {conversation_id}")
        return [m.public() for m in messages]

    def rate(self, conversation_id: str, message_id: int, rating: str | None) -> None:
        """Thumbs up or down on one reply of the conversation (None takes the rating back)."""
        if rating is not None and rating not in RATINGS:
            raise ValidationError("'rating' is up, down or null")
        at = self._clock.now()
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT m.id, c.agent_id FROM messages m JOIN conversations c ON c.id = m.conversation_id "
                "WHERE m.id = ? AND m.conversation_id = ? AND m.role = 'agent'", (message_id, conversation_id),
            ).fetchone()
            if row is None:
                raise NotFound(f"no reply {message_id} in this conversation")
            conn.execute("UPDATE messages SET feedback = ? WHERE id = ?", (rating, message_id))
            conn.execute("DELETE FROM analytics_events WHERE message_id = ? AND kind IN ('thumbs_up', 'thumbs_down')",
                         (message_id,))
            if rating is not None:
                analytics.record(conn, agent_id=row["agent_id"], kind=f"thumbs_{rating}", at=at,
                                 conversation_id=conversation_id, message_id=message_id)

    def has_lead(self, conversation_id: str) -> bool:
        row = self._db.query_one("SELECT 1 FROM leads WHERE conversation_id = ? LIMIT 1", (conversation_id,))
        return row is not None

    def questions_today(self, agent_id: str) -> int:
        """Questions asked of the agent since midnight UTC, for its daily limit."""
        today = self._clock.now().astimezone(dt.timezone.utc).date().isoformat()
        row = self._db.query_one("SELECT count(*) AS n FROM analytics_events WHERE day = ? AND agent_id = ? "
                                 "AND kind = 'question'", (today, agent_id))
        return row["n"]
