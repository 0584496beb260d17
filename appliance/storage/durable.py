"""Making a rename survive a power cut: the directory that holds it is flushed too."""

from __future__ import annotations

import os
from pathlib import Path


def sync_directory(directory: Path) -> None:
    """Make a rename in `directory` durable (POSIX; Windows cannot open a directory, and commits renames itself)."""
    if os.name != "posix":
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
