"""A byte-for-byte copy of every database (and the certificates beside them), taken with the appliance stopped
before an upgrade migrates anything, and put back exactly if the upgrade fails.

The encrypted backup made before an upgrade is the copy that survives a lost disk; this one is what a rollback
restores, because its files are the very bytes the previous release left: the backup re-encrypts each page as it
copies (new IVs), so a restore from it holds the same rows but not the same bytes. Each half stays in its own
directory (key material under the key directory, data under the data directory), as the originals do.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from appliance.backups.snapshot import file_sha256
from appliance.errors import StorageError
from appliance.storage.durable import sync_directory
from appliance.storage.layout import Layout, make_private_dir

FOLDER = "upgrade-snapshot"
MANIFEST = "manifest.json"
# Beside a database, what belongs to its state: the write-ahead log a killed process left (the -shm index is rebuilt).
_COMPANIONS = ("-wal", "-journal")


@dataclass(frozen=True)
class SnapshotFile:
    root: str  # "data" or "keys": which directory the path is relative to
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Snapshot:
    taken_at: str
    release: str  # the release whose files these are
    files: tuple[SnapshotFile, ...]


def _roots(layout: Layout) -> dict[str, Path]:
    return {"data": layout.data_dir, "keys": layout.key_dir}


def folders(layout: Layout) -> dict[str, Path]:
    return {name: root / FOLDER for name, root in _roots(layout).items()}


def state_files(layout: Layout) -> list[tuple[str, Path]]:
    """What a rollback must put back: every database with its log, the certificates, the appliance's identity."""
    found: list[tuple[str, Path]] = []

    def add(root: str, path: Path) -> None:
        for candidate in (path, *(path.with_name(path.name + s) for s in _COMPANIONS)):
            if candidate.is_file():
                found.append((root, candidate))

    add("keys", layout.keystore_db)
    add("data", layout.identity_file)
    add("data", layout.control_db)
    if layout.workspaces_dir.is_dir():
        for path in sorted(layout.workspaces_dir.glob("*.db")):
            add("data", path)
    if layout.tls_dir.is_dir():
        for path in sorted(layout.tls_dir.iterdir()):
            if path.is_file():
                add("data", path)
    return found


def take(layout: Layout, *, taken_at: str, release: str) -> Snapshot:
    """Copy the state files into the snapshot folders (replacing an older snapshot) and record their hashes. The
    caller holds the data directory alone: nothing may write while the copy is made."""
    discard(layout)
    roots, targets = _roots(layout), folders(layout)
    files = []
    for root, source in state_files(layout):
        relative = source.relative_to(roots[root])
        target = targets[root] / relative
        make_private_dir(target.parent)
        _copy(source, target)
        digest = file_sha256(target)
        if digest != file_sha256(source):
            raise StorageError(f"the copy of {source} differs from it; the upgrade was stopped before any change")
        files.append(SnapshotFile(root=root, path=str(relative), size=target.stat().st_size, sha256=digest))
    snapshot = Snapshot(taken_at=taken_at, release=release, files=tuple(files))
    manifest = targets["data"] / MANIFEST
    make_private_dir(manifest.parent)
    _write_durably(manifest, json.dumps({"taken_at": snapshot.taken_at, "release": snapshot.release,
                                         "files": [asdict(f) for f in files]}, indent=2).encode())
    return snapshot


def load(layout: Layout) -> Snapshot | None:
    """The snapshot a failed upgrade can go back to, or None when there is none."""
    try:
        data = json.loads((folders(layout)["data"] / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StorageError(f"the upgrade snapshot's manifest is unreadable ({exc}); restore from the pre-upgrade "
                           "backup instead") from None
    return Snapshot(taken_at=data["taken_at"], release=data["release"],
                    files=tuple(SnapshotFile(**f) for f in data["files"]))


def restore(layout: Layout, snapshot: Snapshot) -> list[str]:
    """Put every file of `snapshot` back and remove state files it did not hold (a log written since, a database a
    migration created), then check each restored file's hash; returns what was restored. The caller holds the data
    directory alone."""
    roots, sources = _roots(layout), folders(layout)
    for entry in snapshot.files:
        copy = sources[entry.root] / entry.path
        if not copy.is_file() or file_sha256(copy) != entry.sha256:
            raise StorageError(f"the upgrade snapshot's copy of {entry.path} is missing or altered; nothing was "
                               "restored: restore from the pre-upgrade backup instead (chatspark backup restore)")
    kept = {(entry.root, entry.path) for entry in snapshot.files}
    for root, path in state_files(layout):
        if (root, str(path.relative_to(roots[root]))) not in kept:
            path.unlink()
    for path in _shared_memory_files(layout):
        path.unlink(missing_ok=True)
    for entry in snapshot.files:
        target = roots[entry.root] / entry.path
        make_private_dir(target.parent)
        _copy(sources[entry.root] / entry.path, target)
    different = [e.path for e in snapshot.files if file_sha256(roots[e.root] / e.path) != e.sha256]
    if different:
        raise StorageError(f"after the restore, {', '.join(different)} still differ from the snapshot")
    return [entry.path for entry in snapshot.files]


def discard(layout: Layout) -> None:
    for folder in folders(layout).values():
        shutil.rmtree(folder, ignore_errors=True)


def _shared_memory_files(layout: Layout) -> list[Path]:
    candidates = [layout.control_db, layout.keystore_db]
    if layout.workspaces_dir.is_dir():
        candidates += sorted(layout.workspaces_dir.glob("*.db"))
    return [path.with_name(path.name + "-shm") for path in candidates]


def _copy(source: Path, target: Path) -> None:
    """Copy into a temporary name, flush it to disk, then rename over the target: a crash leaves the old file or
    the new one, never half of either."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with source.open("rb") as reading, open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                                             "wb") as writing:
        shutil.copyfileobj(reading, writing, 1 << 20)
        writing.flush()
        os.fsync(writing.fileno())
    os.chmod(temporary, source.stat().st_mode & 0o777)
    os.replace(temporary, target)
    sync_directory(target.parent)


def _write_durably(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    sync_directory(path.parent)
