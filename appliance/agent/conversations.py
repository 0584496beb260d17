"""Conversations with an agent: each question and reply kept, with the passages every reply used."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from appliance.agent.agents import Agent
from appliance.agent.answer import Answerer, Reply
from appliance.clock import Clock, isoformat
from appliance.errors import NotFound, ValidationError
from appliance.storage.database import Database

MAX_QUESTION_CHARS = 2000
HISTORY_TURNS = 3


@dataclass(frozen=True)
class Exchange:
    conversation_id: str
    message_id: int
    reply: Reply


class ConversationService:
    def __init__(self, db: Database, *, clock: Clock, answerer: Answerer) -> None:
        self._db = db
        self._clock = clock
        self._answerer = answerer

    def ask(self, agent: Agent, question: str, *, conversation_id: str | None = None) -> Exchange:
        question = (question or "").strip()
        if not question:
            raise ValidationError("ask a question")
        if len(question) > MAX_QUESTION_CHARS:
            raise ValidationError(f"a question is at most {MAX_QUESTION_CHARS} characters")
        history: list[str] = []
        if conversation_id:
            row = self._db.query_one("SELECT agent_id FROM conversations WHERE id = ?", (conversation_id,))
            if row is None or row["agent_id"] != agent.id:
                raise NotFound(f"no conversation {conversation_id} with this agent")
            history = [r["text"] for r in reversed(self._db.query(
                "SELECT text FROM messages WHERE conversation_id = ? AND role = 'visitor' ORDER BY id DESC LIMIT ?",
                (conversation_id, HISTORY_TURNS)))]
        reply = self._answerer.answer(agent.profile, question, history=history)
        now = isoformat(self._clock.now())
        with self._db.transaction() as conn:
            if not conversation_id:
                conversation_id = uuid.uuid4().hex
                conn.execute("INSERT INTO conversations (id, agent_id, started_at, updated_at) VALUES (?, ?, ?, ?)",
                             (conversation_id, agent.id, now, now))
            else:
                conn.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id))
            conn.execute("INSERT INTO messages (conversation_id, role, text, created_at) VALUES (?, 'visitor', ?, ?)",
                         (conversation_id, question, now))
            message_id = conn.execute(
                "INSERT INTO messages (conversation_id, role, text, answered, confidence, method, created_at) "
                "VALUES (?, 'agent', ?, ?, ?, ?, ?)",
                (conversation_id, reply.text, int(reply.answered), reply.confidence, reply.method, now),
            ).lastrowid
            conn.executemany(
                "INSERT INTO message_sources (message_id, rank, chunk_id, qa_pair_id, source_id, content_hash) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(message_id, rank, c.chunk_id, c.qa_id, c.source_id, c.content_hash)
                 for rank, c in enumerate(reply.citations)],
            )
        return Exchange(conversation_id, message_id, reply)

    def transcript(self, conversation_id: str) -> list[dict]:
        rows = self._db.query("SELECT id, role, text, answered, confidence, method, created_at FROM messages "
                              "WHERE conversation_id = ? ORDER BY id", (conversation_id,))
        if not rows:
            raise NotFound(f"no conversation {conversation_id}")
        return [dict(r) for r in rows]
