"""One backup, verification or prune at a time per backup directory, across threads and processes (the CLI too)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from appliance.errors import Conflict

NAME = ".lock"

if os.name == "nt":  # pragma: no cover - exercised on Windows builds only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


@contextlib.contextmanager
def attempt(directory: Path) -> Iterator[bool]:
    """Try to take the directory's lock without waiting; yields whether it was taken, and holds it if so."""
    fd = os.open(directory / NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        yield _try_lock(fd)
    finally:
        # Closing the descriptor releases the lock, and so does the end of the process, however it ends.
        os.close(fd)


@contextlib.contextmanager
def holding(directory: Path) -> Iterator[None]:
    """Hold the directory's lock, or raise Conflict at once when someone else holds it."""
    with attempt(directory) as taken:
        if not taken:
            raise Conflict("a backup, verification or prune is already running on this backup directory; "
                           "try again when it has finished")
        yield
