"""Random bearer secrets and single-use link tokens (email verification, password reset), stored only as hashes."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from appliance.clock import Clock, isoformat
from appliance.errors import InvalidToken

PURPOSES = ("verify_email", "reset_password")


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    # Tokens carry 256 random bits, so a fast hash is enough: there is nothing to guess.
    return hashlib.sha256(token.encode("utf-8")).digest()


class LinkTokens:
    """Tokens mailed in links: each redeemable once, before it expires, for one purpose and one user."""

    def __init__(self, *, clock: Clock) -> None:
        self._clock = clock

    def issue(self, conn, *, purpose: str, user_id: str, lifetime: dt.timedelta) -> str:
        if purpose not in PURPOSES:
            raise ValueError(f"unknown token purpose {purpose!r}")
        token = new_token()
        now = self._clock.now()
        conn.execute(
            "INSERT INTO tokens (token_hash, purpose, user_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            (token_hash(token), purpose, user_id, isoformat(now), isoformat(now + lifetime)),
        )
        return token

    def peek(self, conn, *, purpose: str, token: str) -> str:
        """The user a valid token belongs to, without using it up."""
        row = conn.execute(
            "SELECT user_id, expires_at, used_at FROM tokens WHERE token_hash = ? AND purpose = ?",
            (token_hash(token or ""), purpose),
        ).fetchone()
        if row is None or row["used_at"] is not None or row["expires_at"] <= isoformat(self._clock.now()):
            raise InvalidToken("this link is not valid any more: it was used, replaced or has expired; "
                               "ask for a new one")
        return row["user_id"]

    def redeem(self, conn, *, purpose: str, token: str) -> str:
        """Use the token up and return its user; raise InvalidToken if it is unknown, used or expired."""
        user_id = self.peek(conn, purpose=purpose, token=token)
        conn.execute("UPDATE tokens SET used_at = ? WHERE token_hash = ?",
                     (isoformat(self._clock.now()), token_hash(token)))
        return user_id

    def revoke_all(self, conn, *, purpose: str, user_id: str) -> None:
        """Retire every outstanding token of this purpose for the user (a newer link replaces older ones)."""
        conn.execute("UPDATE tokens SET used_at = ? WHERE purpose = ? AND user_id = ? AND used_at IS NULL",
                     (isoformat(self._clock.now()), purpose, user_id))

    def prune(self, conn) -> int:
        return conn.execute("DELETE FROM tokens WHERE expires_at <= ? OR used_at IS NOT NULL",
                            (isoformat(self._clock.now() - dt.timedelta(days=1)),)).rowcount
