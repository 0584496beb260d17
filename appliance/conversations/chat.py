"""Conversations with an agent: each question and reply kept, with the passages every reply used and its feedback."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Callable

from appliance.agent.agents import Agent
from appliance.agent.answer import Answerer, Reply
from appliance.clock import Clock, isoformat
from appliance.conversations import analytics, daily_usage, message_index
from appliance.conversations.cited_passages import CitedPassage, cited_passage
from appliance.errors import NotFound, ValidationError
from appliance.knowledge.search import citation_url
from appliance.storage.database import Database

MAX_QUESTION_CHARS = 2000
HISTORY_TURNS = 3
RATINGS = ("up", "down")


@dataclass(frozen=True)
class Visitor:
    """Where a widget conversation comes from: the visitor token's id, the page, and the client address; and the
    keys its questions are counted under for the widget's daily shares (keyed hashes of its address and network)."""

    visitor_id: str
    origin: str
    page_url: str | None = None
    client_address: str | None = None
    counted_as: tuple[str, ...] = ()


@dataclass(frozen=True)
class Exchange:
    conversation_id: str
    message_id: int
    visitor_message_id: int
    reply: Reply
    created_at: str
    question: str

    def messages(self) -> tuple[Message, Message]:
        """The visitor's message and the reply as `ConversationService.messages` reads them back, without reading
        the rows just written (nothing else can have changed them yet: ratings come later)."""
        visitor = Message(self.visitor_message_id, "visitor", self.question, None, None, None, False, None,
                          self.created_at)
        reply = self.reply
        sources = [SourceLink(c.title, c.url, c.heading_path, rank)
                   for rank, c in enumerate(reply.citations) if c.title]
        return visitor, Message(self.message_id, "agent", reply.text, bool(reply.answered), float(reply.confidence),
                                reply.method, bool(reply.offer_lead_form), None, self.created_at, sources)


@dataclass(frozen=True)
class LeadLeft:
    """The (first) lead a visitor left in a conversation: when, and after which message (None: before any)."""

    created_at: str
    after_message_id: int | None


@dataclass(frozen=True)
class SourceLink:
    title: str
    url: str | None
    heading_path: str
    rank: int               # its place among the reply's citations, which names it for `cited_passage`

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
        f"""SELECT ms.message_id, ms.rank, c.title AS chunk_title, c.url, c.heading_path, s.title AS source_title,
                   s.kind
            FROM message_sources ms
            LEFT JOIN chunks c ON c.id = ms.chunk_id
            LEFT JOIN sources s ON s.id = ms.source_id
            WHERE ms.message_id IN ({marks}) ORDER BY ms.message_id, ms.rank""", message_ids)
    links: dict[int, list[SourceLink]] = {}
    for row in rows:
        title = row["chunk_title"] or row["source_title"]
        if title:
            links.setdefault(row["message_id"], []).append(
                SourceLink(title, citation_url(row["kind"], row["url"]), row["heading_path"] or "", row["rank"]))
    return links


