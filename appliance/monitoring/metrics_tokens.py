"""Bearer tokens that let a monitoring system scrape /metrics: `csm_<id>_<secret>`, shown once, kept as SHA-256,
appliance-wide (the figures name no workspace), made and revoked by operators, expiring unless "never" is chosen.

A token reads the metrics and nothing else: it is no API key and no session, so a leaked scrape configuration gives
away counts and durations, never data."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from appliance.accounts import names
from appliance.audit.log import AuditLog
from appliance.clock import Clock, isoformat
from appliance.errors import AuthenticationFailed, Conflict, NotFound, ValidationError
from appliance.storage.database import Database

PREFIX = "csm_"
DEFAULT_LIFETIME_DAYS = 365  # a scrape configuration is edited rarely; a year, unless the operator says otherwise
_TOKEN = re.compile(r"^csm_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")
REFUSED = "this metrics token is not valid (unknown, revoked or expired)"


@dataclass(frozen=True)
class MetricsToken:
    id: str
    name: str
    created_by: str | None
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None
    last_used_address: str | None

    def public(self) -> dict:
        return {**{k: getattr(self, k) for k in self.__dataclass_fields__}, "prefix": f"{PREFIX}{self.id}_"}


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def _token(row) -> MetricsToken:
    return MetricsToken(row["id"], row["name"], row["created_by"], row["created_at"], row["expires_at"],
                        row["revoked_at"], row["last_used_at"], row["last_used_address"])


def _expiry(now: dt.datetime, expires_in_days) -> str | None:
    if expires_in_days == "never":
        return None
    days = DEFAULT_LIFETIME_DAYS if expires_in_days is None else expires_in_days
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3650:
        raise ValidationError("'expires_in_days' is 1 to 3650, or \"never\" chosen explicitly")
    return isoformat(now + dt.timedelta(days=days))


class MetricsTokens:
    def __init__(self, db: Database, *, clock: Clock, audit: AuditLog) -> None:
        self._db = db
        self._clock = clock
        self._audit = audit

    def create(self, *, name: str, expires_in_days: int | str | None = None, actor_id: str,
               client_address: str | None) -> tuple[str, MetricsToken]:
        """A new token; the returned `csm_...` string is the only time anyone sees it."""
        name = names.check_name(name, what="a metrics token's name")
        expires_at = _expiry(self._clock.now(), expires_in_days)
        token_id = secrets.token_hex(6)
        token = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        with self._db.transaction() as conn:
            conn.execute("INSERT INTO metrics_tokens (id, name, secret_hash, created_by, created_at, expires_at) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         (token_id, name, _digest(token), actor_id, isoformat(self._clock.now()), expires_at))
            self._audit.record("metrics_token.create", actor_type="user", actor_id=actor_id,
                               target_type="metrics_token", target_id=token_id, client_address=client_address,
                               details={"name": name, "expires_at": expires_at}, conn=conn)
        return token, self.get(token_id)

    def get(self, token_id: str) -> MetricsToken:
        row = self._db.query_one("SELECT * FROM metrics_tokens WHERE id = ?", (token_id,))
        if row is None:
            raise NotFound(f"no metrics token {token_id}")
        return _token(row)

    def list(self) -> list[MetricsToken]:
        return [_token(r) for r in self._db.query("SELECT * FROM metrics_tokens ORDER BY created_at, id")]

    def revoke(self, token_id: str, *, actor_id: str, client_address: str | None) -> MetricsToken:
        token = self.get(token_id)
        if token.revoked_at is not None:
            raise Conflict(f"metrics token {token_id} was revoked at {token.revoked_at}")
        with self._db.transaction() as conn:
            conn.execute("UPDATE metrics_tokens SET revoked_at = ? WHERE id = ?",
                         (isoformat(self._clock.now()), token_id))
            self._audit.record("metrics_token.revoke", actor_type="user", actor_id=actor_id,
                               target_type="metrics_token", target_id=token_id, client_address=client_address,
                               details={"name": token.name}, conn=conn)
        return self.get(token_id)

    def authenticate(self, token: str, *, client_address: str | None) -> MetricsToken:
        """The live token for a `csm_...` string; every refusal is audited and looks the same to the caller."""
        match = _TOKEN.match(token or "")
        row = self._db.query_one("SELECT * FROM metrics_tokens WHERE id = ?", (match.group(1),)) if match else None
        now = isoformat(self._clock.now())
        ok = (row is not None and hmac.compare_digest(bytes(row["secret_hash"]), _digest(token))
              and row["revoked_at"] is None and (row["expires_at"] is None or row["expires_at"] > now))
        if not ok:
            self._audit.record("metrics_token.refused", actor_type="anonymous", target_type="metrics_token",
                               target_id=match.group(1) if match else None, client_address=client_address,
                               outcome="denied", details={"reason": "unknown, wrong, revoked or expired token"})
            raise AuthenticationFailed(REFUSED)
        # A scrape comes every few seconds: its use is written down once a minute, or when it comes from elsewhere.
        moved = row["last_used_address"] != client_address
        if moved or (row["last_used_at"] or "")[:16] != now[:16]:
            with self._db.transaction() as conn:
                conn.execute("UPDATE metrics_tokens SET last_used_at = ?, last_used_address = ? WHERE id = ?",
                             (now, client_address, row["id"]))
                if moved:
                    self._audit.record("metrics_token.new_address", actor_type="system", target_type="metrics_token",
                                       target_id=row["id"], client_address=client_address, conn=conn)
        return self.get(row["id"])
