"""How far the embedding model has got with each source being indexed."""

from __future__ import annotations

import threading


class IndexingProgress:
    """How far the embedding model has got with each source being indexed, shared by the indexing workers and
    whoever lists the sources; it lives as long as the process, as does the indexing it describes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done: dict[str, tuple[int, int]] = {}

    def report(self, source_id: str, done: int, total: int) -> None:
        with self._lock:
            self._done[source_id] = (done, total)

    def of(self, source_id: str) -> tuple[int, int] | None:
        with self._lock:
            return self._done.get(source_id)

    def clear(self, source_id: str) -> None:
        with self._lock:
            self._done.pop(source_id, None)
