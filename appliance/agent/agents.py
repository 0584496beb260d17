"""Agents of one workspace: name, persona, welcome, suggestions, fallback, threshold, length, leads, origins."""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from appliance.agent.answer import AgentProfile
from appliance.agent.generator import GeneratorConfig
from appliance.clock import Clock, isoformat
from appliance.errors import NotFound, ValidationError
from appliance.storage.database import Database

DEFAULT_FALLBACK = ("I'm not sure about that one. Leave your details and a colleague will get back to you, or try "
                    "asking in other words.")
_TEXT_LIMITS = {"name": 100, "instructions": 4000, "welcome_message": 1000, "fallback_text": 1000}


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

    def public(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @property
    def profile(self) -> AgentProfile:
        return AgentProfile(self.fallback_text, self.confidence_threshold, self.answer_length, self.lead_capture,
                            self.instructions, GeneratorConfig.from_agent(self.generator))


def _agent(row) -> Agent:
    return Agent(row["id"], row["public_id"], row["name"], row["instructions"], row["welcome_message"],
                 json.loads(row["suggested_questions"]), row["fallback_text"], row["confidence_threshold"],
                 row["answer_length"], row["lead_capture"], json.loads(row["allowed_origins"]),
                 json.loads(row["generator"]) if row["generator"] else None, row["created_at"], row["updated_at"])


def check_settings(changes: dict[str, Any]) -> dict[str, Any]:
    """Validate agent settings; returns them ready to store (lists and objects as JSON)."""
    allowed = set(_TEXT_LIMITS) | {"suggested_questions", "confidence_threshold", "answer_length", "lead_capture",
                                   "allowed_origins", "generator"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError(f"unknown agent setting(s): {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    for name, limit in _TEXT_LIMITS.items():
        if name in changes:
            value = changes[name]
            if not isinstance(value, str) or len(value) > limit or (name in ("name", "fallback_text")
                                                                    and not value.strip()):
                raise ValidationError(f"'{name}' must be text of at most {limit} characters"
                                      + (" and not empty" if name in ("name", "fallback_text") else ""))
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
    return out


def _origins(value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > 50:
        raise ValidationError("'allowed_origins' is a list of at most 50 origins like https://intranet.example.com")
    origins = []
    for origin in value:
        parts = urlsplit(origin if isinstance(origin, str) else "")
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.path not in ("", "/") \
                or parts.query or parts.fragment or parts.username:
            raise ValidationError(f"{origin!r} is not an origin (scheme://host[:port], nothing after)")
        origins.append(f"{parts.scheme}://{parts.netloc.lower()}")
    return origins


def _generator(value: Any) -> dict:
    if not isinstance(value, dict) or set(value) - {"url", "model", "timeout_seconds"} or "url" not in value:
        raise ValidationError("'generator' is {url, model, timeout_seconds} of an OpenAI-compatible endpoint, or null")
    parts = urlsplit(value["url"] if isinstance(value["url"], str) else "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("the generator URL must be http(s)://host[:port]/...")
    timeout = value.get("timeout_seconds", 20)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 1 <= timeout <= 120:
        raise ValidationError("the generator timeout is 1 to 120 seconds")
    return {"url": value["url"], "model": str(value.get("model", ""))[:200], "timeout_seconds": timeout}


class AgentService:
    def __init__(self, db: Database, *, clock: Clock) -> None:
        self._db = db
        self._clock = clock

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
        return self.get(agent_id)

    def update(self, agent_id: str, changes: dict[str, Any]) -> Agent:
        self.get(agent_id)
        values = check_settings(changes)
        if values:
            values["updated_at"] = isoformat(self._clock.now())
            assignments = ", ".join(f"{name} = ?" for name in values)
            with self._db.transaction() as conn:
                conn.execute(f"UPDATE agents SET {assignments} WHERE id = ?", [*values.values(), agent_id])
        return self.get(agent_id)

    def delete(self, agent_id: str) -> None:
        with self._db.transaction() as conn:
            if conn.execute("DELETE FROM agents WHERE id = ?", (agent_id,)).rowcount == 0:
                raise NotFound(f"no agent {agent_id}")
