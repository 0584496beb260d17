"""Turns at computing replies: at most a few threads of the process answer chat at once, the others wait for a turn.

Why: a reply is CPU work, in Python (under the interpreter's one lock) and in SQLCipher, and the application server's
eight threads computing replies at once made each reply cost almost twice the CPU of one at a time (bench.widget:
about 8.5 ms of the serve process's CPU a message with eight at once, 5 ms one at a time): the threads handed the
interpreter's lock to one another at every statement, and each statement on a thread's own connection read the
passages again, decrypting and authenticating each page, since every reply's write empties the other connections'
page caches. One at a time, a reply's statements find the primary connection free and its cache warm. A thread that
waits for something outside the process (a remote model wording the answer) gives its turn up meanwhile. Turns go
in the order they were asked for: a thread that gives one back cannot take it again before those already waiting.

A reply asked for with `run` while no turn is free waits in line, and the thread that holds a turn computes it when
done with its own, for up to `SERVING_SECONDS`, before it gives the turn to the next in line. Handing each reply to
the thread that asked for it cost more than computing it there: the reply's work moved to a thread that had just
woken, often on the other core, whose caches held none of it (bench.storage, in one process: two threads asking at
once answered 0.80 to 0.84 of the messages one thread answers; computed by the thread already at work, 0.96). The
waiting thread's own context (contextvars: Flask's request and application contexts) goes with its reply, so the
reply sees its own request, never the computing thread's.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import threading
import time
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")
# How long a thread done with its own reply goes on computing those waiting: at most this much later its own answer
# goes out, and a turn passes between threads once a busy stretch rather than once a reply.
SERVING_SECONDS = 0.05


class _Waiting:
    """One thread in line: for a turn (`job` None), or for its reply, computed by whichever thread reaches it."""

    __slots__ = ("job", "context", "ready", "handed", "result", "error")

    def __init__(self, job: Callable[[], object] | None) -> None:
        self.job = job
        self.context = contextvars.copy_context() if job is not None else None
        self.ready = threading.Lock()
        self.ready.acquire()  # released by the thread that computed the reply or handed this one the turn
        self.handed = False  # the turn itself passed to this thread
        self.result: object = None
        self.error: BaseException | None = None

    def compute(self) -> None:
        try:
            self.result = self.context.run(self.job)
        except BaseException as exc:  # raised in the thread that asked, not in the one computing
            self.error = exc

    def outcome(self):
        if self.error is not None:
            raise self.error
        return self.result


class Turns:
    def __init__(self, at_once: int, *, serving_seconds: float = SERVING_SECONDS) -> None:
        if at_once < 1:
            raise ValueError("at least one reply must be computed at a time")
        self._lock = threading.Lock()
        self._free = at_once
        self._serving_seconds = serving_seconds
        self._waiting: collections.deque[_Waiting] = collections.deque()
        self._local = threading.local()  # .depth: how many times this thread has taken the turn it holds

    def run(self, job: Callable[[], T]) -> T:
        """`job()` computed in a turn: by this thread when one is free (or it holds one), otherwise by the thread
        holding one once it reaches this in line, or by this thread if the turn passes to it first."""
        if self.held_here():
            return job()
        waiting = _Waiting(job)
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                waiting.handed = True
            else:
                self._waiting.append(waiting)
        if not waiting.handed:
            waiting.ready.acquire()
            if not waiting.handed:
                return waiting.outcome()  # type: ignore[return-value]
        self._local.depth = 1
        try:
            return job()
        finally:
            self._give_back(serve=True)
            self._local.depth = 0

    @contextlib.contextmanager
    def taken(self) -> Iterator[None]:
        """Hold a turn (wait for one if none is free); a thread that holds one already just goes on."""
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            self._take()
        self._local.depth = depth + 1
        try:
            yield
        finally:
            if depth == 0:
                self._give_back(serve=True)
            self._local.depth = depth

    @contextlib.contextmanager
    def given_up(self) -> Iterator[None]:
        """While this thread waits on something outside the process, its turn (if it holds one) goes to another."""
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            yield
            return
        self._local.depth = 0
        self._give_back(serve=False)
        try:
            yield
        finally:
            self._take()
            self._local.depth = depth

    def _take(self) -> None:
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return
            waiting = _Waiting(None)
            self._waiting.append(waiting)
        waiting.ready.acquire()  # released by the thread whose turn passes to this one

    def _give_back(self, *, serve: bool) -> None:
        """Compute the replies waiting (when `serve`, for up to SERVING_SECONDS), then pass the turn to the next in
        line or free it. The thread keeps its turn meanwhile, so a reply it computes may take one again freely."""
        until = time.monotonic() + self._serving_seconds
        while True:
            with self._lock:
                if not self._waiting:
                    self._free += 1
                    return
                first = self._waiting.popleft()
                if not serve or first.job is None or time.monotonic() >= until:
                    first.handed = True
                    first.ready.release()  # straight to the thread that has waited longest
                    return
            first.compute()
            first.ready.release()

    def held_here(self) -> bool:
        return getattr(self._local, "depth", 0) > 0
