"""What the admin's lists of conversations and leads share: reading filter values, page sizes and cursors."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass
from typing import Generic, Mapping, TypeVar

from appliance.clock import isoformat
from appliance.errors import ValidationError

T = TypeVar("T")
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
Params = Mapping[str, str]


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, newest first, and the cursor that continues it (None on the last page)."""

    items: list[T]
    next_after: str | None


def instant(params: Params, name: str) -> str | None:
    """An ISO 8601 time or date from the query, in the stored form (UTC, 'Z'); a date means its midnight UTC."""
    raw = params.get(name)
    if not raw:
        return None
    try:
        moment = dt.datetime.fromisoformat(raw)
        return isoformat(moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc))
    except (ValueError, OverflowError):  # overflow: a year-1 time east of UTC falls before year 1
        raise ValidationError(f"'{name}' must be an ISO 8601 time or date, like 2026-11-29T12:00:00Z or "
                              "2026-11-29") from None


def choice(params: Params, name: str, options: tuple[str, ...]) -> str | None:
    raw = params.get(name)
    if not raw:
        return None
    if raw not in options:
        raise ValidationError(f"'{name}' is one of: {', '.join(options)}")
    return raw


def flag(params: Params, name: str) -> bool | None:
    value = choice(params, name, ("true", "false"))
    return None if value is None else value == "true"


def limit(params: Params) -> int:
    raw = params.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6 or not 1 <= int(raw) <= MAX_LIMIT:
        raise ValidationError(f"'limit' is a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def cursor(at: str, item_id: str) -> str:
    """An opaque position in a newest-first list; it stays valid when the item it names is deleted."""
    return base64.urlsafe_b64encode(f"{at}|{item_id}".encode()).decode().rstrip("=")


def position(raw: str | None) -> tuple[str, str] | None:
    """The (time, id) a cursor from `cursor` names; a value not made there is refused."""
    if not raw:
        return None
    try:
        at, sep, item_id = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode().partition("|")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        sep = ""
    if not sep or not at or not item_id:
        raise ValidationError("'after' is not a cursor from this list; pass the next_after of the previous page")
    return at, item_id


def like_pattern(text: str) -> str:
    """A LIKE pattern (with ESCAPE '\\') matching `text` anywhere, its own % and _ taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def shorten(text: str | None, length: int) -> str | None:
    if text is None or len(text) <= length:
        return text
    return text[:length - 1] + "…"
