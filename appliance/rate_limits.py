"""Moving one-minute windows of calls per key (an API key, a client address), in this process's memory."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable

from appliance.errors import TooManyAttempts

WINDOW_SECONDS = 60.0
_FORGET_AFTER_KEYS = 100_000


class MinuteWindows:
    """Counts calls per key over the last minute; the appliance serves from one process, so memory is enough."""

    def __init__(self, *, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._windows: dict[str, deque] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, *, limit: int, message: str) -> int:
        """Count one call; return how many remain this minute, or raise TooManyAttempts with the wait."""
        now = self._now()
        with self._lock:
            window = self._windows.setdefault(key, deque())
            while window and window[0] <= now - WINDOW_SECONDS:
                window.popleft()
            if len(window) >= limit:
                raise TooManyAttempts(message, retry_after_seconds=max(1, int(window[0] + WINDOW_SECONDS - now) + 1))
            window.append(now)
            if len(self._windows) > _FORGET_AFTER_KEYS:  # forget quiet keys rather than grow without bound
                for quiet in [k for k, w in self._windows.items() if not w or w[-1] <= now - WINDOW_SECONDS]:
                    del self._windows[quiet]
            return limit - len(window)

    def wait(self, key: str, *, limit: int) -> int:
        """Seconds until `key` may be counted again, or 0 while it is under `limit`; counts nothing."""
        now = self._now()
        with self._lock:
            window = self._windows.get(key)
            while window and window[0] <= now - WINDOW_SECONDS:
                window.popleft()
            if not window or len(window) < limit:
                return 0
            return max(1, int(window[len(window) - limit] + WINDOW_SECONDS - now) + 1)

    def add(self, key: str) -> None:
        """Count one event for `key` without any limit (what `wait` then measures)."""
        now = self._now()
        with self._lock:
            window = self._windows.setdefault(key, deque())
            while window and window[0] <= now - WINDOW_SECONDS:
                window.popleft()
            window.append(now)
            if len(window) > 10_000:  # an address past any sane limit: its oldest entries no longer matter
                window.popleft()


class DailyCounts:
    """Counts per key per UTC day, started from what the database already holds so a restart does not reset them."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[str, int]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, *, day: str, limit: int, already: Callable[[], int], message: str) -> None:
        """Count one; past `limit` today raise TooManyAttempts until the next UTC midnight."""
        with self._lock:
            counted_day, count = self._counts.get(key, ("", 0))
            if counted_day != day:
                count = already()
            if count >= limit:
                self._counts[key] = (day, count)
                raise TooManyAttempts(message, retry_after_seconds=_seconds_to_midnight())
            self._counts[key] = (day, count + 1)


def _seconds_to_midnight() -> int:
    now = time.time()
    return max(1, 86_400 - int(now % 86_400))
