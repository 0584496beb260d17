"""Signing in through an OpenID Connect provider: the sign-in begins with a state, nonce and PKCE verifier kept here
and bound to the browser that began it, each used once within ten minutes; the callback exchanges the code, checks
the ID token (appliance/accounts/oidc.py), finds or, for allowed domains and groups only, creates the account, and
applies the provider's group mapping (granted roles are taken back when the group goes, at the next sign-in; roles
given by hand are never touched). Every outcome is audited."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import uuid
from dataclasses import dataclass, replace

from authlib.oauth2.rfc7636 import create_s256_code_challenge

from appliance.accounts.api_keys import settle_keys
from appliance.accounts.oidc import OidcClient
from appliance.accounts.sessions import Session, SessionService
from appliance.accounts.sso_providers import Provider, SsoProviders
from appliance.accounts.users import User, user_from_row
from appliance.audit.log import AuditLog
from appliance.clock import Clock, isoformat
from appliance.errors import AuthenticationFailed, PermissionDenied, ValidationError
from appliance.storage.database import Database

ATTEMPT_LIFETIME = dt.timedelta(minutes=10)
HANDOFF_LIFETIME = dt.timedelta(minutes=2)
_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_RANK = {"viewer": 1, "editor": 2, "admin": 3}


@dataclass(frozen=True)
class Begun:
    url: str           # where to send the browser
    binding: str       # for the browser to keep (a cookie) and show at the callback


@dataclass(frozen=True)
class Identity:
    """A person as a provider vouches for them: an ID token's claims, or a directory's entry."""
    subject: str
    email: str
    name: str
    groups: list[str]
    dn: str | None = None  # a directory's: where a password is checked again later


@dataclass(frozen=True)
class Linked:
    user_id: str
    created: bool
    groups: list[str]
    changes: list[dict]


@dataclass(frozen=True)
class SsoLogin:
    token: str
    session: Session
    user: User
    return_to: str | None
    created: bool
    panel_redirect: str | None = None  # a panel's sign-in: where the browser goes with the one-time code


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


class SsoSignIn:
    def __init__(self, db: Database, *, clock: Clock, providers: SsoProviders, sessions: SessionService,
                 audit: AuditLog) -> None:
        self._db = db
        self._clock = clock
        self._providers = providers
        self._sessions = sessions
        self._audit = audit
        self._clients: dict[tuple, OidcClient] = {}

    def client(self, provider: Provider) -> OidcClient:
        secret = self._providers.secret(provider)
        key = (provider.id, provider.issuer, provider.client_id, _digest(secret), provider.ca_file)
        if key not in self._clients:
            self._clients = {k: v for k, v in self._clients.items() if k[0] != provider.id}
            self._clients[key] = OidcClient(issuer=provider.issuer, client_id=provider.client_id,
                                            client_secret=secret, ca_file=provider.ca_file)
        return self._clients[key]

    def begin(self, provider_id: str, *, redirect_uri: str, return_to: str | None, panel_port: int | None = None,
              panel_challenge: str | None = None) -> Begun:
        """A sign-in for this browser, or (`panel_port`, `panel_challenge`) for a desktop panel waiting on that
        loopback port with the verifier of that S256 challenge."""
        if (panel_port is None) != (panel_challenge is None):
            raise ValidationError("a panel's sign-in names both its loopback port and its code challenge")
        if panel_port is not None and (not 1024 <= panel_port <= 65535 or not _CHALLENGE.match(panel_challenge)):
            raise ValidationError("a panel's loopback port is 1024-65535 and its challenge a base64url SHA-256")
        provider = self._providers.get(provider_id, kind="oidc")
        request = self.client(provider).start(redirect_uri)
        binding = secrets.token_urlsafe(32)
        now = self._clock.now()
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM sso_attempts WHERE created_at < ?", (isoformat(now - ATTEMPT_LIFETIME),))
            conn.execute("DELETE FROM sso_panel_handoffs WHERE created_at < ?", (isoformat(now - HANDOFF_LIFETIME),))
            conn.execute("INSERT INTO sso_attempts (state, provider_id, binding_hash, nonce, code_verifier, "
                         "return_to, panel_port, panel_challenge, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (request.state, provider.id, _digest(binding), request.nonce, request.code_verifier,
                          return_to, panel_port, panel_challenge, isoformat(now)))
        return Begun(request.url, binding)

    def complete(self, provider_id: str, *, state: str, code: str, binding: str | None, redirect_uri: str,
                 client_address: str | None, user_agent: str | None) -> SsoLogin:
        provider = self._providers.get(provider_id, kind="oidc")
        try:
            attempt = self._take_attempt(provider.id, state, binding)
            client = self.client(provider)
            claims = client.verify(client.exchange(code, redirect_uri=redirect_uri,
                                                   code_verifier=attempt["code_verifier"]),
                                   nonce=attempt["nonce"], now=self._clock.now().timestamp())
            result = self._sign_in(provider, claims, attempt["return_to"], client_address, user_agent)
            if attempt["panel_port"] is None:
                return result
            code = self.hand_off(result.token, attempt["panel_challenge"])
            return replace(result, panel_redirect=f"http://127.0.0.1:{attempt['panel_port']}/callback?code={code}")
        except (AuthenticationFailed, PermissionDenied) as exc:
            self._audit.record("sso.sign_in", actor_type="anonymous", target_type="sso_provider",
                               target_id=provider.id, client_address=client_address, outcome="failure",
                               details={"reason": str(exc)[:300]})
            raise

    def hand_off(self, token: str, challenge: str) -> str:
        """Keep a new session's token for the panel that holds the verifier of `challenge`: the one-time code."""
        code = secrets.token_urlsafe(32)
        with self._db.transaction() as conn:
            conn.execute("INSERT INTO sso_panel_handoffs (code_hash, token, challenge, created_at) VALUES (?, ?, ?, ?)",
                         (_digest(code), token, challenge, isoformat(self._clock.now())))
        return code

    def redeem(self, code: str, verifier: str, *, client_address: str | None) -> str:
        """The session token for the panel's one-time code and its verifier; the code is used up either way."""
        with self._db.transaction() as conn:
            row = conn.execute("SELECT * FROM sso_panel_handoffs WHERE code_hash = ?", (_digest(code or ""),)
                               ).fetchone()
            if row is not None:
                conn.execute("DELETE FROM sso_panel_handoffs WHERE code_hash = ?", (_digest(code),))
        fresh = row is not None and self._clock.now() - dt.datetime.fromisoformat(
            row["created_at"].replace("Z", "+00:00")) <= HANDOFF_LIFETIME
        if not fresh or not hmac.compare_digest(create_s256_code_challenge(verifier or ""), row["challenge"]):
            self._audit.record("sso.panel_handoff", actor_type="anonymous", client_address=client_address,
                               outcome="denied", details={"reason": "unknown, used, expired or wrong verifier"})
            raise AuthenticationFailed("this sign-in code is not valid (unknown, used, expired or not this panel's)")
        return row["token"]

    def _take_attempt(self, provider_id: str, state: str, binding: str | None):
        """The sign-in begun with `state` by this browser, used up now: a replayed callback finds nothing."""
        with self._db.transaction() as conn:
            row = conn.execute("SELECT * FROM sso_attempts WHERE state = ? AND provider_id = ?",
                               (state or "", provider_id)).fetchone()
            if row is not None:
                conn.execute("DELETE FROM sso_attempts WHERE state = ?", (state,))
        if row is None:
            raise AuthenticationFailed("this sign-in is not known here, or was already used; start again")
        if not binding or not hmac.compare_digest(bytes(row["binding_hash"]), _digest(binding)):
            raise AuthenticationFailed("this sign-in was begun in another browser; start again from this one")
        created = dt.datetime.fromisoformat(row["created_at"].replace("Z", "+00:00"))
        if self._clock.now() - created > ATTEMPT_LIFETIME:
            raise AuthenticationFailed("this sign-in took longer than 10 minutes; start again")
        return row

    def _sign_in(self, provider: Provider, claims: dict, return_to: str | None, client_address: str | None,
                 user_agent: str | None) -> SsoLogin:
        email = claims.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise AuthenticationFailed(f"{provider.name} gave no email address for this account")
        if claims.get("email_verified") is False:
            raise AuthenticationFailed(f"{provider.name} has not verified the address {email}")
        groups = claims.get(provider.groups_claim) or []
        identity = Identity(claims["sub"], email, claims.get("name") if isinstance(claims.get("name"), str) else "",
                            groups if isinstance(groups, list) else [])
        with self._db.transaction() as conn:
            linked = self.link(conn, provider, identity, client_address=client_address)
            token, session = self._sessions.start(conn, user_id=linked.user_id, client_address=client_address,
                                                  user_agent=user_agent)
            self._audit.record("sso.sign_in", actor_type="user", actor_id=linked.user_id, target_type="session",
                               target_id=session.id, client_address=client_address,
                               details={"provider": provider.id, "groups": len(linked.groups),
                                        "new_account": linked.created,
                                        **({"roles": linked.changes} if linked.changes else {})}, conn=conn)
            user = user_from_row(conn.execute("SELECT * FROM users WHERE id = ?", (linked.user_id,)).fetchone())
        return SsoLogin(token, session, user, return_to, linked.created)

    def link(self, conn, provider: Provider, identity: Identity, *, client_address: str | None) -> Linked:
        """In the caller's transaction: the account of a person the provider vouched for (found by their identity or
        address, or made now for an allowed domain or group), the identity recorded, and their groups' roles
        applied. Refuses a disabled account."""
        email = identity.email.strip().lower()
        if "@" not in email:
            raise AuthenticationFailed(f"{provider.name} gave no email address for this account")
        groups = sorted({g for g in identity.groups if isinstance(g, str)})
        now = isoformat(self._clock.now())
        user_row, created = self._account(conn, provider, identity.subject, email, groups, now, identity.name)
        if user_row["status"] == "disabled":
            raise PermissionDenied("this account is disabled on the appliance")
        conn.execute("INSERT INTO sso_identities (provider_id, subject, user_id, groups, last_sign_in_at, "
                     "directory_dn) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (provider_id, subject) DO UPDATE SET "
                     "groups = excluded.groups, last_sign_in_at = excluded.last_sign_in_at, "
                     "directory_dn = excluded.directory_dn",
                     (provider.id, identity.subject, user_row["id"], json.dumps(groups), now, identity.dn))
        changes = self._apply_group_roles(conn, provider, user_row["id"], groups, now, client_address)
        return Linked(user_row["id"], created, groups, changes)

    def _account(self, conn, provider: Provider, subject: str, email: str, groups: list[str], now: str, name: str):
        linked = conn.execute("SELECT u.* FROM sso_identities i JOIN users u ON u.id = i.user_id "
                              "WHERE i.provider_id = ? AND i.subject = ?", (provider.id, subject)).fetchone()
        if linked is not None:
            return linked, False
        existing = conn.execute("SELECT * FROM users WHERE email = ?", (email,)).fetchone()
        if existing is not None:
            if provider.kind == "ldap" and self._signs_in_otherwise(conn, existing):
                # A directory's mail attribute is whatever its entry says, often writable by the person themselves:
                # it may not take over an account that has a password of its own or signs in elsewhere.
                raise PermissionDenied(f"{email} already has an account here that signs in another way; an operator "
                                       "can hand that account to the directory (Users, Hand to directory)")
            return existing, False
        domain = email.rsplit("@", 1)[1]
        if domain not in provider.allowed_domains and not set(groups) & set(provider.allowed_groups):
            raise PermissionDenied(f"{email} has no account here, and accounts are made at first sign-in only for "
                                   "the domains and groups the operators allowed; ask one for an invitation")
        user_id = str(uuid.uuid4())
        conn.execute("INSERT INTO users (id, email, display_name, password_hash, status, email_verified_at, "
                     "created_at) VALUES (?, ?, ?, NULL, 'active', ?, ?)", (user_id, email, name[:200], now, now))
        self._audit.record("sso.account_create", actor_type="system", target_type="user", target_id=user_id,
                           details={"provider": provider.id, "domain": domain}, conn=conn)
        return conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone(), True

    def _apply_group_roles(self, conn, provider: Provider, user_id: str, groups: list[str], now: str,
                           client_address: str | None) -> list[dict]:
        """Each mapped workspace's role from the user's groups (the highest wins), granted, changed or taken back;
        only memberships this provider granted are changed or taken back, never one given by hand or the owner."""
        wanted: dict[str, str] = {}
        for row in conn.execute("SELECT group_name, workspace_id, role FROM sso_group_roles WHERE provider_id = ?",
                                (provider.id,)):
            if row["group_name"] in groups and _RANK[row["role"]] > _RANK.get(wanted.get(row["workspace_id"]), 0):
                wanted[row["workspace_id"]] = row["role"]
        granted = {r["workspace_id"] for r in conn.execute(
            "SELECT workspace_id FROM sso_memberships WHERE provider_id = ? AND user_id = ?", (provider.id, user_id))}
        current = {r["workspace_id"]: r["role"] for r in conn.execute(
            "SELECT workspace_id, role FROM memberships WHERE user_id = ?", (user_id,))}
        changes = []
        for workspace_id in sorted(set(wanted) | granted):
            role, had = wanted.get(workspace_id), current.get(workspace_id)
            if role and had is None:
                conn.execute("INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES (?, ?, ?, ?)",
                             (workspace_id, user_id, role, now))
                conn.execute("INSERT OR IGNORE INTO sso_memberships (provider_id, user_id, workspace_id) "
                             "VALUES (?, ?, ?)", (provider.id, user_id, workspace_id))
                changes.append(self._audited(conn, "sso.role_grant", user_id, workspace_id, {"to": role}))
            elif workspace_id not in granted or had == "owner":
                continue  # a role given by hand (or ownership): the directory does not change it
            elif role is None:
                conn.execute("DELETE FROM memberships WHERE workspace_id = ? AND user_id = ?", (workspace_id, user_id))
                conn.execute("DELETE FROM sso_memberships WHERE provider_id = ? AND user_id = ? AND workspace_id = ?",
                             (provider.id, user_id, workspace_id))
                settle_keys(conn, workspace_id=workspace_id, holder_id=user_id, reason="sso.role_revoke",
                            hand_to=None, audit=self._audit, now=now, actor_id=None, client_address=client_address,
                            actor_type="system")
                changes.append(self._audited(conn, "sso.role_revoke", user_id, workspace_id, {"from": had}))
            elif role != had:
                conn.execute("UPDATE memberships SET role = ? WHERE workspace_id = ? AND user_id = ?",
                             (role, workspace_id, user_id))
                settle_keys(conn, workspace_id=workspace_id, holder_id=user_id, reason="sso.role_change",
                            hand_to=None, audit=self._audit, now=now, actor_id=None, client_address=client_address,
                            actor_type="system")
                changes.append(self._audited(conn, "sso.role_change", user_id, workspace_id,
                                             {"from": had, "to": role}))
        return changes

    def _audited(self, conn, action: str, user_id: str, workspace_id: str, details: dict) -> dict:
        self._audit.record(action, actor_type="system", target_type="user", target_id=user_id,
                           workspace_id=workspace_id, details=details, conn=conn)
        return {"workspace_id": workspace_id, "action": action.rsplit(".", 1)[1], **details}

    @staticmethod
    def _signs_in_otherwise(conn, user_row) -> bool:
        """Whether an account has its own password, an identity at any provider, or is an operator's."""
        if user_row["password_hash"] or user_row["is_operator"]:
            return True
        return conn.execute("SELECT 1 FROM sso_identities WHERE user_id = ?", (user_row["id"],)).fetchone() is not None

    def directory_of(self, user_id: str):
        """The LDAP directory this account signs in with, and the DN it is there; None for any other account."""
        row = self._db.query_one("SELECT i.provider_id, i.directory_dn FROM sso_identities i JOIN sso_providers p "
                                 "ON p.id = i.provider_id WHERE i.user_id = ? AND p.kind = 'ldap' "
                                 "ORDER BY i.last_sign_in_at DESC LIMIT 1", (user_id,))
        return (self._providers.get(row["provider_id"]), row["directory_dn"]) if row else None

    def password_refused(self, user_id: str) -> str | None:
        """The provider this account must sign in with, when that provider turned password sign-in off."""
        row = self._db.query_one("SELECT p.name FROM sso_identities i JOIN sso_providers p ON p.id = i.provider_id "
                                 "WHERE i.user_id = ? AND p.password_login = 0 ORDER BY p.name LIMIT 1", (user_id,))
        return row["name"] if row else None
