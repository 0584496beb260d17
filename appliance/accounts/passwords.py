"""Password rules (the one secret policy of strength.py, plus the user's own address) and argon2id hashing."""

from __future__ import annotations

import secrets
import threading
import unicodedata
from typing import Iterable

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from appliance.accounts.strength import (
    MIN_CONTEXT_WORD,
    MIN_LENGTH,
    SecretPolicy,
    default_common_passwords_path,
    load_common_passwords,
)
from appliance.errors import WeakPassword

__all__ = ["MAX_LENGTH", "MIN_LENGTH", "PasswordHasher", "PasswordPolicy", "default_common_passwords_path",
           "load_common_passwords", "normalise"]

MAX_LENGTH = 256


def normalise(password: str) -> str:
    """The one form a password is checked and hashed in (NFC), so "é" typed either way is the same password."""
    return unicodedata.normalize("NFC", password)


class PasswordPolicy:
    """What a new password must be: the secret policy (length, common list, guessability in its context), and never
    the name part of the user's own address. No composition rules."""

    def __init__(self, common: frozenset[str], *, min_length: int = MIN_LENGTH, max_length: int = MAX_LENGTH) -> None:
        if not 0 < min_length <= max_length:
            raise ValueError(f"password lengths need 0 < min_length <= max_length, not {min_length}, {max_length}")
        self._secrets = SecretPolicy(common, kind="password", min_length=min_length, max_length=max_length)
        self.min_length = min_length
        self.max_length = max_length

    def check(self, password: str, *, email: str, context: Iterable[str | None] = ()) -> None:
        """Raise WeakPassword naming the first rule the password breaks and what to do instead; `context` adds
        what else an attacker would try first (the display name, the workspace's name)."""
        if isinstance(password, str) and not any(unicodedata.category(c) in ("Cc", "Cs") for c in password):
            local_part = _local_part(email)
            if len(local_part) >= MIN_CONTEXT_WORD and local_part in normalise(password).lower():
                raise WeakPassword(
                    "The password contains the name part of your email address, which is the first thing an "
                    "attacker tries. Choose a password without it."
                )
        self._secrets.check(password, context=(email, *context))


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
