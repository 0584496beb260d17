"""Cursor pagination for list endpoints: `?limit=N&after=<id of the last item seen>`, answered with `next_after`."""

from __future__ import annotations

from typing import Callable, TypeVar

from flask import request

from appliance.errors import ValidationError

T = TypeVar("T")
DEFAULT_LIMIT, MAX_LIMIT = 100, 500


def page(items: list[T], *, key: Callable[[T], str]) -> tuple[list[T], str | None]:
    """The slice of an ordered list after the cursor, and the cursor of the next page (None on the last)."""
    raw = request.args.get("limit")
    if raw is None:
        limit = DEFAULT_LIMIT
    elif raw.isascii() and raw.isdigit() and len(raw) <= 6 and 1 <= int(raw) <= MAX_LIMIT:
        limit = int(raw)
    else:
        raise ValidationError(f"'limit' is a whole number from 1 to {MAX_LIMIT}")
    start = 0
    after = request.args.get("after")
    if after:
        keys = [key(item) for item in items]
        if after not in keys:
            raise ValidationError("'after' is not a cursor from this list (it may have been deleted); start over")
        start = keys.index(after) + 1
    chunk = items[start:start + limit]
    return chunk, (key(chunk[-1]) if chunk and start + limit < len(items) else None)
