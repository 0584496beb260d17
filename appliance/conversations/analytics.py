"""Analytics events: one row per conversation started, question asked, lead left and thumbs given, counted per day."""

from __future__ import annotations

import datetime as dt

from appliance.clock import isoformat

KINDS = ("conversation", "question", "lead", "thumbs_up", "thumbs_down")


def day_of(at: dt.datetime) -> str:
    return at.astimezone(dt.timezone.utc).date().isoformat()


def record(conn, *, agent_id: str, kind: str, at: dt.datetime, conversation_id: str | None = None,
           message_id: int | None = None, answered: int | None = None, question: str | None = None) -> None:
    """Add one event inside the caller's transaction, so it commits or rolls back with what it counts."""
    if kind not in KINDS:
        raise ValueError(f"unknown analytics event {kind!r}")
    conn.execute(
        "INSERT INTO analytics_events (agent_id, day, kind, conversation_id, message_id, answered, question, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (agent_id, day_of(at), kind, conversation_id, message_id, answered, question,
         isoformat(at)))
