"""Turns at computing replies: at most a few threads of the process answer chat at once, the others wait for a turn.

Why: a reply is CPU work, in Python (under the interpreter's one lock) and in SQLCipher, and the application server's
eight threads computing replies at once made each reply cost almost twice the CPU of one at a time (bench.widget:
about 8.5 ms of the serve process's CPU a message with eight at once, 5 ms one at a time): the threads handed the
interpreter's lock to one another at every statement, and each statement on a thread's own connection read the
passages again, decrypting and authenticating each page, since every reply's write empties the other connections'
page caches. One at a time, a reply's statements find the primary connection free and its cache warm. A thread that
waits for something outside the process (a remote model wording the answer) gives its turn up meanwhile. Turns go
in the order they were asked for: a thread that gives one back cannot take it again before those already waiting.

Where the process may use more CPUs than replies are computed at once (Linux), a thread keeps to the turns' own
cores (`reply_cores`) while it waits for a turn and while it holds one, and goes back to its own CPUs after. Each
reply then runs on the core the one before it ran on, its pages and the interpreter's objects still in that core's
caches; handed from core to core, a reply cost about a fifth more CPU (bench.storage, two threads against one). A
thread started during a turn starts on the turns' cores too: a reply starts none.
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
from typing import Iterator


class Turns:
    def __init__(self, at_once: int, *, cores: frozenset[int] | None = None) -> None:
        if at_once < 1:
            raise ValueError("at least one reply must be computed at a time")
        self._cores = cores  # the CPUs a thread keeps to while it holds a turn or waits for one (None: any)
        self._lock = threading.Lock()
        self._free = at_once
        self._waiting: collections.deque[threading.Lock] = collections.deque()  # one held lock per waiting thread
        self._local = threading.local()  # .depth: how many times this thread has taken the turn it holds

    @classmethod
    def for_process(cls, at_once: int, *, keep_to_cores: bool) -> "Turns":
        """The process's turns as the settings ask (`replies_at_once`, `replies_keep_to_cores`)."""
        return cls(at_once, cores=reply_cores(at_once) if keep_to_cores else None)

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
            self._local.depth = depth
            if depth == 0:
                self._give_back()

    @contextlib.contextmanager
    def given_up(self) -> Iterator[None]:
        """While this thread waits on something outside the process, its turn (if it holds one) goes to another."""
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            yield
            return
        self._local.depth = 0
        self._give_back()
        try:
            yield
        finally:
            self._take()
            self._local.depth = depth

    def _take(self) -> None:
        self._keep_to_cores()
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return
            waiter = threading.Lock()
            waiter.acquire()
            self._waiting.append(waiter)
        waiter.acquire()  # released by the thread whose turn passes to this one

    def _give_back(self) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().release()  # straight to the thread that has waited longest
            else:
                self._free += 1
        self._leave_cores()

    def _keep_to_cores(self) -> None:
        self._local.own_cores = None
        if self._cores is None:
            return
        try:
            own = os.sched_getaffinity(0)
            if own != self._cores:
                os.sched_setaffinity(0, self._cores)
                self._local.own_cores = own
        except OSError:  # the process lost those CPUs since (its cpuset changed): the reply runs where it may
            pass

    def _leave_cores(self) -> None:
        own = getattr(self._local, "own_cores", None)
        if own is not None:
            self._local.own_cores = None
            try:
                os.sched_setaffinity(0, own)
            except OSError:  # its CPUs are gone since: the turns' cores are still the process's
                pass

    def held_here(self) -> bool:
        return getattr(self._local, "depth", 0) > 0


def reply_cores(at_once: int) -> frozenset[int] | None:
    """The CPUs replies are computed on: the last `at_once` this process may run on, when it may run on more."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    return frozenset(allowed[-at_once:]) if len(allowed) > at_once else None
