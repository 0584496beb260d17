"""Work off the UI thread: a function runs on a worker of a small pool and its result (or its exception) is handed
to a callback on the UI thread, through a queued signal. Nothing that touches the network runs on the UI thread."""

from __future__ import annotations

import itertools
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

WORKERS = 6


class _Carrier(QObject):
    """Made on the UI thread, so what a worker emits here is delivered, queued, on the UI thread."""

    finished = Signal(int, bool, object)


class _Job(QRunnable):
    def __init__(self, carrier: _Carrier, job_id: int, work: Callable[[], Any]) -> None:
        super().__init__()
        self._carrier, self._id, self._work = carrier, job_id, work

    def run(self) -> None:
        try:
            result, ok = self._work(), True
        except BaseException as exc:  # every failure goes back to the UI thread; none is lost on the worker
            result, ok = exc, False
        self._carrier.finished.emit(self._id, ok, result)


class Background(QObject):
    """Runs functions on a thread pool and calls back on the UI thread; `pending` says how many are out."""

    busy_changed = Signal(bool)

    def __init__(self, pool: QThreadPool | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        if pool is None:
            # Its own pool, wider than the machine's cores: a call is mostly waiting on the network, and a slow one
            # (a backup, an unreachable host) must not hold up the others.
            pool = QThreadPool(self)
            pool.setMaxThreadCount(WORKERS)
        self._pool = pool
        self._carrier = _Carrier()
        self._carrier.finished.connect(self._finished)
        self._ids = itertools.count(1)
        self._callbacks: dict[int, tuple[Callable[[Any], None], Callable[[BaseException], None]]] = {}

    @property
    def pending(self) -> int:
        return len(self._callbacks)

    def run(self, work: Callable[[], Any], *, on_done: Callable[[Any], None],
            on_error: Callable[[BaseException], None]) -> int:
        job_id = next(self._ids)
        if not self._callbacks:
            self.busy_changed.emit(True)
        self._callbacks[job_id] = (on_done, on_error)
        self._pool.start(_Job(self._carrier, job_id, work))
        return job_id

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Block until the workers are done: only when the panel closes."""
        return self._pool.waitForDone(timeout_ms)

    @Slot(int, bool, object)
    def _finished(self, job_id: int, ok: bool, result: object) -> None:
        on_done, on_error = self._callbacks.pop(job_id)
        if not self._callbacks:
            self.busy_changed.emit(False)
        (on_done if ok else on_error)(result)
