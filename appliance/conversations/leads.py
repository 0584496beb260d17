"""Leads left through the widget: the agent's form fields, validated, stored with the consent the visitor gave."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from appliance.agent.agents import Agent
from appliance.clock import Clock, isoformat
from appliance.conversations import analytics
from appliance.conversations.chat import Visitor
from appliance.errors import FieldErrors, NotFound
from appliance.storage.database import Database

BUILTIN_COLUMNS = ("name", "email", "phone", "company")
MAX_FIELD_CHARS = {"textarea": 2000}
DEFAULT_MAX_FIELD_CHARS = 300
THANKS = "Thank you! Someone will get back to you soon."
# The HTML living standard's definition of a valid email address, with a dot required in the domain.
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")
_PHONE = re.compile(r"\+?[0-9 ().\-/]{6,25}(?:\s*(?:ext\.?|x)\s*[0-9]{1,6})?", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Lead:
    id: str
    agent_id: str
    conversation_id: str | None
    name: str | None
    email: str | None
    phone: str | None
    company: str | None
    custom_fields: dict[str, str]
    consent_text: str
    consent_version: int
    consented_at: str
    page_url: str | None
    origin: str | None
    client_address: str | None
    created_at: str

    def public(self) -> dict:
        return {"id": self.id, "agent_id": self.agent_id, "conversation_id": self.conversation_id,
                "name": self.name, "email": self.email, "phone": self.phone, "company": self.company,
                "custom_fields": self.custom_fields,
                "consent": {"text": self.consent_text, "version": self.consent_version, "at": self.consented_at},
                "page_url": self.page_url, "origin": self.origin, "client_address": self.client_address,
                "created_at": self.created_at}


def lead_from_row(row) -> Lead:
    return Lead(row["id"], row["agent_id"], row["conversation_id"], row["name"], row["email"], row["phone"],
                row["company"], json.loads(row["custom_fields"]), row["consent_text"], row["consent_version"],
                row["consented_at"], row["page_url"], row["origin"], row["client_address"], row["created_at"])


def check_fields(agent: Agent, values: Any) -> dict[str, str]:
    """The visitor's answers to the agent's form, cleaned; FieldErrors names every field to fix at once."""
    if not isinstance(values, dict):
        raise FieldErrors("send the form's fields as an object", {})
    known = {f["name"]: f for f in agent.lead_fields}
    errors: dict[str, str] = {}
    for name in values:
        if name not in known:
            errors[str(name)[:40]] = "This form has no such field"
    cleaned: dict[str, str] = {}
    for name, field in known.items():
        value = values.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if field["required"]:
                errors[name] = f"{field['label']} is required"
            continue
        if not isinstance(value, str):
            errors[name] = f"{field['label']} must be text"
            continue
        value = value.strip()
        limit = MAX_FIELD_CHARS.get(field["type"], DEFAULT_MAX_FIELD_CHARS)
        if len(value) > limit:
            errors[name] = f"{field['label']} is at most {limit} characters"
        elif _CONTROL.search(value) or (field["type"] != "textarea" and "\n" in value):
            errors[name] = f"{field['label']} must be plain text on one line"
        elif field["type"] == "email" and not _EMAIL.fullmatch(value):
            errors[name] = "Enter an email address like name@example.com"
        elif field["type"] == "tel" and (not _PHONE.fullmatch(value) or not 6 <= sum(c.isdigit() for c in value) <= 20):
            errors[name] = "Enter a phone number like +44 20 7946 0958"
        else:
            cleaned[name] = value.lower() if field["type"] == "email" else value
    if errors:
        raise FieldErrors("some details need another look: " + "; ".join(errors.values()), errors)
    return cleaned


class LeadService:
    def __init__(self, db: Database, *, clock: Clock, on_lead: Callable[[Agent, Lead], None] | None = None) -> None:
        self._db = db
        self._clock = clock
        self._on_lead = on_lead or (lambda agent, lead: None)

    def submit(self, agent: Agent, *, conversation_id: str, visitor: Visitor, fields: Any, consent: Any,
               consent_version: Any) -> Lead:
        """Store a lead with the consent text and version shown; its conversation starts here if it has not yet."""
        cleaned = check_fields(agent, fields)
        if consent is not True:
            raise FieldErrors("tick the consent box to leave your details",
                              {"consent": "Tick this box to leave your details"})
        if consent_version != agent.consent_version:
            raise FieldErrors("the consent text has changed; read it again and confirm",
                              {"consent": "The consent text has changed; read it again"})
        at = self._clock.now()
        now = isoformat(at)
        lead_id = uuid.uuid4().hex
        custom = {k: v for k, v in cleaned.items() if k not in BUILTIN_COLUMNS}
        with self._db.transaction() as conn:
            row = conn.execute("SELECT agent_id, visitor_id FROM conversations WHERE id = ?",
                               (conversation_id,)).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO conversations (id, agent_id, started_at, updated_at, channel, visitor_id, origin, "
                    "page_url, client_address) VALUES (?, ?, ?, ?, 'widget', ?, ?, ?, ?)",
                    (conversation_id, agent.id, now, now, visitor.visitor_id, visitor.origin, visitor.page_url,
                     visitor.client_address))
                analytics.record(conn, agent_id=agent.id, kind="conversation", at=at, conversation_id=conversation_id)
            elif row["agent_id"] != agent.id or row["visitor_id"] != visitor.visitor_id:
                raise NotFound("no such conversation with this agent")
            conn.execute(
                "INSERT INTO leads (id, agent_id, conversation_id, name, email, phone, company, custom_fields, "
                "consent_text, consent_version, consented_at, page_url, origin, client_address, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (lead_id, agent.id, conversation_id, *(cleaned.get(c) for c in BUILTIN_COLUMNS),
                 json.dumps(custom, ensure_ascii=False), agent.consent_text, agent.consent_version, now,
                 visitor.page_url, visitor.origin, visitor.client_address, now))
            analytics.record(conn, agent_id=agent.id, kind="lead", at=at, conversation_id=conversation_id)
        lead = self.get(lead_id)
        self._on_lead(agent, lead)
        return lead

    def get(self, lead_id: str) -> Lead:
        row = self._db.query_one("SELECT * FROM leads WHERE id = ?", (lead_id,))
        if row is None:
            raise NotFound(f"no lead {lead_id}")
        return lead_from_row(row)
