"""A conversation as the admin reads it: where and when it happened, each message in turn, each reply's outcome,
rating and cited sources (marked when the cited text has changed or gone since), and the leads it collected with
their consent."""

from __future__ import annotations

import html

from PySide6.QtWidgets import QTextBrowser, QWidget

from gui.widgets.formatting import when

MUTED = "color:#5f6b7a;"
CHANGED = "color:#8a4b00;"
# The reply's method (Reply.method) in the admin's words.
METHODS = {"qa": "Q&A answer", "extractive": "quoted from the training data",
           "generated": "worded by the language model", "fallback": "fell back", "handoff": "handed to a person"}
CHANNELS = {"widget": "the chat widget", "api": "the API"}
FEEDBACK = {"up": " · rated helpful (thumbs up)", "down": " · rated unhelpful (thumbs down)"}


def _text(value: str | None) -> str:
    return html.escape(value or "").replace("\n", "<br>")


def outcome(message: dict) -> str:
    """How a reply went, in words: answered (how), or fell back."""
    method = METHODS.get(message.get("method") or "", message.get("method") or "")
    if message.get("answered"):
        sure = f", {message['confidence']:.0%} sure" if message.get("confidence") is not None else ""
        return f"answered: {method}{sure}" if method else "answered"
    return method or "not answered"


def source_line(source: dict) -> str:
    """One cited source as HTML: its title, heading and address, and a warning when the cited text changed."""
    title = _text(source.get("title")) or "<i>(deleted source)</i>"
    heading = f" › {_text(source['heading_path'])}" if source.get("heading_path") else ""
    url = source.get("url") or ""
    if url.lower().startswith(("https://", "http://")):  # only web addresses become links the system opens
        address = f" — <a href='{html.escape(url, quote=True)}'>{_text(url)}</a>"
    else:
        address = f" — {_text(url)}" if url else ""
    changed = "" if source.get("current") else (
        f" <span style='{CHANGED}'>⚠ changed since: the cited text is no longer in the training data as the reply "
        "used it</span>")
    return f"{title}{heading}{address}{changed}"


def lead_block(lead: dict) -> str:
    """A lead's fields and its consent record, as HTML."""
    fields = [(name.title(), lead.get(name)) for name in ("name", "email", "phone", "company")]
    fields += list((lead.get("custom_fields") or {}).items())
    rows = "".join(f"<tr><td style='{MUTED}padding-right:12px'>{_text(name)}</td><td>{_text(value)}</td></tr>"
                   for name, value in fields if value)
    consent = lead["consent"]
    page = f" on {_text(lead.get('page_url'))}" if lead.get("page_url") else ""
    return (f"<table>{rows}</table><p style='{MUTED}'>Consent (version {consent['version']}), given "
            f"{when(consent['at'])}{page}:</p><blockquote>{_text(consent['text'])}</blockquote>")


def transcript_html(conversation: dict, *, agent_name: str = "") -> str:
    started = when(conversation["started_at"])
    channel = CHANNELS.get(conversation["channel"], conversation["channel"])
    where = f" on {_text(conversation['page_url'])}" if conversation.get("page_url") else ""
    agent = f" with {_text(agent_name)}" if agent_name else ""
    parts = [f"<p style='{MUTED}'>Started {started}{agent}, through {channel}{where}.</p>"]
    for message in conversation["messages"]:
        at = when(message["created_at"])[11:]
        if message["role"] == "visitor":
            parts.append(f"<p><b>Visitor</b> <span style='{MUTED}'>{at}</span><br>{_text(message['text'])}</p>")
            continue
        feedback = FEEDBACK.get(message.get("feedback") or "", "")
        style = "" if message.get("answered") else CHANGED
        parts.append(f"<p><b>Agent</b> <span style='{MUTED}'>{at} · </span><span style='{style or MUTED}'>"
                     f"{html.escape(outcome(message))}</span><span style='{MUTED}'>{feedback}</span><br>"
                     f"{_text(message['text'])}</p>")
        if message.get("sources"):
            items = "".join(f"<li>{source_line(s)}</li>" for s in message["sources"])
            parts.append(f"<p style='{MUTED}margin-bottom:0'>Sources:</p><ul style='margin-top:0'>{items}</ul>")
    if not conversation["messages"]:
        parts.append(f"<p style='{MUTED}'>No messages: the visitor left a lead without asking anything.</p>")
    leads = conversation.get("leads")
    if leads:
        parts.append("<h4>Lead</h4>" if len(leads) == 1 else f"<h4>{len(leads)} leads</h4>")
        parts.extend(lead_block(lead) for lead in leads)
    elif conversation.get("has_lead"):
        parts.append(f"<p style='{MUTED}'>The visitor left a lead; your role may not read leads.</p>")
    return "".join(parts)


class TranscriptView(QTextBrowser):
    """Read-only; links open in the system's browser."""

    def __init__(self, parent: QWidget | None = None, *, empty: str = "") -> None:
        super().__init__(parent)
        self.setObjectName("transcript")
        self.setOpenExternalLinks(True)
        self._empty = empty
        self.clear_transcript()

    def show_conversation(self, conversation: dict, *, agent_name: str = "") -> None:
        self.setHtml(transcript_html(conversation, agent_name=agent_name))

    def show_note(self, text: str) -> None:
        self.setHtml(f"<p style='{MUTED}'>{html.escape(text)}</p>")

    def clear_transcript(self) -> None:
        self.show_note(self._empty)
