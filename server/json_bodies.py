"""JSON request bodies read strictly, for every route that reads one (the API, the pages' scripts, the widget).

Python's json module accepts what the rest of the appliance cannot store or use: strings holding lone UTF-16
surrogates (SQLite and every encoder refuse them), integers past SQLite's 64-bit range, NaN and Infinity, and
nesting deep enough to exhaust the interpreter's stack. Each is refused here with a 400 that names where in the
body it is, never what it holds: an error never echoes input back.
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask.json.provider import DefaultJSONProvider

from appliance.errors import ValidationError

MAX_DEPTH = 32
INTEGER_RANGE = (-(2 ** 63), 2 ** 63 - 1)  # SQLite's INTEGER
_MAX_DIGITS = 19  # longer integers are out of range whatever their value; int() is never asked to read them


class _OutOfRange:
    """Stands in for a number too long to read, until the walk can say where it was."""


def _integer(digits: str) -> int | _OutOfRange:
    return _OutOfRange() if len(digits.lstrip("-")) > _MAX_DIGITS else int(digits)


def _constant(name: str) -> Any:
    raise ValidationError(f"the JSON body holds {name}, which is not a number JSON allows")


def parse(raw: str | bytes) -> Any:
    """The decoded body, or ValidationError saying what is wrong with it and where."""
    if isinstance(raw, (bytes, bytearray)):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError(f"the request body is not UTF-8 text (byte {exc.start})") from None
    try:
        value = json.loads(raw, parse_int=_integer, parse_constant=_constant)
    except RecursionError:
        raise ValidationError(f"the JSON body is nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise ValidationError(f"the request body is not valid JSON: {exc.msg} (line {exc.lineno}, column "
                              f"{exc.colno})") from None
    check(value)
    return value


def check(value: Any) -> None:
    """Walk a decoded body without recursion; refuse the first thing the appliance could not store or use."""
    stack: list[tuple[Any, tuple, int]] = [(value, (), 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict):
            if depth > MAX_DEPTH:
                raise _too_deep(path)
            for key, child in item.items():
                if _has_surrogate(key):
                    raise ValidationError(f"{where(path)} has a key that is not valid Unicode text (a lone "
                                          "surrogate)")
                stack.append((child, (*path, key), depth + 1))
        elif isinstance(item, list):
            if depth > MAX_DEPTH:
                raise _too_deep(path)
            stack.extend((child, (*path, index), depth + 1) for index, child in enumerate(item))
        elif isinstance(item, str):
            if _has_surrogate(item):
                raise ValidationError(f"{where(path)}: is not valid Unicode text (it holds a lone surrogate)")
        elif isinstance(item, _OutOfRange) or (isinstance(item, int) and not isinstance(item, bool) and not (
                INTEGER_RANGE[0] <= item <= INTEGER_RANGE[1])):
            raise ValidationError(f"{where(path)}: the number is out of range (at most {INTEGER_RANGE[1]})")
        elif isinstance(item, float) and (not math.isfinite(item) or abs(item) > INTEGER_RANGE[1]):
            raise ValidationError(f"{where(path)}: the number is out of range (at most {INTEGER_RANGE[1]})")


def _too_deep(path: tuple) -> ValidationError:
    shown = where(path[:3]) + ("/..." if len(path) > 3 else "")
    return ValidationError(f"{shown}: the JSON body is nested deeper than {MAX_DEPTH} levels")


def where(path: tuple) -> str:
    """A field's place in the body, `policy/leads_days` or `pairs/3/answer`; long keys are cut, not echoed whole."""
    if not path:
        return "the body"
    return "/".join(_shown(part) for part in path)


def _shown(part: Any) -> str:
    if isinstance(part, int):
        return str(part)
    text = part if not _has_surrogate(part) else part.encode("utf-8", "replace").decode("utf-8")
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= 40 else text[:37] + "..."


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON with `parse` as the reader; `request.get_json()` raises ValidationError on a bad body."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return parse(s)
