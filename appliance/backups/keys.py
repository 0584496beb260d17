"""The backup key (`backup:<n>`, the highest n current) and key checks that name a key without revealing it."""

from __future__ import annotations

import hashlib
import hmac
import re

from appliance.keys.keystore import Keystore

PREFIX = "backup:"
FIRST = f"{PREFIX}1"
_NAME = re.compile(r"^backup:([1-9][0-9]*)$")


def number_of(name: str) -> int | None:
    match = _NAME.fullmatch(name)
    return int(match.group(1)) if match else None


def current_key(keystore: Keystore) -> tuple[str, bytes]:
    """The newest backup key's name and material, creating `backup:1` on first use."""
    numbered = [(number_of(r.name), r.name) for r in keystore.records()]
    numbered = [(n, name) for n, name in numbered if n is not None]
    if not numbered:
        return FIRST, keystore.create_key(FIRST, purpose="backup encryption")
    _, name = max(numbered)
    return name, keystore.get(name)


def key_check(key: bytes) -> str:
    """A short MAC of a database key, kept in the manifest to tell 'keys rotated since' from 'file damaged'."""
    return hmac.new(key, b"chatspark backup database-key check", hashlib.sha256).hexdigest()[:32]
