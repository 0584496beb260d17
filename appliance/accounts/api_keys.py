"""API keys for integrators: `csk_<id>_<secret>`, shown once, kept as SHA-256, scoped to one workspace, expiring,
rotatable with a grace period, revocable, limited per key and optionally per client address.

Each key answers to a member (`created_by`: its creator, or whom it was handed over to) and never has more power
than that member has now: it works only while its holder's account is enabled and may manage keys in the workspace,
and whoever takes that away (removal, a role change, disabling the account) revokes the holder's keys or hands them
to another member who may hold them (`settle_keys`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
from dataclasses import dataclass, replace

from appliance.accounts import names
from appliance.accounts.permissions import WORKSPACE_PERMISSIONS, outranks_or_equals
from appliance.audit.log import AuditLog
from appliance.clock import Clock, isoformat
from appliance.errors import AuthenticationFailed, Conflict, NotFound, PermissionDenied, ValidationError
from appliance.rate_limits import MinuteWindows
from appliance.storage.database import Database

PREFIX = "csk_"
SCOPES = ("chat", "agents:read", "agents:write", "sources:read", "sources:write", "conversations:read",
          "conversations:delete", "leads:read", "leads:delete", "analytics:read", "export")
DEFAULT_LIFETIME_DAYS = 90
_KEY = re.compile(r"^csk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class ApiKey:
    id: str
    workspace_id: str
    name: str
    scopes: list[str]
    allowed_addresses: list[str]
    rate_limit_per_minute: int
    created_by: str | None
    created_at: str
    expires_at: str | None
    rotated_at: str | None
    revoked_at: str | None
    last_used_at: str | None
    previous_valid_until: str | None
    remaining_this_minute: int | None = None

    def public(self) -> dict:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "remaining_this_minute"}
        data["prefix"] = f"{PREFIX}{self.id}_"
        return data


@dataclass(frozen=True)
class KeySettlement:
    """What became of one API key when the member it answered to lost the power to hold it."""

    id: str
    name: str
    outcome: str            # revoked or handed_over
    to: str | None = None   # the member it now answers to, when handed over

    def public(self) -> dict:
        return {"id": self.id, "name": self.name, "outcome": self.outcome, "to": self.to}


def may_hold_keys(role: str | None, status: str | None) -> bool:
    """Whether a member with this role, whose account has this status, may have API keys answer to them."""
    return (role is not None and status != "disabled"
            and outranks_or_equals(role, WORKSPACE_PERMISSIONS["api_keys.manage"]))


def _holder(conn, workspace_id: str, user_id: str | None) -> tuple[str | None, str | None]:
    """The member's role in the workspace and their account's status (None, None for no such member)."""
    row = conn.execute("SELECT m.role, u.status FROM memberships m JOIN users u ON u.id = m.user_id "
                       "WHERE m.workspace_id = ? AND m.user_id = ?", (workspace_id, user_id)).fetchone()
    return (row["role"], row["status"]) if row else (None, None)


def settle_keys(conn, *, workspace_id: str, holder_id: str, reason: str, hand_to: str | None, audit: AuditLog,
                now: str, actor_id: str | None, client_address: str | None,
                actor_type: str = "user") -> list[KeySettlement]:
    """Inside the transaction that changed `holder_id`'s role or account: if they may no longer hold keys in the
    workspace, revoke every key answering to them there, or hand each to `hand_to`, a member who may. Each key is
    audited; the list says what became of which."""
    if hand_to is not None:
        if hand_to == holder_id:
            raise ValidationError("'hand_api_keys_to' must name another member: this one is losing the power to "
                                  "hold keys")
        if not may_hold_keys(*_holder(conn, workspace_id, hand_to)):
            raise Conflict(f"API keys can only be handed to an enabled member who may manage keys "
                           f"({WORKSPACE_PERMISSIONS['api_keys.manage']} or above) in workspace {workspace_id}; "
                           f"{hand_to} is not one")
    if may_hold_keys(*_holder(conn, workspace_id, holder_id)):
        return []
    rows = conn.execute("SELECT id, name FROM api_keys WHERE workspace_id = ? AND created_by = ? "
                        "AND revoked_at IS NULL ORDER BY created_at, id", (workspace_id, holder_id)).fetchall()
    settled = []
    for row in rows:
        if hand_to is None:
            conn.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ?", (now, row["id"]))
            settled.append(KeySettlement(row["id"], row["name"], "revoked"))
            action, details = "api_key.revoke", {"reason": reason, "holder": holder_id}
        else:
            conn.execute("UPDATE api_keys SET created_by = ? WHERE id = ?", (hand_to, row["id"]))
            settled.append(KeySettlement(row["id"], row["name"], "handed_over", hand_to))
            action, details = "api_key.hand_over", {"reason": reason, "from": holder_id, "to": hand_to}
        audit.record(action, actor_type=actor_type, actor_id=actor_id, target_type="api_key", target_id=row["id"],
                     workspace_id=workspace_id, client_address=client_address, details=details, conn=conn)
    return settled


def settled_details(settled: list[KeySettlement]) -> dict:
    """The part of a role change's audit details that says what became of the keys."""
    return {"key_settlements": [k.public() for k in settled]} if settled else {}


