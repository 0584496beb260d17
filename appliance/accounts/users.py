"""User accounts: creating them (operators, invitees), email verification, enabling and disabling."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Iterable

from appliance.accounts import messages, names
from appliance.accounts.api_keys import KeySettlement, settle_keys, settled_details
from appliance.accounts.passwords import PasswordHasher, PasswordPolicy, normalise
from appliance.accounts.sessions import SessionService
from appliance.accounts.tokens import LinkTokens
from appliance.audit.log import AuditLog
from appliance.clock import Clock, isoformat
from appliance.errors import Conflict, NotFound, ValidationError
from appliance.mail.outbox import Outbox
from appliance.storage.database import Database

# Deliberately plain: one local part, one domain with a dot; the mail relay is the real judge of an address.
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,253}\.[^@\s\x00-\x1f\x7f.]{2,63}$")


@dataclass(frozen=True)
class User:
    id: str
    email: str
    display_name: str
    is_operator: bool
    status: str
    email_verified: bool
    second_factor: bool
    created_at: str

    def public(self) -> dict:
        return {"id": self.id, "email": self.email, "display_name": self.display_name,
                "is_operator": self.is_operator, "status": self.status, "email_verified": self.email_verified,
                "second_factor": self.second_factor, "created_at": self.created_at}


@dataclass(frozen=True)
class StatusChange:
    """An account disabled or enabled, and what became of the API keys that answered to it."""

    user: User
    api_keys: list[KeySettlement]


def user_from_row(row) -> User:
    return User(row["id"], row["email"], row["display_name"], bool(row["is_operator"]), row["status"],
                row["email_verified_at"] is not None, row["totp_enabled_at"] is not None, row["created_at"])


def check_email(email: str, *, field: str = "email") -> str:
    """The address, trimmed; ValidationError naming `field` (never quoting the value) if it is not one."""
    email = (email or "").strip()
    # Invisible and reordering characters would let one address pass for another.
    if not _EMAIL.match(email) or names.refused_character(email):
        raise ValidationError(f"'{field}' is not an email address (one address like name@example.com)")
    return email


def check_display_name(name: object) -> str:
    return names.check_name(name, what="a display name", required=False)


class UserService:
    def __init__(self, db: Database, *, clock: Clock, hasher: PasswordHasher, policy: PasswordPolicy,
                 tokens: LinkTokens, sessions: SessionService, outbox: Outbox, audit: AuditLog,
                 links: messages.Links, verification_lifetime: dt.timedelta) -> None:
        self._db = db
        self._clock = clock
        self.hasher = hasher
        self.policy = policy
        self._tokens = tokens
        self._sessions = sessions
        self._outbox = outbox
        self._audit = audit
        self._links = links
        self._verification_lifetime = verification_lifetime

    def get(self, user_id: str) -> User:
        row = self._db.query_one("SELECT * FROM users WHERE id = ?", (user_id,))
        if row is None:
            raise NotFound(f"no user {user_id}")
        return user_from_row(row)

    def find_by_email(self, email: str) -> User | None:
        row = self._db.query_one("SELECT * FROM users WHERE email = ?", ((email or "").strip(),))
        return user_from_row(row) if row else None

    def password_context(self, user_id: str) -> list[str]:
        """What an attacker knows of an account and would put in a guess: its name and its workspaces' names."""
        row = self._db.query_one("SELECT display_name FROM users WHERE id = ?", (user_id,))
        names = [r["name"] for r in self._db.query(
            "SELECT w.name FROM memberships m JOIN workspaces w ON w.id = m.workspace_id WHERE m.user_id = ?",
            (user_id,))]
        return [row["display_name"] if row else "", *names]

    def list_all(self) -> list[User]:
        return [user_from_row(r) for r in self._db.query("SELECT * FROM users ORDER BY created_at, email")]

    def create_operator(self, *, email: str, password: str, display_name: str = "", actor_id: str | None = None,
                        client_address: str | None = None) -> User:
        """An operator, active and verified at once: made by whoever holds the appliance's keys (the CLI), or by
        another operator (`actor_id`) through the API."""
        email = check_email(email)
        self.policy.check(password, email=email, context=(display_name,))
        now = isoformat(self._clock.now())
        user_id = str(uuid.uuid4())
        with self._db.transaction() as conn:
            if conn.execute("SELECT 1 FROM users WHERE email = ?", (email,)).fetchone():
                raise Conflict(f"an account for {email} already exists")
            conn.execute(
                "INSERT INTO users (id, email, display_name, password_hash, is_operator, status, email_verified_at, "
                "password_changed_at, created_at) VALUES (?, ?, ?, ?, 1, 'active', ?, ?, ?)",
                (user_id, email, check_display_name(display_name), self.hasher.hash(normalise(password)), now, now,
                 now),
            )
            self._audit.record("user.create_operator", actor_type="user" if actor_id else "system",
                               actor_id=actor_id, target_type="user", target_id=user_id,
                               client_address=client_address, conn=conn)
        return self.get(user_id)

    def create_pending(self, conn, *, email: str, password: str, display_name: str = "",
                       context: Iterable[str] = ()) -> str:
        """A new account that must verify its address before first login; mails the verification link. `context`
        adds words its password must not be guessable from (the workspace it joins)."""
        email = check_email(email)
        display_name = check_display_name(display_name)
        self.policy.check(password, email=email, context=(display_name, *context))
        if conn.execute("SELECT 1 FROM users WHERE email = ?", (email,)).fetchone():
            raise Conflict(f"an account for {email} already exists; log in to accept")
        now = isoformat(self._clock.now())
        user_id = str(uuid.uuid4())
        conn.execute(
            "INSERT INTO users (id, email, display_name, password_hash, status, password_changed_at, created_at) "
            "VALUES (?, ?, ?, ?, 'pending', ?, ?)",
            (user_id, email, display_name, self.hasher.hash(normalise(password)), now, now),
        )
        self.send_verification(conn, user_id=user_id, email=email)
        return user_id

    def send_verification(self, conn, *, user_id: str, email: str) -> None:
        self._tokens.revoke_all(conn, purpose="verify_email", user_id=user_id)
        token = self._tokens.issue(conn, purpose="verify_email", user_id=user_id,
                                   lifetime=self._verification_lifetime)
        subject, body = messages.verification(self._links.verify_email(token),
                                              hours=int(self._verification_lifetime.total_seconds() // 3600))
        self._outbox.enqueue(to=email, subject=subject, body=body, conn=conn)

    def verify_email(self, token: str, *, client_address: str | None) -> User:
        with self._db.transaction() as conn:
            user_id = self._tokens.redeem(conn, purpose="verify_email", token=token)
            conn.execute("UPDATE users SET email_verified_at = ?, status = CASE status WHEN 'pending' THEN 'active' "
                         "ELSE status END WHERE id = ?", (isoformat(self._clock.now()), user_id))
            self._audit.record("user.verify_email", actor_type="user", actor_id=user_id, target_type="user",
                               target_id=user_id, client_address=client_address, conn=conn)
        return self.get(user_id)

    def set_disabled(self, user_id: str, *, disabled: bool, actor_id: str, client_address: str | None,
                     hand_api_keys_to: str | None = None, actor_type: str = "user") -> StatusChange:
        """Disable (ending every session at once, and revoking the API keys that answer to the account, or handing
        them to `hand_api_keys_to`) or re-enable an account. Revoked keys stay revoked when it is enabled again."""
        user = self.get(user_id)
        if disabled and user_id == actor_id:
            raise Conflict("you cannot disable your own account")
        if hand_api_keys_to is not None and not disabled:
            raise ValidationError("'hand_api_keys_to' goes with disabling an account, not with enabling one")
        settled: list[KeySettlement] = []
        with self._db.transaction() as conn:
            status = "disabled" if disabled else ("active" if user.email_verified else "pending")
            conn.execute("UPDATE users SET status = ? WHERE id = ?", (status, user_id))
            ended = self._sessions.end_all_for_user(conn, user_id) if disabled else 0
            if disabled:
                now = isoformat(self._clock.now())
                for (workspace_id,) in conn.execute(
                        "SELECT DISTINCT workspace_id FROM api_keys WHERE created_by = ? AND revoked_at IS NULL "
                        "ORDER BY workspace_id", (user_id,)).fetchall():
                    settled += settle_keys(conn, workspace_id=workspace_id, holder_id=user_id, reason="user.disable",
                                           hand_to=hand_api_keys_to, audit=self._audit, now=now, actor_id=actor_id,
                                           client_address=client_address, actor_type=actor_type)
            self._audit.record("user.disable" if disabled else "user.enable", actor_type=actor_type,
                               actor_id=actor_id, target_type="user", target_id=user_id, client_address=client_address,
                               details={"sessions_ended": ended, **settled_details(settled)}, conn=conn)
        return StatusChange(self.get(user_id), settled)
