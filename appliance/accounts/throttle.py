"""Login throttling: failed password checks counted per account, per source and per client address over a moving
window, each attempt checked and counted in one step."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import math
import unicodedata
from dataclasses import dataclass

from appliance.clock import Clock, isoformat
from appliance.errors import TooManyAttempts
from appliance.storage.database import Database

# A session started from an address makes it familiar for this long, as far as the sessions are still kept (they are
# pruned a day after they end); a device token (devices.py) lasts longer.
KNOWN_ADDRESS_PERIOD = dt.timedelta(days=30)
DEVICE_SOURCE = "device:"

# The limit-th newest failure still in the window, if there is one: it exists exactly when the limit is reached, and
# the lock lifts when it leaves the window.
_NTH_NEWEST_BY_ADDRESS = (
    "SELECT at FROM login_failures WHERE client_address = ? AND at > ? ORDER BY at DESC LIMIT 1 OFFSET ?"
)
_NTH_NEWEST_BY_SOURCE = (
    "SELECT at FROM login_failures WHERE account = ? AND client_address = ? AND at > ? "
    "ORDER BY at DESC LIMIT 1 OFFSET ?"
)
# Failures for the account from sources that are neither one of its devices nor an address it signed in from.
_NTH_NEWEST_FROM_STRANGERS = (
    "SELECT at FROM login_failures WHERE account = ? AND at > ? AND client_address NOT LIKE 'device:%' "
    "AND client_address NOT IN (SELECT value FROM json_each(?)) ORDER BY at DESC LIMIT 1 OFFSET ?"
)


@dataclass(frozen=True)
class Attempt:
    """One attempt let through: it counts as a failure from the moment it was let through until it succeeds."""

    id: int
    account: str
    address: str
    source: str        # what it is counted under: the address, or "device:<id>"


class LoginThrottle:
    """Limits password guessing per account and per address without letting a stranger lock the owner out.

    Every attempt comes from a source, judged before any password is hashed:

    - a device: the client shows a device token of this account (devices.py), given out by an earlier correct
      password on it; at most `max_per_account` failures in the window per device;
    - a familiar address: a session of this account was started from the client's address (within
      KNOWN_ADDRESS_PERIOD, while the session is kept); at most `max_per_account` failures per account and address;
    - anyone else, a stranger: at most `max_per_account` failures in the window for the account from all strangers
      together.

    So a stranger guessing, from one address or thousands, gets `max_per_account` guesses a window and then locks
    only the strangers out; the owner, on a device or an address with a good record, still gets in. The price: a
    guesser who shares the owner's address (the same office NAT) can use up that address's share, and someone with
    a copy of the device token gets that device's share; neither gets more than `max_per_account` a window. On top of
    that, every source but a device counts towards `max_per_address` failures per address across all accounts,
    which stops one address from spraying guesses over many accounts (a device token is good for one account only).
    A new address without a device token is a stranger until it signs in: a lock-out then ends by itself one window
    after the strangers' last failure that counted, and a password reset always works.

    Checking and counting are one step: `attempt` checks the limits and records the attempt as a failure in the
    same write transaction, so parallel guesses are let through one by one and never more than a limit allows.
    A correct password turns it into a success (`succeeded`), which also clears the failures of that source;
    an attempt that was neither (a second factor is still to be given) is `withdrawn`.
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

    def attempt(self, *, account: str, address: str, user_id: str | None = None,
                device: str | None = None) -> Attempt:
        """Let one password check through and count it as failed until told otherwise, or raise TooManyAttempts.

        `user_id` is the account's id if it exists (to know its familiar addresses); `device` is the id of a valid
        device token it showed. Cheap: call it before hashing."""
        account_key, address_key = _account_key(account), _address_key(address)
        now = self._clock.now()
        since = isoformat(now - self.window)
        with self._db.transaction() as conn:
            if device:
                source = DEVICE_SOURCE + device
                waits = {"for this account on this device": self._wait(
                    conn, now, _NTH_NEWEST_BY_SOURCE, (account_key, source, since), self.max_per_account)}
            else:
                source = address_key
                known = self._known_addresses(conn, user_id, now)
                waits = {"from your network address": self._wait(
                    conn, now, _NTH_NEWEST_BY_ADDRESS, (address_key, since), self.max_per_address)}
                if address_key in known:
                    waits["for this account from your network address"] = self._wait(
                        conn, now, _NTH_NEWEST_BY_SOURCE, (account_key, address_key, since), self.max_per_account)
                else:
                    waits["for this account from places it has not signed in from"] = self._wait(
                        conn, now, _NTH_NEWEST_FROM_STRANGERS, (account_key, since, _json(known)),
                        self.max_per_account)
            locked = {cause: wait for cause, wait in waits.items() if wait is not None}
            if locked:
                cause, wait = max(locked.items(), key=lambda item: item[1])
                raise TooManyAttempts(
                    f"Too many failed sign-in attempts {cause}. Wait {_in_words(wait)} and try again, sign in from a "
                    "device you have signed in on before, or reset your password if you have forgotten it.",
                    retry_after_seconds=wait,
                )
            attempt_id = conn.execute("INSERT INTO login_failures (account, client_address, at) VALUES (?, ?, ?)",
                                      (account_key, source, isoformat(now))).lastrowid
        return Attempt(int(attempt_id), account_key, address_key, source)

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right: forget this source's failures for the account, the attempt's own included."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM login_failures WHERE account = ? AND client_address IN (?, ?)",
                         (attempt.account, attempt.source, attempt.address))

    def withdraw(self, attempt: Attempt) -> None:
        """The attempt neither failed nor succeeded (the second factor is still to come): it no longer counts."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM login_failures WHERE id = ?", (attempt.id,))

    def record_failure(self, *, account: str, address: str) -> None:
        """Count one failure from an address that was not let through by `attempt` (imports, tests)."""
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO login_failures (account, client_address, at) VALUES (?, ?, ?)",
                (_account_key(account), _address_key(address), isoformat(self._clock.now())),
            )

    def prune(self) -> int:
        """Delete failures that no longer count (for a periodic cleanup job); returns how many."""
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM login_failures WHERE at <= ?", (isoformat(self._clock.now() - self.window),)
            )
            return cursor.rowcount

    def _known_addresses(self, conn, user_id: str | None, now: dt.datetime) -> set[str]:
        """The addresses sessions of this account were started from recently: its good record."""
        if user_id is None:
            return set()
        rows = conn.execute("SELECT DISTINCT client_address FROM sessions WHERE user_id = ? AND created_at > ? "
                            "AND client_address IS NOT NULL", (user_id, isoformat(now - KNOWN_ADDRESS_PERIOD)))
        return {_address_key(row[0]) for row in rows}

    def _wait(self, conn, now: dt.datetime, sql: str, params: tuple, limit: int) -> int | None:
        """Seconds until fewer than `limit` failures are in the window, or None if fewer are already."""
        # With exactly `limit` failures this is the oldest one counted; if more got in (a lower limit configured
        # since), the lock lasts until enough of them have left.
        row = conn.execute(sql, (*params, limit - 1)).fetchone()
        if row is None:
            return None
        leaves = dt.datetime.fromisoformat(row[0]) + self.window
        return max(1, math.ceil((leaves - now).total_seconds()))


def _json(values: set[str]) -> str:
    return json.dumps(sorted(values))


def _account_key(account: str) -> str:
    # The column compares ASCII case-insensitively; lower-casing here folds the rest of Unicode as well.
    return unicodedata.normalize("NFC", account).lower()


def _address_key(address: str) -> str:
    """One spelling per address, so "::ffff:10.0.0.1" and "10.0.0.1" share a count; other text is kept as is."""
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        # Never mistaken for a device's count, whatever a caller passes as an address.
        return "unknown" if address.startswith(DEVICE_SOURCE) else address
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(parsed)


def _in_words(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
