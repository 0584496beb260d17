"""The data directory's advisory lock: every process with the appliance open holds it shared, key rotation alone."""

from __future__ import annotations

import os
from pathlib import Path

from appliance.errors import DataDirectoryBusy

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock; the server and key rotation run on Linux
    fcntl = None


class DataLock:
    """An flock on `chatspark.lock` in the data directory, released by close() or by the process's end, however."""

    def __init__(self, fd: int, *, exclusive: bool) -> None:
        self._fd: int | None = fd
        self.exclusive = exclusive

    @classmethod
    def acquire(cls, path: Path, *, exclusive: bool) -> "DataLock":
        """Take the lock at once or raise DataDirectoryBusy; never waits."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        if fcntl is None:  # pragma: no cover
            return cls(fd, exclusive=exclusive)
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if exclusive:
                raise DataDirectoryBusy(
                    f"{path.parent} is in use (`chatspark serve` or another chatspark command has it open); key "
                    "rotation needs the appliance to itself: stop the service and try again"
                ) from None
            raise DataDirectoryBusy(
                f"a key rotation is running on {path.parent}; wait for it to finish and try again"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        return cls(fd, exclusive=exclusive)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
