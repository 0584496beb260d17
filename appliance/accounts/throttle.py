"""Login throttling: failed logins counted per account and per client address over a moving window."""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
import unicodedata

from appliance.clock import Clock, isoformat
from appliance.errors import TooManyAttempts
from appliance.storage.database import Database

# The limit-th newest failure still in the window, if there is one: it exists exactly when the limit is reached, and
# the lock lifts when it leaves the window. Each reads at most `limit` entries of one index.
_NTH_NEWEST_BY_ACCOUNT = "SELECT at FROM login_failures WHERE account = ? AND at > ? ORDER BY at DESC LIMIT 1 OFFSET ?"
_NTH_NEWEST_BY_ADDRESS = (
    "SELECT at FROM login_failures WHERE client_address = ? AND at > ? ORDER BY at DESC LIMIT 1 OFFSET ?"
)


class LoginThrottle:
    """Refuses login attempts once too many recent ones failed for the account or from the address.

    A failure counts for `window` after it happened, so a lock lasts at most one window after the last failure that
    counted; a successful login clears the failures that address made for that account, so a user's own typos do
    not pile up towards a lock.

    Trade-off: the account limit counts failures from every address, so anyone can lock an account by sending
    `max_per_account` wrong passwords, and keep it locked by doing that again every window, and the owner's correct
    password does not get through meanwhile. The alternative, exempting addresses the user logged in from recently,
    needs a record of known-good addresses that the appliance does not keep. Without the account limit a botnet
    could guess one account's password from thousands of addresses, which the address limit alone cannot stop; a
    lock-out is visible and ends by itself, a guessed password is neither.
    """

    def __init__(
        self, db: Database, *, clock: Clock, window: dt.timedelta, max_per_account: int, max_per_address: int
    ) -> None:
        if window <= dt.timedelta(0) or max_per_account <= 0 or max_per_address <= 0:
            raise ValueError("window and limits of a LoginThrottle must be positive")
        self._db = db
        self._clock = clock
        self.window = window
        self.max_per_account = max_per_account
        self.max_per_address = max_per_address

    def check(self, *, account: str, address: str) -> None:
        """Raise TooManyAttempts if this attempt must not even be tried; cheap, so call it before hashing."""
        now = self._clock.now()
        since = isoformat(now - self.window)
        account_wait = self._wait(now, since, _NTH_NEWEST_BY_ACCOUNT, _account_key(account), self.max_per_account)
        address_wait = self._wait(now, since, _NTH_NEWEST_BY_ADDRESS, _address_key(address), self.max_per_address)
        if account_wait is None and address_wait is None:
            return
        wait = max(w for w in (account_wait, address_wait) if w is not None)
        cause = "for this account" if account_wait is not None else "from your network address"
        raise TooManyAttempts(
            f"Too many failed sign-in attempts {cause}. Wait {_in_words(wait)} and try again, "
            "or reset your password if you have forgotten it.",
            retry_after_seconds=wait,
        )

    def record_failure(self, *, account: str, address: str) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO login_failures (account, client_address, at) VALUES (?, ?, ?)",
                (_account_key(account), _address_key(address), isoformat(self._clock.now())),
            )

    def record_success(self, *, account: str, address: str) -> None:
        """Forget the failures this address made for this account; other addresses' failures still count."""
        with self._db.transaction() as conn:
            conn.execute(
                "DELETE FROM login_failures WHERE account = ? AND client_address = ?",
                (_account_key(account), _address_key(address)),
            )

    def prune(self) -> int:
        """Delete failures that no longer count (for a periodic cleanup job); returns how many."""
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM login_failures WHERE at <= ?", (isoformat(self._clock.now() - self.window),)
            )
            return cursor.rowcount

    def _wait(self, now: dt.datetime, since: str, sql: str, key: str, limit: int) -> int | None:
        """Seconds until fewer than `limit` failures are in the window, or None if fewer are already."""
        # With exactly `limit` failures this is the oldest one counted; if more got in (concurrent requests), the
        # lock lasts until enough of them have left.
        row = self._db.query_one(sql, (key, since, limit - 1))
        if row is None:
            return None
        leaves = dt.datetime.fromisoformat(row[0]) + self.window
        return max(1, math.ceil((leaves - now).total_seconds()))

def _account_key(account: str) -> str:
    # The column compares ASCII case-insensitively; lower-casing here folds the rest of Unicode as well.
    return unicodedata.normalize("NFC", account).lower()


def _address_key(address: str) -> str:
    """One spelling per address, so "::ffff:10.0.0.1" and "10.0.0.1" share a count; other text is kept as is."""
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(parsed)


def _in_words(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
