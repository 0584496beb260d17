"""The serving process's runtime directory: a private 0700 directory in the system's temporary directory (short
enough for the app server's unix socket path), named for the process that owns it, so that one left by a process
that was killed is recognised and removed by the next start."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from appliance.jobs.runs import process_alive

PREFIX = "chatspark-"
_NAME = re.compile(rf"^{PREFIX}(\d+)-[A-Za-z0-9_]+$")


def make() -> Path:
    """A new runtime directory for this process, after removing those whose process is gone."""
    remove_stale()
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))


def remove_stale(parent: Path | None = None) -> list[Path]:
    """Remove the runtime directories, owned by this user, of processes that no longer run; returns them."""
    parent = Path(parent or tempfile.gettempdir())
    removed = []
    for path in parent.glob(f"{PREFIX}*"):
        match = _NAME.match(path.name)
        try:
            owned = path.is_dir() and not path.is_symlink() and path.stat().st_uid == os.getuid()
        except OSError:
            continue
        if match and owned and not process_alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