def _key(row) -> ApiKey:
    return ApiKey(row["id"], row["workspace_id"], row["name"], json.loads(row["scopes"]),
                  json.loads(row["allowed_addresses"]), row["rate_limit_per_minute"], row["created_by"],
                  row["created_at"], row["expires_at"], row["rotated_at"], row["revoked_at"], row["last_used_at"],
                  row["previous_valid_until"])


def _digest(key: str) -> bytes:
    # The secret carries 256 random bits: a fast hash is enough, there is nothing to guess.
    return hashlib.sha256(key.encode("ascii")).digest()


def looks_like_api_key(token: str) -> bool:
    return token.startswith(PREFIX)


def _check_addresses(value: object) -> list[str]:
    if not isinstance(value, list) or len(value) > 50:
        raise ValidationError("'allowed_addresses' is a list of at most 50 addresses or networks (CIDR)")
    out = []
    for item in value:
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)))
        except (TypeError, ValueError):
            raise ValidationError(f"'allowed_addresses': item {len(out) + 1} is not an IP address or network (CIDR)") \
                from None
    return out


class ApiKeyService:
    def __init__(self, db: Database, *, clock: Clock, audit: AuditLog, grace: dt.timedelta) -> None:
        self._db = db
        self._clock = clock
        self._audit = audit
        self._grace = grace
        self._windows = MinuteWindows(now=lambda: clock.now().timestamp())

    def create(self, workspace_id: str, *, name: str, scopes: list[str], expires_in_days: int | None | str = None,
               allowed_addresses: list[str] | None = None, rate_limit_per_minute: int = 120, actor_id: str,
               client_address: str | None) -> tuple[str, ApiKey]:
        """A new key; the returned `csk_...` string is the only time anyone sees it."""
        name = names.check_name(name, what="an API key's name")
        if not isinstance(scopes, list) or not scopes or any(s not in SCOPES for s in scopes):
            raise ValidationError(f"'scopes' is a non-empty list drawn from: {', '.join(SCOPES)}")
        if isinstance(rate_limit_per_minute, bool) or not isinstance(rate_limit_per_minute, int) \
                or not 1 <= rate_limit_per_minute <= 10_000:
            raise ValidationError("'rate_limit_per_minute' is a whole number from 1 to 10000")
        now = self._clock.now()
        if expires_in_days == "never":
            expires_at = None
        else:
            days = DEFAULT_LIFETIME_DAYS if expires_in_days is None else expires_in_days
            if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3650:
                raise ValidationError("'expires_in_days' is 1 to 3650, or \"never\" chosen explicitly")
            expires_at = isoformat(now + dt.timedelta(days=days))
        key_id = secrets.token_hex(6)
        key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        with self._db.transaction() as conn:
            if not may_hold_keys(*_holder(conn, workspace_id, actor_id)):
                raise PermissionDenied("API keys answer to the member who creates them, who must be an enabled "
                                       f"{WORKSPACE_PERMISSIONS['api_keys.manage']} or owner of the workspace")
            conn.execute(
                "INSERT INTO api_keys (id, workspace_id, name, scopes, secret_hash, allowed_addresses, "
                "rate_limit_per_minute, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key_id, workspace_id, name, json.dumps(sorted(set(scopes))), _digest(key),
                 json.dumps(_check_addresses(allowed_addresses or [])), rate_limit_per_minute, actor_id,
                 isoformat(now), expires_at),
            )
            self._audit.record("api_key.create", actor_type="user", actor_id=actor_id, target_type="api_key",
                               target_id=key_id, workspace_id=workspace_id, client_address=client_address,
                               details={"scopes": sorted(set(scopes)), "expires_at": expires_at}, conn=conn)
        return key, self.get(workspace_id, key_id)

    def get(self, workspace_id: str, key_id: str) -> ApiKey:
        row = self._db.query_one("SELECT * FROM api_keys WHERE id = ? AND workspace_id = ?", (key_id, workspace_id))
        if row is None:
            raise NotFound(f"no API key {key_id} in this workspace")
        return _key(row)

    def list(self, workspace_id: str) -> list[ApiKey]:
        return [_key(r) for r in self._db.query(
            "SELECT * FROM api_keys WHERE workspace_id = ? ORDER BY created_at, id", (workspace_id,))]

    def rotate(self, workspace_id: str, key_id: str, *, actor_id: str, client_address: str | None,
               grace: dt.timedelta | None = None) -> tuple[str, ApiKey]:
        """A new secret for the same id and scopes; the old one keeps working for the grace period."""
        current = self.get(workspace_id, key_id)
        if current.revoked_at:
            raise ValidationError("a revoked key cannot be rotated; create a new one")
        now = self._clock.now()
        key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        until = isoformat(now + (self._grace if grace is None else grace))
        with self._db.transaction() as conn:
            conn.execute("UPDATE api_keys SET previous_secret_hash = secret_hash, previous_valid_until = ?, "
                         "secret_hash = ?, rotated_at = ? WHERE id = ?", (until, _digest(key), isoformat(now), key_id))
            self._audit.record("api_key.rotate", actor_type="user", actor_id=actor_id, target_type="api_key",
                               target_id=key_id, workspace_id=workspace_id, client_address=client_address,
                               details={"grace_until": until}, conn=conn)
        return key, self.get(workspace_id, key_id)

    def revoke(self, workspace_id: str, key_id: str, *, actor_id: str, client_address: str | None) -> None:
        self.get(workspace_id, key_id)
        with self._db.transaction() as conn:
            conn.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                         (isoformat(self._clock.now()), key_id))
            self._audit.record("api_key.revoke", actor_type="user", actor_id=actor_id, target_type="api_key",
                               target_id=key_id, workspace_id=workspace_id, client_address=client_address,
                               conn=conn)

    def authenticate(self, key: str, *, client_address: str | None) -> ApiKey:
        """The live key for a `csk_...` string; every refusal is audited and looks the same to the caller."""
        match = _KEY.match(key or "")
        row = self._db.query_one("SELECT * FROM api_keys WHERE id = ?", (match.group(1),)) if match else None
        now = isoformat(self._clock.now())
        digest = _digest(key) if match else b""
        ok = False
        if row is not None:
            current = hmac.compare_digest(bytes(row["secret_hash"]), digest)
            previous = (row["previous_secret_hash"] is not None and row["previous_valid_until"] > now
                        and hmac.compare_digest(bytes(row["previous_secret_hash"]), digest))
            ok = (current or previous) and row["revoked_at"] is None and (row["expires_at"] is None
                                                                           or row["expires_at"] > now)
        if ok and not may_hold_keys(*_holder(self._db.connection, row["workspace_id"], row["created_by"])):
            # Settled keys are revoked when their holder loses the role; this catches any other way a holder could
            # lose it, so a key never works for someone who may no longer hold it.
            self._audit.record("api_key.refused", actor_type="api_key", actor_id=row["id"],
                               workspace_id=row["workspace_id"], client_address=client_address, outcome="denied",
                               details={"reason": "its holder may no longer hold keys"})
            raise AuthenticationFailed("this API key is not valid (unknown, revoked, expired or rotated out)")
        if not ok:
            self._audit.record("api_key.refused", actor_type="api_key", actor_id=match.group(1) if match else None,
                               client_address=client_address, outcome="denied",
                               details={"reason": "unknown, wrong, revoked, expired or retired secret"})
            raise AuthenticationFailed("this API key is not valid (unknown, revoked, expired or rotated out)")
        api_key = _key(row)
        if api_key.allowed_addresses and not _address_allowed(client_address, api_key.allowed_addresses):
            self._audit.record("api_key.refused", actor_type="api_key", actor_id=api_key.id,
                               workspace_id=api_key.workspace_id, client_address=client_address, outcome="denied",
                               details={"reason": "address not allowed"})
            raise PermissionDenied("this API key may not be used from this address")
        api_key = _with_remaining(api_key, self._count(api_key))
        if row["last_used_address"] != client_address or not row["last_used_at"] \
                or row["last_used_at"][:16] != now[:16]:
            with self._db.transaction() as conn:
                conn.execute("UPDATE api_keys SET last_used_at = ?, last_used_address = ? WHERE id = ?",
                             (now, client_address, api_key.id))
                if row["last_used_address"] != client_address:
                    # When it was last used (or made): a key quiet for long that turns up somewhere new is an alert.
                    self._audit.record("api_key.new_address", actor_type="api_key", actor_id=api_key.id,
                                       workspace_id=api_key.workspace_id, client_address=client_address,
                                       details={"quiet_since": row["last_used_at"] or row["created_at"],
                                                "first_use": row["last_used_at"] is None}, conn=conn)
        return api_key

    def _count(self, api_key: ApiKey) -> int:
        return self._windows.hit(api_key.id, limit=api_key.rate_limit_per_minute,
                                 message=f"this API key is limited to {api_key.rate_limit_per_minute} requests a "
                                         "minute; slow down")


def _with_remaining(api_key: ApiKey, remaining: int) -> ApiKey:
    return replace(api_key, remaining_this_minute=remaining)


def _address_allowed(address: str | None, allowed: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net) for net in allowed)
