"""One connection that threads take turns on: one statement or one write transaction at a time, re-entrant, and
knowing which thread holds it (so that thread's other statements go to it and see its writes)."""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator


class SharedConnection:
    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self._lock = threading.RLock()
        self._holder: int | None = None  # the thread holding it

    def held_here(self) -> bool:
        """Whether the calling thread holds it."""
        return self._holder == threading.get_ident()

    @contextlib.contextmanager
    def held(self, timeout: float) -> Iterator[bool]:
        """Hold it if it comes free within `timeout` seconds (0: only if it is free now); yields whether it did."""
        if not (self._lock.acquire(timeout=timeout) if timeout > 0 else self._lock.acquire(False)):
            yield False
            return
        outer, self._holder = self._holder, threading.get_ident()
        try:
            yield True
        finally:
            self._holder = outer
            self._lock.release()
