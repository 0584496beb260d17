"""The inbox's columns: when a conversation started, with which agent, its first question, how many messages, how it
went, whether it left a lead, how its replies were rated, and where it came from."""

from __future__ import annotations

from typing import Callable

from gui.models.table import Column
from gui.widgets.formatting import when

FELL_BACK = "#fff4e5"
CHANNEL_NAMES = {"widget": "widget", "api": "API"}


def conversation_outcome(record: dict) -> str:
    if not record["message_count"]:
        return "no messages"
    if record["fell_back_count"]:
        return f"fell back ×{record['fell_back_count']}" if record["fell_back_count"] > 1 else "fell back"
    return "answered" if record["answered_count"] else "no reply"


def thumbs(record: dict) -> str:
    """The replies' ratings: '2 up, 1 down'."""
    parts = ([f"{record['thumbs_up']} up"] if record["thumbs_up"] else []) + (
        [f"{record['thumbs_down']} down"] if record["thumbs_down"] else [])
    return ", ".join(parts)


def fell_back_highlight(record: dict) -> str | None:
    """Conversations where the agent fell back stand out: they show what the training data lacks."""
    return FELL_BACK if record["fell_back_count"] else None


def inbox_columns(agent_name: Callable[[str], str]) -> list[Column]:
    return [
        Column("started_at", "Started", show=lambda c: when(c["started_at"])[:16], sort=lambda c: c["started_at"]),
        Column("agent_id", "Agent", show=lambda c: agent_name(c["agent_id"])),
        Column("first_question", "First question", show=lambda c: c["first_question"] or "(none)"),
        Column("message_count", "Messages", sort=lambda c: c["message_count"]),
        Column("outcome", "Outcome", show=conversation_outcome),
        Column("has_lead", "Lead", show=lambda c: "yes" if c["has_lead"] else ""),
        Column("feedback", "Feedback", show=thumbs, sort=lambda c: c["thumbs_up"] - c["thumbs_down"]),
        Column("channel", "Channel", show=lambda c: CHANNEL_NAMES.get(c["channel"], c["channel"])),
    ]
