"""One data subject's leads and conversations, found by email address the same way for erasure and for export."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from appliance.conversations import message_index
from appliance.conversations.leads import Lead, lead_from_row
from appliance.errors import ValidationError
from appliance.storage.database import Database

MAX_EMAIL = 320
LEAD_TEXT_FIELDS = ("name", "phone", "company")
_SHAPE = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+")
# An address in free text stands between characters that cannot continue it. Before it: none that a local part may
# hold (so e@example.test is not found inside joe@example.test), except = / ? which in running text and URLs
# (?email=jane@...) separate words. After it: no letter, digit or hyphen, and no dot followed by one (so
# jane@example.com is not found inside jane@example.com.evil), while a full stop ending a sentence is fine.
_BEFORE = r"(?<![\w.!#$%&'*+^`{|}~-])"
_AFTER = r"(?![\w-])(?!\.[\w-])"
_IDS = "SELECT value FROM json_each(?)"


def subject_address(email: Any) -> str:
    """The address as it is matched: surrounding whitespace removed, lower-cased whole.

    The domain is case-insensitive anyway. The local part may in theory be case-sensitive (RFC 5321), but no mail
    service in use tells Jane@ from jane@, leads have always stored addresses lower-cased, and an erasure must not
    miss a subject's records for a capital letter. Nothing else is folded: jane+shop@ and j.ane@ are other
    addresses, which may belong to other people."""
    if not isinstance(email, str) or len(email.strip()) > MAX_EMAIL or not _SHAPE.fullmatch(email.strip()):
        raise ValidationError("'email' is the visitor's email address, like jane@example.com")
    return email.strip().lower()


def subject_hash(email: str) -> str:
    """How receipts and the audit log name the data subject: SHA-256 of the address as matched."""
    return text_hash(subject_address(email))


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def mentions(text: Any, address: str) -> list[str]:
    """Each whole occurrence of `address` in `text`, in any case, as written there."""
    if not isinstance(text, str) or "@" not in text:
        return []
    return re.findall(_BEFORE + re.escape(address) + _AFTER, text, flags=re.IGNORECASE)


@dataclass(frozen=True)
class Match:
    """Why one record belongs to the subject: the field that holds the address and the text there, or the matched
    record that brought it in (a lead's conversation, or another conversation of the same widget visitor)."""

    record: str                 # lead or conversation
    id: str
    field: str                  # email, name, phone, company, custom_fields.<name>, messages.<id>; lead, visitor
    text: str | None = None     # the address as written in that field
    via: str | None = None      # the lead, or the conversation, whose match this one follows from

    def public(self, *, clear: bool) -> dict:
        """As a preview shows it (`clear`: the matched text itself), or as a receipt keeps it (its SHA-256)."""
        shown: dict[str, str] = {"record": self.record, "id": self.id, "field": self.field}
        if self.text is not None and clear:
            shown["matched"] = self.text
        elif self.text is not None:
            shown["matched_sha256"] = text_hash(self.text)
        if self.via is not None:
            shown["via"] = self.via
        return shown


@dataclass(frozen=True)
class SubjectRecords:
    leads: list[str]
    conversations: list[str]
    matches: list[Match]

    def fields_of(self, record: str, record_id: str) -> list[str]:
        return [m.field for m in self.matches if m.record == record and m.id == record_id]


def find_subject(conn, address: str) -> SubjectRecords:
    """In one workspace database (`conn`: a connection, inside the caller's transaction or snapshot): the leads
    left with `address` or naming it in another field, the conversations of those leads and the same widget
    visitors' other conversations, and the conversations in which a visitor wrote the address."""
    matches = _lead_matches(conn, address)
    leads = sorted({m.id for m in matches})
    of_leads = {r[0]: r[1] for r in conn.execute(
        f"SELECT conversation_id, min(id) FROM leads WHERE id IN ({_IDS}) AND conversation_id IS NOT NULL "
        "GROUP BY conversation_id", (json.dumps(leads),))}
    matches += [Match("conversation", c, "lead", via=lead) for c, lead in sorted(of_leads.items())]
    # The same widget visitor's other conversations are theirs too.
    lead_conversations = json.dumps(sorted(of_leads))
    matches += [Match("conversation", r[0], "visitor", via=r[1]) for r in conn.execute(
        f"SELECT c.id, min(v.id) FROM conversations c JOIN conversations v ON v.visitor_id = c.visitor_id "
        f"WHERE v.id IN ({_IDS}) AND c.id NOT IN ({_IDS}) GROUP BY c.id ORDER BY c.id",
        (lead_conversations, lead_conversations))]
    matches += _message_matches(conn, address)
    existing = {r[0] for r in conn.execute(f"SELECT id FROM conversations WHERE id IN ({_IDS})", (
        json.dumps(sorted({m.id for m in matches if m.record == "conversation"})),))}
    matches = [m for m in matches if m.record == "lead" or m.id in existing]
    return SubjectRecords(leads, sorted(existing), matches)


def leads_of(db: Database, ids: list[str]) -> list[Lead]:
    """The leads with these ids, oldest first."""
    return [lead_from_row(r) for r in db.query(
        f"SELECT * FROM leads WHERE id IN ({_IDS}) ORDER BY created_at, id", (json.dumps(ids),))]


def _lead_matches(conn, address: str) -> list[Match]:
    # SQL finds the candidates (the address, or an @ anywhere in the other fields); Python decides on whole words.
    rows = conn.execute(
        "SELECT id, email, name, phone, company, custom_fields FROM leads WHERE email = ? OR lower(email) = ? "
        "OR instr(concat_ws(' ', name, phone, company, custom_fields), '@') > 0 ORDER BY id", (address, address))
    found = []
    for row in rows:
        if isinstance(row["email"], str) and row["email"].strip().lower() == address:
            found.append(Match("lead", row["id"], "email", row["email"]))
        texts = [(name, row[name]) for name in LEAD_TEXT_FIELDS]
        custom = json.loads(row["custom_fields"] or "{}")
        texts += [(f"custom_fields.{name}", value) for name, value in sorted(custom.items())]
        found += [Match("lead", row["id"], name, text) for name, value in texts for text in mentions(value, address)]
    return found


def _message_matches(conn, address: str) -> list[Match]:
    """Visitor messages that hold the address: found through the index (or not indexed yet), confirmed on the
    text."""
    words = re.findall(r"[^\W_]+", address)
    if not words:
        return []
    rows = conn.execute(
        f"SELECT m.id, m.conversation_id, m.text FROM messages m WHERE {message_index.SEARCHED_OR_WAITING} "
        "AND m.role = 'visitor' ORDER BY m.id",
        ('"' + " ".join(words) + '"',))
    return [Match("conversation", r["conversation_id"], f"messages.{r['id']}", text)
            for r in rows for text in mentions(r["text"], address)]
