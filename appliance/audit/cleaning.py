"""What an audit row may hold: text with its control characters made visible escapes (so no one can forge or hide a
line) and its length capped, and details as compact JSON of plain values, bounded, never with a key that looks like a
secret's (a password, a token, key material)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from appliance.errors import ValidationError

MAX_TEXT = 512
MAX_DETAILS = 4096

# C0, DEL, C1, lone surrogates, and the Unicode line breaks and bidi controls that can forge or hide log lines.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_SECRET_WORDS = {"password", "passwd", "pwd", "passphrase", "secret", "secrets", "token", "credential",
                 "credentials", "apikey", "cookie", "otp", "totp", "pin"}
_SECRET_FRAGMENTS = ("password", "passphrase", "secret", "apikey", "privatekey", "keymaterial", "accesstoken",
                     "refreshtoken", "authtoken", "bearer")


def neutralise(text: str) -> str:
    """Text made safe to store and show: control characters become visible escapes, and length is capped."""
    text = _CONTROL.sub(_escape, text)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 1] + "…"


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def details_json(details: dict | None) -> str:
    if details is None:
        details = {}
    if not isinstance(details, dict):
        raise ValidationError(f"audit details must be a dict, not {type(details).__name__}")
    text = _compact(_clean_value(details, "details"))
    if len(text) > MAX_DETAILS:
        raise ValidationError(f"audit details are {len(text)} characters as JSON; the limit is {MAX_DETAILS}")
    return text


def _clean_value(value: Any, where: str) -> Any:
    if isinstance(value, str):
        return neutralise(value)
    if value is None or isinstance(value, (bool, int)) or (isinstance(value, float) and math.isfinite(value)):
        return value
    if isinstance(value, (list, tuple)):
        return [_clean_value(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, dict):
        cleaned = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(f"{where} keys must be text, not {type(key).__name__}")
            if _looks_secret(key):
                raise ValidationError(f"{where} key {key!r} looks like a secret; audit details must never hold "
                                      "passwords, tokens or key material (log an id instead)")
            cleaned[neutralise(key)] = _clean_value(item, f"{where}[{key!r}]")
        return cleaned
    raise ValidationError(f"{where} must be text, a finite number, true/false, null, a list or an object, "
                          f"not {type(value).__name__}")


def _looks_secret(key: str) -> bool:
    words = [w for w in re.split(r"[^a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key).lower()) if w]
    compact = "".join(words)
    # "key" only as the last word: `api_key` and `key` are material, `key_id` and `key_name` name one.
    return (any(word in _SECRET_WORDS for word in words) or (bool(words) and words[-1] in ("key", "keys"))
            or any(fragment in compact for fragment in _SECRET_FRAGMENTS))


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
