"""Agents of one workspace: name, persona, welcome, suggestions, fallback, threshold, length, leads, origins."""

from __future__ import annotations

import json
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from appliance.accounts import names
from appliance.agent.answer import AgentProfile
from appliance.agent.generator import GeneratorConfig
from appliance.clock import Clock, isoformat
from appliance.errors import NotFound, ValidationError
from appliance.storage.database import Database

DEFAULT_FALLBACK = ("I'm not sure about that one. Leave your details and a colleague will get back to you, or try "
                    "asking in other words.")
_TEXT_LIMITS = {"name": 100, "instructions": 4000, "welcome_message": 1000, "fallback_text": 1000,
                "consent_text": 2000}
# The lead form's built-in fields and the input type each has; any other field is the agent's own (text or textarea).
BUILTIN_LEAD_FIELDS = {"name": "text", "email": "email", "phone": "tel", "company": "text"}
_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass(frozen=True)
class Agent:
    id: str
    public_id: str
    name: str
    instructions: str
    welcome_message: str
    suggested_questions: list[str]
    fallback_text: str
    confidence_threshold: float
    answer_length: str
    lead_capture: str
    allowed_origins: list[str]
    generator: dict | None
    created_at: str
    updated_at: str
    color: str
    lead_fields: list[dict]
    consent_text: str
    consent_version: int
    notify_on_lead: bool

    def public(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @property
    def profile(self) -> AgentProfile:
        """What answering needs of this agent; a fallback text left at the default is no wording of the operator's,
        so answering uses its own, which names what was asked."""
        return AgentProfile(None if self.fallback_text == DEFAULT_FALLBACK else self.fallback_text,
                            self.confidence_threshold, self.answer_length, self.lead_capture, self.instructions,
                            GeneratorConfig.from_agent(self.generator),
                            suggested_questions=tuple(self.suggested_questions))


def _agent(row) -> Agent:
    return Agent(row["id"], row["public_id"], row["name"], row["instructions"], row["welcome_message"],
                 json.loads(row["suggested_questions"]), row["fallback_text"], row["confidence_threshold"],
                 row["answer_length"], row["lead_capture"], json.loads(row["allowed_origins"]),
                 json.loads(row["generator"]) if row["generator"] else None, row["created_at"], row["updated_at"],
                 row["color"], json.loads(row["lead_fields"]), row["consent_text"], row["consent_version"],
                 bool(row["notify_on_lead"]))


def check_settings(changes: dict[str, Any]) -> dict[str, Any]:
    """Validate agent settings; returns them ready to store (lists and objects as JSON)."""
    allowed = set(_TEXT_LIMITS) | {"suggested_questions", "confidence_threshold", "answer_length", "lead_capture",
                                   "allowed_origins", "generator", "color", "lead_fields", "notify_on_lead"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError(f"unknown agent setting(s): {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    if "name" in changes:
        out["name"] = names.check_name(changes["name"], what="the agent's 'name'", max_length=_TEXT_LIMITS["name"])
    for name, limit in _TEXT_LIMITS.items():
        if name in changes and name != "name":
            value = changes[name]
            required = name in ("name", "fallback_text", "consent_text")
            if not isinstance(value, str) or len(value) > limit or (required and not value.strip()):
                raise ValidationError(f"'{name}' must be text of at most {limit} characters"
                                      + (" and not empty" if required else ""))
            out[name] = value.strip()
    if "suggested_questions" in changes:
        value = changes["suggested_questions"]
        if not (isinstance(value, list) and len(value) <= 10 and all(isinstance(q, str) and 0 < len(q) <= 200
                                                                    for q in value)):
            raise ValidationError("'suggested_questions' is a list of at most 10 questions of up to 200 characters")
        out["suggested_questions"] = json.dumps([q.strip() for q in value])
    if "confidence_threshold" in changes:
        value = changes["confidence_threshold"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValidationError("'confidence_threshold' is a number from 0 to 1")
        out["confidence_threshold"] = float(value)
    for name, choices in (("answer_length", ("short", "medium", "long")),
                          ("lead_capture", ("off", "on_fallback", "always"))):
        if name in changes:
            if changes[name] not in choices:
                raise ValidationError(f"'{name}' is one of {', '.join(choices)}")
            out[name] = changes[name]
    if "allowed_origins" in changes:
        out["allowed_origins"] = json.dumps(_origins(changes["allowed_origins"]))
    if "generator" in changes:
        out["generator"] = None if changes["generator"] is None else json.dumps(_generator(changes["generator"]))
    if "color" in changes:
        if not isinstance(changes["color"], str) or not _COLOR.fullmatch(changes["color"]):
            raise ValidationError("'color' is a hex colour like #2563eb")
        out["color"] = changes["color"].lower()
    if "lead_fields" in changes:
        out["lead_fields"] = json.dumps(_lead_fields(changes["lead_fields"]))
    if "notify_on_lead" in changes:
        if not isinstance(changes["notify_on_lead"], bool):
            raise ValidationError("'notify_on_lead' is true or false")
        out["notify_on_lead"] = int(changes["notify_on_lead"])
    return out


def _lead_fields(value: Any) -> list[dict]:
    """The lead form: built-in fields (name, email, phone, company) and the agent's own, each optional or required."""
    usage = ("'lead_fields' is a list of 1 to 12 fields {name, label, required[, type]}: name is name, email, phone, "
             "company or your own lower-case name (letters, digits, _), type of your own fields is text or textarea")
    if not isinstance(value, list) or not 1 <= len(value) <= 12:
        raise ValidationError(usage)
    fields, seen = [], set()
    for field in value:
        if not isinstance(field, dict) or set(field) - {"name", "label", "required", "type"}:
            raise ValidationError(usage)
        name, label = field.get("name"), field.get("label")
        if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name) or name in seen or name == "consent":
            raise ValidationError(f"lead field name {name!r}: {usage}")
        label = names.check_name(label, what=f"the label of lead field {name!r}")
        if not isinstance(field.get("required", False), bool):
            raise ValidationError(f"lead field {name!r}: 'required' is true or false")
        kind = BUILTIN_LEAD_FIELDS.get(name) or field.get("type", "text")
        if name in BUILTIN_LEAD_FIELDS and field.get("type", kind) != kind:
            raise ValidationError(f"lead field {name!r} is always of type {kind}")
        if kind not in ("text", "textarea", "email", "tel"):
            raise ValidationError(f"lead field {name!r}: type is text or textarea")
        seen.add(name)
        fields.append({"name": name, "label": label, "type": kind, "required": field.get("required", False)})
    return fields


def origin_of(url: str) -> str | None:
    """The origin a browser would send for `url` (lower case, default port dropped), or None if it has none."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is None or port == {"http": 80, "https": 443}[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def _origins(value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > 50:
        raise ValidationError("'allowed_origins' is a list of at most 50 origins like https://intranet.example.com")
    origins = []
    for origin in value:
        parts = urlsplit(origin if isinstance(origin, str) else "")
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.path not in ("", "/") \
                or parts.query or parts.fragment or parts.username:
            raise ValidationError(f"'allowed_origins': item {len(origins) + 1} is not an origin (scheme://host[:port], "
                                  "nothing after)")
        origins.append(origin_of(f"{parts.scheme}://{parts.netloc}"))
    return origins


def _generator(value: Any) -> dict:
    if not isinstance(value, dict) or set(value) - {"url", "model", "timeout_seconds"} or "url" not in value:
        raise ValidationError("'generator' is {url, model, timeout_seconds} of an OpenAI-compatible endpoint, or null")
    parts = urlsplit(value["url"] if isinstance(value["url"], str) else "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("'generator/url' must be http(s)://host[:port]/...")
    timeout = value.get("timeout_seconds", 20)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 1 <= timeout <= 120:
        raise ValidationError("'generator/timeout_seconds' is 1 to 120 seconds")
    return {"url": value["url"], "model": str(value.get("model", ""))[:200], "timeout_seconds": timeout}


class AgentService:
    def __init__(self, db: Database, *, clock: Clock, on_created=None, on_deleted=None) -> None:
        self._db = db
        self._clock = clock
        self._on_created = on_created or (lambda agent: None)
        self._on_deleted = on_deleted or (lambda agent: None)

    def list(self) -> list[Agent]:
        return [_agent(r) for r in self._db.query("SELECT * FROM agents ORDER BY created_at, id")]

    def get(self, agent_id: str) -> Agent:
        row = self._db.query_one("SELECT * FROM agents WHERE id = ?", (agent_id,))
        if row is None:
            raise NotFound(f"no agent {agent_id}")
        return _agent(row)

    def by_public_id(self, public_id: str) -> Agent | None:
        row = self._db.query_one("SELECT * FROM agents WHERE public_id = ?", (public_id,))
        return _agent(row) if row else None

    def create(self, settings: dict[str, Any]) -> Agent:
        values = {"fallback_text": DEFAULT_FALLBACK, **check_settings(settings)}
        if "name" not in values:
            raise ValidationError("'name' is required")
        agent_id, now = uuid.uuid4().hex[:16], isoformat(self._clock.now())
        values.update(id=agent_id, public_id="ag_" + secrets.token_urlsafe(12), created_at=now, updated_at=now)
        names = ", ".join(values)
        with self._db.transaction() as conn:
            conn.execute(f"INSERT INTO agents ({names}) VALUES ({', '.join('?' * len(values))})",
                         list(values.values()))
        agent = self.get(agent_id)
        self._on_created(agent)
        return agent

    def update(self, agent_id: str, changes: dict[str, Any]) -> Agent:
        current = self.get(agent_id)
        values = check_settings(changes)
        if values.get("consent_text", current.consent_text) != current.consent_text:
            values["consent_version"] = current.consent_version + 1  # each lead records the version it agreed to
        if values:
            values["updated_at"] = isoformat(self._clock.now())
            assignments = ", ".join(f"{name} = ?" for name in values)
            with self._db.transaction() as conn:
                conn.execute(f"UPDATE agents SET {assignments} WHERE id = ?", [*values.values(), agent_id])
        return self.get(agent_id)

    def delete(self, agent_id: str) -> None:
        agent = self.get(agent_id)
        self._on_deleted(agent)  # the widget stops finding it first
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM agents WHERE id = ?", (agent_id,))