class ConversationService:
    def __init__(self, db: Database, *, clock: Clock, answerer: Answerer,
                 on_reply: Callable[[str, Reply], None] | None = None) -> None:
        self._db = db
        self._clock = clock
        self._answerer = answerer
        self._on_reply = on_reply or (lambda channel, reply: None)

    def ask(self, agent: Agent, question: str, *, conversation_id: str | None = None,
            visitor: Visitor | None = None, caller: str | None = None,
            max_chars: int = MAX_QUESTION_CHARS) -> Exchange:
        """Answer `question` and keep both. A widget visitor's conversation id comes from its token and starts here;
        an API conversation (no `visitor`) is started by `caller` ("user:<id>", "api_key:<id>") and continues only
        for that same caller."""
        question = (question or "").strip()
        if not question:
            raise ValidationError("ask a question")
        if len(question) > max_chars:
            raise ValidationError(f"a question is at most {max_chars} characters; shorten it")
        with self._answerer.turns.taken():  # one reply at a time costs less CPU than several (appliance/turns.py)
            return self._answered(agent, question, conversation_id, visitor, caller)

    def _answered(self, agent: Agent, question: str, conversation_id: str | None, visitor: Visitor | None,
                  caller: str | None) -> Exchange:
        existing = self._conversation(agent, conversation_id, visitor, caller) if conversation_id else None
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
                    conn.execute("INSERT INTO conversations (id, agent_id, started_at, updated_at, started_by) "
                                 "VALUES (?, ?, ?, ?, ?)", (conversation_id, agent.id, now, now, caller))
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
            message_index.index_if_due(conn)
            analytics.record(conn, agent_id=agent.id, kind="question", at=at, conversation_id=conversation_id,
                             message_id=message_id, question=question,
                             answered=None if reply.method == "handoff" else int(reply.answered))
            if visitor is not None and visitor.counted_as:
                # With the question it counts, so the day's shares survive a restart exactly as the day's total does.
                daily_usage.count(conn, agent_id=agent.id, day=analytics.day_of(at), keys=visitor.counted_as)
        self._on_reply("api" if visitor is None else "widget", reply)
        return Exchange(conversation_id, message_id, visitor_message_id, reply, now, question)

    def _conversation(self, agent: Agent, conversation_id: str, visitor: Visitor | None, caller: str | None) -> bool:
        """Whether the conversation exists (a widget's may not yet). One of another agent, of another channel, of
        another widget visitor or started by another API caller is not found, so ids cannot be probed either."""
        row = self._db.query_one("SELECT agent_id, channel, visitor_id, started_by FROM conversations WHERE id = ?",
                                 (conversation_id,))
        if row is None:
            if visitor is None:
                raise NotFound(f"no conversation {conversation_id} with this agent")
            return False
        if visitor is not None:
            theirs = row["channel"] == "widget" and row["visitor_id"] == visitor.visitor_id
        else:
            # An API conversation without a caller on record (older ones) matches only the core's own callers,
            # which pass none; the API always passes its caller.
            theirs = row["channel"] == "api" and row["started_by"] == caller
        if row["agent_id"] != agent.id or not theirs:
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

    def cited_passage(self, conversation_id: str, message_id: int, rank: int) -> CitedPassage:
        """The passage reply `message_id` of this conversation cited `rank`th, as it read then."""
        return cited_passage(self._db, conversation_id=conversation_id, message_id=message_id, rank=rank)

    def lead_left(self, conversation_id: str) -> LeadLeft | None:
        """Whether the visitor left a lead in the conversation and, if so, after which of its messages: the last one
        at or before the lead's time (to the second)."""
        row = self._db.query_one(
            "SELECT l.created_at, (SELECT max(m.id) FROM messages m WHERE m.conversation_id = l.conversation_id "
            "AND m.created_at <= l.created_at) AS after_message_id "
            "FROM leads l WHERE l.conversation_id = ? ORDER BY l.created_at LIMIT 1", (conversation_id,))
        return LeadLeft(row["created_at"], row["after_message_id"]) if row else None

    def questions_today(self, agent_id: str, *, counted_as: str | None = None) -> int:
        """Questions asked of the agent since midnight UTC, for its daily limit; with `counted_as`, only the widget
        questions counted under that key (an address's or a network's share of the day)."""
        today = self._clock.now().astimezone(dt.timezone.utc).date().isoformat()
        if counted_as is not None:
            return daily_usage.questions(self._db, agent_id=agent_id, day=today, key=counted_as)
        row = self._db.query_one("SELECT count(*) AS n FROM analytics_events WHERE day = ? AND agent_id = ? "
                                 "AND kind = 'question'", (today, agent_id))
        return row["n"]

    def note_cap_alert(self, agent_id: str, percent: int) -> bool:
        """Record that the admins were told today that the agent reached `percent` of its day; False if they were
        already, so each alert goes once a day, restarts included."""
        now = self._clock.now()
        return daily_usage.mark_alert(self._db, agent_id=agent_id, day=analytics.day_of(now), percent=percent,
                                      at=isoformat(now))
