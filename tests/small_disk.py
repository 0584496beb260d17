"""A real, small, fillable disk for tests of what the appliance does when the disk is full: a tmpfs mounted on a
test's own directory (the tests run as root, as `.ci/run` does), filled with a plain file and freed by deleting it."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def small_disk(path: Path, *, mib: int = 32) -> Iterator[Path]:
    """`path` as the mount point of a `mib` MiB tmpfs for the duration (made if missing, left empty after)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={mib}m,mode=0700", "tmpfs", str(path)],
                             capture_output=True, text=True)
    assert mounted.returncode == 0, f"the disk-full tests mount a tmpfs and need root: {mounted.stderr.strip()}"
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def fill(disk: Path, *, leave: int = 0) -> Path:
    """Fill `disk` with one file until at most `leave` bytes are free; delete the file to free them again."""
    filler = disk / "filler.bin"
    chunk = b"\0" * (1 << 20)
    with filler.open("ab", buffering=0) as handle:
        while True:
            free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
            if free <= leave:
                break
            try:
                handle.write(chunk[: max(1, min(len(chunk), free - leave))])
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    return filler
