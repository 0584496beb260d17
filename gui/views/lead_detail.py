"""One lead as the admin reads it: the details the visitor left, the consent record (the text they agreed to, its
version, when, on which page), and the conversation it came from."""

from __future__ import annotations

import html

from gui.views.conversation_transcript import MUTED, transcript_html
from gui.widgets.formatting import when


def _text(value: str | None) -> str:
    return html.escape(value or "").replace("\n", "<br>")


def lead_name(lead: dict) -> str:
    """How the lead is named in a sentence: its name and email, whichever it has."""
    parts = [p for p in (lead.get("name"), lead.get("email")) if p]
    if len(parts) == 2:
        return f"{parts[0]} ({parts[1]})"
    return parts[0] if parts else lead.get("phone") or lead.get("company") or f"lead {lead['id']}"


def lead_html(lead: dict, conversation: dict | None, *, agent_name: str = "",
              may_read_conversation: bool = True) -> str:
    fields = [(label, lead.get(name)) for name, label in (("name", "Name"), ("email", "Email"), ("phone", "Phone"),
                                                         ("company", "Company"))]
    fields += list((lead.get("custom_fields") or {}).items())
    fields += [("Agent", agent_name or lead["agent_id"]), ("Left", when(lead["created_at"])),
               ("From", lead.get("origin")), ("Address", lead.get("client_address"))]
    rows = "".join(f"<tr><td style='{MUTED}padding-right:14px'>{_text(label)}</td><td>{_text(value)}</td></tr>"
                   for label, value in fields if value)
    consent = lead["consent"]
    page = _text(lead.get("page_url")) or "(not known)"
    parts = [f"<h3>{_text(lead_name(lead))}</h3><table>{rows}</table>",
             "<h4>Consent record</h4>",
             f"<table><tr><td style='{MUTED}padding-right:14px'>Version</td><td>{consent['version']}</td></tr>"
             f"<tr><td style='{MUTED}padding-right:14px'>Given</td><td>{when(consent['at'])}</td></tr>"
             f"<tr><td style='{MUTED}padding-right:14px'>On the page</td><td>{page}</td></tr></table>",
             f"<p style='{MUTED}margin-bottom:0'>The text the visitor agreed to:</p>"
             f"<blockquote>{_text(consent['text'])}</blockquote>",
             "<h4>Conversation</h4>"]
    if not may_read_conversation:
        parts.append(f"<p style='{MUTED}'>Your role may not read conversations.</p>")
    elif conversation is None:
        parts.append(f"<p style='{MUTED}'>The conversation was deleted; the lead stays on its own.</p>" if
                     lead.get("conversation_id") is None else
                     f"<p style='{MUTED}'>The conversation is no longer there.</p>")
    else:
        # The conversation's own lead block would repeat what is shown above.
        parts.append(transcript_html({**conversation, "leads": [], "has_lead": False}, agent_name=agent_name))
    return "".join(parts)
