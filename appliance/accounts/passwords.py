"""Password rules (length, common passwords, the user's own address) and argon2id hashing."""

from __future__ import annotations

import secrets
import threading
import unicodedata
from pathlib import Path

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from appliance.errors import WeakPassword
from appliance.settings import shipped_config_dir

MIN_LENGTH = 12
MAX_LENGTH = 256
# Below this the local part of an address ("al", "jo") is too likely to occur by chance in a good passphrase.
_MIN_LOCAL_PART = 3


def normalise(password: str) -> str:
    """The one form a password is checked and hashed in (NFC), so "é" typed either way is the same password."""
    return unicodedata.normalize("NFC", password)


def default_common_passwords_path() -> Path:
    """The shipped common-password list: in the frozen bundle or beside the source tree."""
    return shipped_config_dir() / "common-passwords.txt"


def load_common_passwords(path: Path) -> frozenset[str]:
    """Read a list of one password a line, lower-cased, skipping blank lines and '#' comments."""
    entries = set()
    with Path(path).open(encoding="utf-8") as handle:
        for line in handle:
            entry = line.rstrip("\r\n")
            if entry.strip() and not entry.startswith("#"):
                entries.add(normalise(entry).lower())
    return frozenset(entries)


class PasswordPolicy:
    """What a new password must be: long enough, not common, not the user's own address. No composition rules."""

    def __init__(self, common: frozenset[str], *, min_length: int = MIN_LENGTH, max_length: int = MAX_LENGTH) -> None:
        if not 0 < min_length <= max_length:
            raise ValueError(f"password lengths need 0 < min_length <= max_length, not {min_length}, {max_length}")
        self._common = common
        self.min_length = min_length
        self.max_length = max_length

    def check(self, password: str, *, email: str) -> None:
        """Raise WeakPassword naming the first rule the password breaks and what to do instead."""
        candidate = normalise(password)
        if any(unicodedata.category(char) in ("Cc", "Cs") for char in candidate):
            raise WeakPassword(
                "The password contains a control character (such as a tab, line break or NUL) or an invalid one, "
                "which cannot be typed reliably. Remove it and try again."
            )
        if len(candidate) < self.min_length:
            raise WeakPassword(
                f"The password is too short: it has {len(candidate)} characters and needs at least {self.min_length}. "
                "Use a longer one; several unrelated words are easy to remember."
            )
        if len(candidate) > self.max_length:
            raise WeakPassword(
                f"The password is too long: it has {len(candidate)} characters and may have at most "
                f"{self.max_length}. Choose a shorter one."
            )
        folded = candidate.lower()
        if folded in self._common:
            raise WeakPassword(
                "The password is on the list of common passwords that attackers try first. Choose a different one; "
                "several unrelated words make a strong password."
            )
        local_part = _local_part(email)
        if len(local_part) >= _MIN_LOCAL_PART and local_part in folded:
            raise WeakPassword(
                "The password contains the name part of your email address, which is the first thing an attacker "
                "tries. Choose a password without it."
            )


class PasswordHasher:
    """argon2id hashes of NFC-normalised passwords; verifying an unknown user costs as much as a known one."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._argon2 = argon2.PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=argon2.Type.ID
        )
        self._dummy: str | None = None
        self._dummy_lock = threading.Lock()

    def hash(self, password: str) -> str:
        return self._argon2.hash(_encode(password))

    def verify(self, encoded: str | None, password: str) -> bool:
        """True if the password matches; False on a mismatch, an unreadable hash, or no hash at all.

        With no hash (an unknown user, a user without a password) a dummy hash is verified anyway, so the answer
        takes as long as for a real user and does not tell which accounts exist.
        """
        if encoded is None:
            self._verify(self._dummy_hash(), password)
            return False
        return self._verify(encoded, password)

    def needs_rehash(self, encoded: str) -> bool:
        """True when the hash was made with other parameters than the current ones (or cannot be read at all)."""
        try:
            return self._argon2.check_needs_rehash(encoded)
        except InvalidHashError:
            return True

    def _verify(self, encoded: str, password: str) -> bool:
        try:
            return self._argon2.verify(encoded, _encode(password))
        except (VerificationError, InvalidHashError):
            return False

    def _dummy_hash(self) -> str:
        # Made on first use, not at start-up, so opening the appliance does not pay for a hash it may never need.
        with self._dummy_lock:
            if self._dummy is None:
                self._dummy = self._argon2.hash(secrets.token_bytes(32))
            return self._dummy


def _local_part(email: str) -> str:
    local, at, _domain = normalise(email).rpartition("@")
    return (local if at else normalise(email)).lower()


def _encode(password: str) -> bytes:
    # "surrogatepass" lets a lone surrogate from a JSON body fail to match instead of raising; the policy refuses
    # such passwords, so no stored hash can contain one.
    return normalise(password).encode("utf-8", "surrogatepass")
