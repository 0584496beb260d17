"""Widget visitor tokens: short-lived, HMAC-signed, bound to one agent, one page origin and one conversation."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass

from appliance.clock import Clock
from appliance.errors import VisitorTokenExpired, VisitorTokenInvalid

PREFIX = "v1."
MAX_TOKEN_CHARS = 600


@dataclass(frozen=True)
class VisitorToken:
    agent: str              # the agent's public id
    origin: str
    conversation_id: str
    visitor_id: str         # stays the same across renewals and restarts, for the per-visitor rate limit
    issued_at: int
    expires_at: int

    def expired(self, now: dt.datetime) -> bool:
        return now.timestamp() >= self.expires_at


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class VisitorTokens:
    def __init__(self, key: bytes, *, clock: Clock, lifetime: dt.timedelta, renewable_for: dt.timedelta) -> None:
        self._key = key
        self._clock = clock
        self.lifetime = lifetime
        self._renewable_for = renewable_for

    def issue(self, *, agent: str, origin: str, conversation_id: str | None = None,
              visitor_id: str | None = None) -> tuple[str, VisitorToken]:
        now = int(self._clock.now().timestamp())
        token = VisitorToken(agent, origin, conversation_id or uuid.uuid4().hex,
                             visitor_id or secrets.token_urlsafe(12), now, now + int(self.lifetime.total_seconds()))
        payload = _b64(json.dumps({"a": token.agent, "o": token.origin, "c": token.conversation_id,
                                   "v": token.visitor_id, "i": token.issued_at, "x": token.expires_at},
                                  separators=(",", ":")).encode())
        return f"{PREFIX}{payload}.{self._sign(payload)}", token

    def read(self, text: str | None, *, agent: str | None, origin: str,
             allow_expired: bool = False) -> VisitorToken:
        """The token's claims if it is genuine and bound to this origin (and agent, if given), else
        VisitorTokenInvalid.

        Past its lifetime it raises VisitorTokenExpired, unless `allow_expired` (renewal), which still refuses one
        older than the renewal window.
        """
        token = self._verified(text)
        if (agent is not None and token.agent != agent) or token.origin != origin.lower():
            raise VisitorTokenInvalid("this visitor token belongs to another chat; start a new one")
        now = self._clock.now()
        if token.expired(now):
            if not allow_expired:
                raise VisitorTokenExpired("the visitor token has expired; renew it")
            if now.timestamp() >= token.expires_at + self._renewable_for.total_seconds():
                raise VisitorTokenInvalid("the visitor token is too old to renew; start a new chat")
        return token

    def _verified(self, text: str | None) -> VisitorToken:
        if not isinstance(text, str) or not text.startswith(PREFIX) or len(text) > MAX_TOKEN_CHARS:
            raise VisitorTokenInvalid("no valid visitor token; start a new chat")
        payload, _, signature = text[len(PREFIX):].partition(".")
        if not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            raise VisitorTokenInvalid("no valid visitor token; start a new chat")
        try:
            claims = json.loads(_unb64(payload))
            return VisitorToken(str(claims["a"]), str(claims["o"]), str(claims["c"]), str(claims["v"]),
                                int(claims["i"]), int(claims["x"]))
        except (ValueError, KeyError, TypeError):
            raise VisitorTokenInvalid("no valid visitor token; start a new chat") from None

    def pseudonym(self, text: str) -> str:
        """A keyed hash of a client address or network: what the widget's daily counts are kept under, so the
        database never holds the address for them and the hash cannot be reversed without this key."""
        return _b64(hmac.new(self._key, b"widget-client:" + text.encode(), hashlib.sha256).digest()[:16])

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, b"widget-visitor-token:" + payload.encode(), hashlib.sha256).digest())
