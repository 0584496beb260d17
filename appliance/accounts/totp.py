"""Time-based one-time passwords (RFC 6238: HMAC-SHA1, 6 digits, 30 s) and single-use recovery codes."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

SECRET_BYTES = 20  # 160 bits, the HMAC-SHA1 block output size RFC 4226 recommends
DIGITS = 6
PERIOD_SECONDS = 30
ISSUER = "ChatSpark Appliance"

# Crockford's base32 alphabet: no i, l, o or u, so no two symbols look alike; typed look-alikes are folded back.
RECOVERY_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
RECOVERY_GROUPS = 3
RECOVERY_GROUP_LENGTH = 4  # 3 x 4 symbols x 5 bits = 60 bits per code
_LOOK_ALIKES = str.maketrans({"o": "0", "i": "1", "l": "1"})


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def secret_text(secret: bytes) -> str:
    """The secret as authenticator apps take it typed in: base32, no padding."""
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def provisioning_uri(secret: bytes, *, account: str, issuer: str = ISSUER) -> str:
    """The otpauth:// URI an authenticator app reads from a QR code (Google's Key URI format)."""
    label = f"{quote(issuer, safe='')}:{quote(account, safe='')}"
    query = urlencode(
        {"secret": secret_text(secret), "issuer": issuer, "algorithm": "SHA1", "digits": DIGITS,
         "period": PERIOD_SECONDS},
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"


def step_of(moment: dt.datetime) -> int:
    """The 30-second time step a moment falls in, counted from the Unix epoch."""
    if moment.tzinfo is None:
        raise ValueError("step_of needs a timezone-aware datetime")
    return int(moment.timestamp() // PERIOD_SECONDS)


def code_at(secret: bytes, step: int) -> str:
    """The code for one time step (RFC 4226 HOTP with the step as counter)."""
    digest = hmac.new(secret, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**DIGITS).zfill(DIGITS)


def verify(secret: bytes, code: str, *, now: dt.datetime, last_step: int, window: int = 1) -> int | None:
    """The step a code belongs to, or None if it matches no step near `now` that is later than `last_step`.

    `window` steps either side of now are accepted for clock drift. Only steps after `last_step` (the step of the
    last code this secret accepted; 0 if none) count, so a code works once and an older one never after a newer.
    """
    if window < 0:
        raise ValueError("window must not be negative")
    typed = code.replace(" ", "")
    if len(typed) != DIGITS or not (typed.isascii() and typed.isdigit()):
        return None
    current = step_of(now)
    matched = None
    # Every candidate is compared, match or not, so the time taken does not say which step matched.
    for step in range(current - window, current + window + 1):
        equal = hmac.compare_digest(code_at(secret, step), typed)
        if equal and step > last_step and matched is None:
            matched = step
    return matched


def normalise_recovery_code(code: str) -> str:
    """The form recovery codes are hashed in: lower case, no dashes or spaces, look-alike letters folded."""
    return code.lower().replace("-", "").replace(" ", "").translate(_LOOK_ALIKES)


def new_recovery_codes(count: int = 10) -> list[str]:
    """Distinct codes such as "7kq2-m9xd-p4tw", shown to the user once; only their hashes are kept."""
    codes: list[str] = []
    while len(codes) < count:
        symbols = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_GROUPS * RECOVERY_GROUP_LENGTH))
        code = "-".join(symbols[i:i + RECOVERY_GROUP_LENGTH] for i in range(0, len(symbols), RECOVERY_GROUP_LENGTH))
        if code not in codes:
            codes.append(code)
    return codes


def hash_recovery_code(code: str) -> str:
    """SHA-256 hex of the normalised code, for storing and looking up."""
    # A fast unsalted hash is enough here, unlike for passwords: each code is 60 random bits, not a human choice,
    # so there is no dictionary to try; the hashes sit inside the encrypted control database; and a code only
    # stands in for the second factor, never for the password.
    return hashlib.sha256(normalise_recovery_code(code).encode("utf-8")).hexdigest()
