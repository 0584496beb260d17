"""Device tokens: what a browser or client keeps after signing in, so that strangers' guesses never lock it out."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets

LIFETIME = dt.timedelta(days=90)
_TOKEN = re.compile(r"^csd_([0-9]{1,12})_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


def _mac(password_hash: str, user_id: str, issued: int, device_id: str) -> str:
    # Keyed by the account's password hash, a secret only the control database holds, so no key of its own is
    # needed: a token cannot be made without reading that database, and it stops counting once the password changes
    # (a reset after a theft retires the thief's device with the old password).
    key = hashlib.sha256(b"chatspark-device-token-v1\x00" + password_hash.encode("utf-8")).digest()
    message = f"{user_id}\x00{issued}\x00{device_id}".encode("utf-8")
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def issue(*, user_id: str, password_hash: str, now: dt.datetime) -> str:
    """A new token `csd_<issued>_<device id>_<mac>` for the account, handed out after a correct password."""
    issued = int(now.timestamp())
    device_id = secrets.token_hex(8)
    return f"csd_{issued}_{device_id}_{_mac(password_hash, user_id, issued, device_id)}"


def verify(token: str | None, *, user_id: str, password_hash: str | None, now: dt.datetime) -> str | None:
    """The device id of a valid, unexpired token of this account; None for anything else."""
    match = _TOKEN.match(token or "")
    if match is None or not password_hash:
        return None
    issued, device_id, mac = int(match.group(1)), match.group(2), match.group(3)
    age = now.timestamp() - issued
    if not 0 <= age <= LIFETIME.total_seconds():
        return None
    if not hmac.compare_digest(mac, _mac(password_hash, user_id, issued, device_id)):
        return None
    return device_id
