"""How the panel writes times, durations, sizes and outcomes, the same on every screen."""

from __future__ import annotations

import datetime as dt


def when(text: str | None) -> str:
    """An API time (ISO 8601, UTC) as the admin reads it: `2026-12-01 14:05 UTC`; '' for none."""
    if not text:
        return ""
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    return f"{moment.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M} UTC"


def day(text: str | None) -> str:
    """An API time as its day only: `2026-12-01`; '' for none."""
    return when(text)[:10]


def ago(text: str | None, *, now: dt.datetime | None = None) -> str:
    """How long ago an API time was: `5 min ago`, `3 h ago`, `2 days ago`."""
    if not text:
        return "never"
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    seconds = max(0, int(((now or dt.datetime.now(dt.timezone.utc)) - moment).total_seconds()))
    for size, unit in ((86_400, "day"), (3_600, "h"), (60, "min")):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if unit == 'day' and count != 1 else ''} ago"
    return "just now"


def every(seconds: int) -> str:
    """An interval as people say it: every 15 s, every 15 min, every hour, every 6 hours, every day."""
    for size, unit in ((86_400, "day"), (3_600, "hour"), (60, "min")):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            if count == 1:
                return f"every {unit if unit != 'min' else 'minute'}"
            return f"every {count} {unit}{'s' if unit != 'min' else ''}"
    return f"every {seconds} s"


def duration(ms: int | None) -> str:
    if ms is None:
        return ""
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def size(count: int | None) -> str:
    if count is None:
        return ""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


def summary(details: dict | None) -> str:
    """A run's summary on one line: `sent=2 retried=0`."""
    if not details:
        return ""
    return " ".join(f"{key}={value}" for key, value in details.items() if not isinstance(value, (dict, list)))
