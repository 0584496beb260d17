"""Logging in and out, changing and resetting passwords, and the TOTP second factor."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from appliance.accounts import devices, messages, totp
from appliance.accounts.ldap import DirectoryUnreachable
from appliance.accounts.passwords import normalise
from appliance.accounts.sessions import Session, SessionService
from appliance.accounts.throttle import Attempt, LoginThrottle
from appliance.accounts.tokens import LinkTokens
from appliance.accounts.users import User, UserService, user_from_row
from appliance.audit.log import AuditLog
from appliance.clock import Clock, isoformat
from appliance.errors import (
    AuthenticationFailed,
    Conflict,
    EmailNotVerified,
    PermissionDenied,
    SecondFactorRequired,
    TooManyAttempts,
    ValidationError,
)
from appliance.mail.outbox import Outbox
from appliance.storage.database import Database

_LOGIN_FAILED = "wrong email or password"


@dataclass(frozen=True)
class Login:
    token: str
    session: Session
    user: User
    device_token: str  # for the client to keep and show at its next login (see throttle.py)


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str


class AuthService:
    def __init__(self, db: Database, *, clock: Clock, users: UserService, sessions: SessionService,
                 throttle: LoginThrottle, tokens: LinkTokens, outbox: Outbox, audit: AuditLog,
                 links: messages.Links, reset_lifetime: dt.timedelta, require_second_factor_for_admins: bool,
                 password_refused=None, directories=None) -> None:
        self._db = db
        # LDAP / Active Directory sign-in (directory_sign_in.py), for the accounts whose password a directory keeps.
        self._directories = directories
        # The provider an account must sign in with instead, when that provider turned password sign-in off.
        self._password_refused = password_refused or (lambda user_id: None)
        self._clock = clock
        self._users = users
        self._sessions = sessions
        self._throttle = throttle
        self._tokens = tokens
        self._outbox = outbox
        self._audit = audit
        self._links = links
        self._reset_lifetime = reset_lifetime
        self._require_second_factor = require_second_factor_for_admins

    def login(self, *, email: str, password: str, totp_code: str | None = None, recovery_code: str | None = None,
              client_address: str | None, user_agent: str | None = None, device_token: str | None = None) -> Login:
        """A new session for a correct password (and second factor). `device_token`, from an earlier login on this
        client, lets it through while strangers' guesses have the account locked (throttle.py)."""
        account = (email or "").strip().lower()
        address = client_address or "unknown"
        # Reading the row is cheap and comes before any hashing: the throttle needs to know the account's devices.
        row = self._db.query_one("SELECT * FROM users WHERE email = ?", (account,))
        device = devices.verify(device_token, user_id=row["id"], password_hash=row["password_hash"],
                                now=self._clock.now()) if row else None
        try:
            attempt = self._throttle.attempt(account=account, address=address, user_id=row["id"] if row else None,
                                             device=device)
        except TooManyAttempts:
            self._audit.record("auth.login", actor_type="anonymous", client_address=address, outcome="denied",
                               details={"reason": "throttled", "device": bool(device)})
            raise
        directories = self._directories.directories_for(row) if self._directories else []
        directory = None
        if directories:
            row, directory = self._directory_sign_in(directories, attempt, row, account, password)
        elif not self._users.hasher.verify(row["password_hash"] if row else None, normalise(password or "")):
            self._fail(attempt, "bad_credentials", user_id=row["id"] if row else None)
            raise AuthenticationFailed(_LOGIN_FAILED)
        user = user_from_row(row)
        if user.status == "disabled":
            self._fail(attempt, "disabled", user_id=user.id)
            raise AuthenticationFailed(_LOGIN_FAILED)
        provider = self._password_refused(user.id)
        if provider:
            self._fail(attempt, "password_sign_in_off", user_id=user.id)
            raise AuthenticationFailed(f"this account signs in with {provider}: use “Sign in with {provider}”")
        if not user.email_verified:
            self._fail(attempt, "email_not_verified", user_id=user.id)
            raise EmailNotVerified("confirm your email address first: open the link in the mail we sent you")
        if user.second_factor:
            if not (totp_code or recovery_code):
                # The password was right; asking for the code is no failure, and not yet a success.
                self._throttle.withdraw(attempt)
                self._audit.record("auth.login", actor_type="user", actor_id=user.id, client_address=address,
                                   outcome="failure", details={"reason": "second_factor_required"})
                raise SecondFactorRequired("enter the code from your authenticator app (or a recovery code)")
            if not self._second_factor_ok(user.id, totp_code, recovery_code):
                self._fail(attempt, "bad_second_factor", user_id=user.id)
                raise AuthenticationFailed("that code is not valid; use a fresh one from your authenticator app")
        enrol_only = self._require_second_factor and not user.second_factor and self._needs_second_factor(user)
        password_hash = row["password_hash"]
        details = {**({"enrol_only": True} if enrol_only else {}), **({"directory": directory.id} if directory else {})}
        with self._db.transaction() as conn:
            if directory is None and self._users.hasher.needs_rehash(password_hash):
                password_hash = self._users.hasher.hash(normalise(password))
                conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user.id))
            token, session = self._sessions.start(conn, user_id=user.id, client_address=client_address,
                                                  user_agent=user_agent, enrol_only=enrol_only)
            self._audit.record("auth.login", actor_type="user", actor_id=user.id, client_address=address,
                               target_type="session", target_id=session.id, details=details or None, conn=conn)
        self._throttle.succeeded(attempt)
        # A device token is keyed by the account's own password; a directory's accounts have none, so no token.
        device_token = devices.issue(user_id=user.id, password_hash=password_hash, now=self._clock.now()) \
            if password_hash else ""
        return Login(token, session, user, device_token)

    def _directory_sign_in(self, directories, attempt: Attempt, row, account: str, password: str | None):
        """(users row, directory) when a directory accepts the password; each refusal audited and counted."""
        try:
            row, directory, _ = self._directories.sign_in(directories, account, password or "",
                                                          client_address=attempt.address)
        except DirectoryUnreachable:
            self._throttle.withdraw(attempt)  # nobody's guess: the directory did not answer
            self._audit.record("auth.login", actor_type="user" if row else "anonymous",
                               actor_id=row["id"] if row else None, client_address=attempt.address,
                               outcome="failure", details={"reason": "directory_unreachable"})
            raise
        except PermissionDenied:
            self._fail(attempt, "directory_account_not_allowed", user_id=row["id"] if row else None)
            raise
        except AuthenticationFailed as exc:
            self._fail(attempt, "bad_credentials", user_id=row["id"] if row else None)
            raise AuthenticationFailed(_LOGIN_FAILED if str(exc) == _LOGIN_FAILED else str(exc)) from None
        return row, directory

    def _fail(self, attempt: Attempt, reason: str, *, user_id: str | None, action: str = "auth.login") -> None:
        # The attempt was counted as a failure when it was let through; this only says why.
        self._audit.record(action, actor_type="user" if user_id else "anonymous", actor_id=user_id,
                           client_address=attempt.address, outcome="failure", details={"reason": reason})

    def confirm_password(self, user: User, password: str | None, *, client_address: str | None,
                         action: str) -> None:
        """Check a signed-in user's current password before a change that needs it (`action` names the change in
        the audit log); wrong ones count towards the login throttle like wrong passwords at login."""
        attempt = self._throttle.attempt(account=user.email, address=client_address or "unknown", user_id=user.id)
        row = self._db.query_one("SELECT password_hash FROM users WHERE id = ?", (user.id,))
        in_directory = self._directories.confirms(user.id, password) if self._directories else None
        if in_directory is False or in_directory is None and (
                not isinstance(password, str) or not password or not self._users.hasher.verify(
                row["password_hash"], normalise(password))):
            self._fail(attempt, "bad_current_password", user_id=user.id, action=action)
            raise AuthenticationFailed("the current password is wrong" if password else
                                       "enter your current password to confirm this change")
        self._throttle.succeeded(attempt)

    def _refuse_directory_password(self, user_id: str) -> None:
        directory = self._directories.managed_by(user_id) if self._directories else None
        if directory:
            raise Conflict(f"this account's password is kept by the directory {directory}: change it there")

    def _needs_second_factor(self, user: User) -> bool:
        if user.is_operator:
            return True
        return self._db.query_one("SELECT 1 FROM memberships WHERE user_id = ? AND role IN ('owner', 'admin')",
                                  (user.id,)) is not None

    def _second_factor_ok(self, user_id: str, totp_code: str | None, recovery_code: str | None) -> bool:
        with self._db.transaction() as conn:
            row = conn.execute("SELECT totp_secret, totp_last_step FROM users WHERE id = ?", (user_id,)).fetchone()
            if totp_code:
                step = totp.verify(bytes(row["totp_secret"]), totp_code, now=self._clock.now(),
                                   last_step=row["totp_last_step"])
                if step is None:
                    return False
                conn.execute("UPDATE users SET totp_last_step = ? WHERE id = ?", (step, user_id))
                return True
            used = conn.execute(
                "UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL",
                (isoformat(self._clock.now()), user_id, totp.hash_recovery_code(recovery_code or "")),
            ).rowcount
            return used == 1

    def logout(self, session: Session, *, client_address: str | None) -> None:
        with self._db.transaction() as conn:
            self._sessions.end(conn, session.id)
            self._audit.record("auth.logout", actor_type="user", actor_id=session.user_id, target_type="session",
                               target_id=session.id, client_address=client_address, conn=conn)

    def end_session(self, session_id: str, *, actor_id: str, client_address: str | None) -> None:
        with self._db.transaction() as conn:
            self._sessions.end(conn, session_id)
            self._audit.record("session.end", actor_type="user", actor_id=actor_id, target_type="session",
                               target_id=session_id, client_address=client_address, conn=conn)

    def end_all_sessions(self, user_id: str, *, actor_id: str, client_address: str | None,
                         workspace_id: str | None = None, actor_type: str = "user") -> int:
        with self._db.transaction() as conn:
            ended = self._sessions.end_all_for_user(conn, user_id)
            self._audit.record("session.end_all", actor_type=actor_type, actor_id=actor_id, target_type="user",
                               target_id=user_id, workspace_id=workspace_id, client_address=client_address,
                               details={"sessions_ended": ended}, conn=conn)
        return ended

    def change_password(self, user: User, *, session_id: str, current: str, new: str,
                        client_address: str | None) -> int:
        """Needs the current password; ends the user's other sessions and mails a notice. Returns sessions ended."""
        self._refuse_directory_password(user.id)
        self.confirm_password(user, current, client_address=client_address, action="auth.password_change")
        if normalise(new or "") == normalise(current or ""):
            raise ValidationError("the new password must differ from the current one")
        self._users.policy.check(new, email=user.email, context=self._users.password_context(user.id))
        with self._db.transaction() as conn:
            ended = self._set_password(conn, user, new, keep_session=session_id)
            self._audit.record("auth.password_change", actor_type="user", actor_id=user.id,
                               client_address=client_address, details={"sessions_ended": ended}, conn=conn)
        return ended

    def _set_password(self, conn, user: User, password: str, *, keep_session: str | None) -> int:
        now = isoformat(self._clock.now())
        conn.execute("UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?",
                     (self._users.hasher.hash(normalise(password)), now, user.id))
        ended = self._sessions.end_all_for_user(conn, user.id, keep=keep_session)
        subject, body = messages.password_changed(when=now)
        self._outbox.enqueue(to=user.email, subject=subject, body=body, conn=conn)
        return ended

    def request_reset(self, *, email: str, client_address: str | None) -> None:
        """Mail a reset link if the address has an enabled account; answer the same either way."""
        row = self._db.query_one("SELECT * FROM users WHERE email = ?", ((email or "").strip(),))
        # Spend the time of the real path for unknown addresses too, so timing does not tell them apart.
        self._users.hasher.verify(None, "x")
        if row is None or row["status"] == "disabled":
            self._audit.record("auth.reset_request", actor_type="anonymous", client_address=client_address,
                               outcome="failure", details={"reason": "unknown_or_disabled"})
            return
        if self._directories and self._directories.managed_by(row["id"]):
            self._audit.record("auth.reset_request", actor_type="user", actor_id=row["id"],
                               client_address=client_address, outcome="failure",
                               details={"reason": "password_kept_by_directory"})
            return
        with self._db.transaction() as conn:
            self._tokens.revoke_all(conn, purpose="reset_password", user_id=row["id"])
            token = self._tokens.issue(conn, purpose="reset_password", user_id=row["id"],
                                       lifetime=self._reset_lifetime)
            subject, body = messages.password_reset(self._links.reset_password(token),
                                                    minutes=int(self._reset_lifetime.total_seconds() // 60))
            self._outbox.enqueue(to=row["email"], subject=subject, body=body, conn=conn)
            self._audit.record("auth.reset_request", actor_type="user", actor_id=row["id"],
                               client_address=client_address, conn=conn)

    def reset_needs_second_factor(self, token: str) -> bool:
        user_id = self._tokens.peek(self._db.connection, purpose="reset_password", token=token)
        return self._users.get(user_id).second_factor

    def complete_reset(self, *, token: str, password: str, totp_code: str | None = None,
                       recovery_code: str | None = None, client_address: str | None) -> User:
        """Set a new password from a reset link; a user with a second factor must give a code too."""
        user = self._users.get(self._tokens.peek(self._db.connection, purpose="reset_password", token=token))
        if user.status == "disabled":
            raise AuthenticationFailed("this account is disabled; ask an operator to enable it")
        self._refuse_directory_password(user.id)
        self._users.policy.check(password, email=user.email, context=self._users.password_context(user.id))
        if user.second_factor:
            # Codes guessed on a reset link count against the same limit as codes guessed at login.
            attempt = self._throttle.attempt(account=user.email, address=client_address or "unknown",
                                             user_id=user.id)
            if not self._second_factor_ok(user.id, totp_code, recovery_code):
                self._fail(attempt, "bad_second_factor_on_reset", user_id=user.id)
                raise SecondFactorRequired("this account has a second factor: enter a current code or a recovery "
                                           "code")
            self._throttle.succeeded(attempt)
        with self._db.transaction() as conn:
            self._tokens.redeem(conn, purpose="reset_password", token=token)
            ended = self._set_password(conn, user, password, keep_session=None)
            if user.status == "pending":
                # The link reached the mailbox, which proves the address as well as a verification link would.
                conn.execute("UPDATE users SET status = 'active', email_verified_at = ? WHERE id = ?",
                             (isoformat(self._clock.now()), user.id))
            self._audit.record("auth.reset_complete", actor_type="user", actor_id=user.id,
                               client_address=client_address, details={"sessions_ended": ended}, conn=conn)
        return self._users.get(user.id)

    def start_enrolment(self, user: User, *, password: str | None, client_address: str | None) -> Enrolment:
        """A new TOTP secret to confirm with a code; needs the current password, so a stolen session cannot put a
        factor of its own on the account."""
        self.confirm_password(user, password, client_address=client_address, action="auth.second_factor_start")
        if self._users.get(user.id).second_factor:
            raise Conflict("a second factor is already enabled; disable it first to enrol a new one")
        secret = totp.new_secret()
        with self._db.transaction() as conn:
            conn.execute("UPDATE users SET totp_secret = ?, totp_enabled_at = NULL, totp_last_step = 0 WHERE id = ?",
                         (secret, user.id))
            self._audit.record("auth.second_factor_start", actor_type="user", actor_id=user.id,
                               client_address=client_address, conn=conn)
        return Enrolment(totp.secret_text(secret), totp.provisioning_uri(secret, account=user.email))

    def confirm_enrolment(self, user: User, *, code: str, password: str | None, session_id: str,
                          client_address: str | None) -> list[str]:
        """Turn the second factor on with a first valid code and the current password; returns recovery codes,
        shown this once."""
        self.confirm_password(user, password, client_address=client_address, action="auth.second_factor_enable")
        row = self._db.query_one("SELECT totp_secret, totp_enabled_at, totp_last_step FROM users WHERE id = ?",
                                 (user.id,))
        if row["totp_secret"] is None or row["totp_enabled_at"] is not None:
            raise Conflict("start an enrolment first")
        step = totp.verify(bytes(row["totp_secret"]), code or "", now=self._clock.now(),
                           last_step=row["totp_last_step"])
        if step is None:
            raise ValidationError("that code does not match; check the time on your device and try a fresh code")
        codes = totp.new_recovery_codes()
        with self._db.transaction() as conn:
            conn.execute("UPDATE users SET totp_enabled_at = ?, totp_last_step = ? WHERE id = ?",
                         (isoformat(self._clock.now()), step, user.id))
            conn.execute("DELETE FROM recovery_codes WHERE user_id = ?", (user.id,))
            conn.executemany("INSERT INTO recovery_codes (user_id, code_hash) VALUES (?, ?)",
                             [(user.id, totp.hash_recovery_code(c)) for c in codes])
            conn.execute("UPDATE sessions SET enrol_only = 0 WHERE id = ?", (session_id,))
            self._audit.record("auth.second_factor_enable", actor_type="user", actor_id=user.id,
                               client_address=client_address, conn=conn)
        return codes

    def disable_second_factor(self, user: User, *, password: str | None, client_address: str | None) -> None:
        self.confirm_password(user, password, client_address=client_address, action="auth.second_factor_disable")
        with self._db.transaction() as conn:
            conn.execute("UPDATE users SET totp_secret = NULL, totp_enabled_at = NULL WHERE id = ?", (user.id,))
            conn.execute("DELETE FROM recovery_codes WHERE user_id = ?", (user.id,))
            self._audit.record("auth.second_factor_disable", actor_type="user", actor_id=user.id,
                               client_address=client_address, conn=conn)
