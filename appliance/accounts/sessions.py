"""Server-side sessions: random bearer tokens stored as hashes, idle and absolute timeouts, revocable."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from appliance.accounts.tokens import new_token, token_hash
from appliance.clock import Clock, isoformat
from appliance.errors import AuthenticationFailed, NotFound
from appliance.storage.database import Database

# Writing last_seen_at on every request would make each read a write; a minute's precision is enough for idling.
_TOUCH_EVERY = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class Session:
    id: str
    user_id: str
    created_at: str
    last_seen_at: str
    expires_at: str
    client_address: str | None
    user_agent: str | None
    enrol_only: bool


def _session(row) -> Session:
    return Session(row["id"], row["user_id"], row["created_at"], row["last_seen_at"], row["expires_at"],
                   row["client_address"], row["user_agent"], bool(row["enrol_only"]))


class SessionService:
    def __init__(self, db: Database, *, clock: Clock, idle: dt.timedelta, absolute: dt.timedelta) -> None:
        self._db = db
        self._clock = clock
        self.idle = idle
        self.absolute = absolute

    def start(self, conn, *, user_id: str, client_address: str | None, user_agent: str | None,
              enrol_only: bool = False) -> tuple[str, Session]:
        """A new session with a new token (never reused across logins); returns the token once."""
        token = new_token()
        now = self._clock.now()
        session_id = secrets.token_hex(8)
        conn.execute(
            "INSERT INTO sessions (id, token_hash, user_id, created_at, last_seen_at, expires_at, client_address, "
            "user_agent, enrol_only) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (session_id, token_hash(token), user_id, isoformat(now), isoformat(now), isoformat(now + self.absolute),
             client_address, (user_agent or "")[:256], int(enrol_only)),
        )
        row = conn.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
        return token, _session(row)

    def authenticate(self, token: str) -> Session:
        """The live session of a bearer token; refreshes its idle clock. Unknown, ended and expired look alike."""
        row = self._db.query_one("SELECT * FROM sessions WHERE token_hash = ?", (token_hash(token or ""),))
        now = self._clock.now()
        if row is None or row["revoked_at"] is not None:
            raise AuthenticationFailed("not logged in, or the session has ended; log in again")
        last_seen = dt.datetime.fromisoformat(row["last_seen_at"])
        if now >= dt.datetime.fromisoformat(row["expires_at"]) or now - last_seen >= self.idle:
            raise AuthenticationFailed("the session has expired; log in again")
        if now - last_seen >= _TOUCH_EVERY:
            with self._db.transaction() as conn:
                conn.execute("UPDATE sessions SET last_seen_at = ? WHERE id = ?", (isoformat(now), row["id"]))
        return _session(row)

    def list_for_user(self, user_id: str) -> list[Session]:
        now = self._clock.now()
        rows = self._db.query("SELECT * FROM sessions WHERE user_id = ? AND revoked_at IS NULL ORDER BY created_at",
                              (user_id,))
        return [_session(r) for r in rows
                if dt.datetime.fromisoformat(r["expires_at"]) > now
                and now - dt.datetime.fromisoformat(r["last_seen_at"]) < self.idle]

    def get(self, session_id: str) -> Session:
        row = self._db.query_one("SELECT * FROM sessions WHERE id = ?", (session_id,))
        if row is None:
            raise NotFound(f"no session {session_id}")
        return _session(row)

    def end(self, conn, session_id: str) -> None:
        conn.execute("UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                     (isoformat(self._clock.now()), session_id))

    def end_all_for_user(self, conn, user_id: str, *, keep: str | None = None) -> int:
        """End every session of the user except `keep`; returns how many ended."""
        return conn.execute(
            "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL AND id IS NOT ?",
            (isoformat(self._clock.now()), user_id, keep),
        ).rowcount

    def prune(self) -> int:
        """Forget sessions that ended or expired more than a day ago."""
        cutoff = isoformat(self._clock.now() - dt.timedelta(days=1))
        idle_cutoff = isoformat(self._clock.now() - self.idle - dt.timedelta(days=1))
        with self._db.transaction() as conn:
            return conn.execute(
                "DELETE FROM sessions WHERE revoked_at < ? OR expires_at < ? OR last_seen_at < ?",
                (cutoff, cutoff, idle_cutoff),
            ).rowcount
