"""Consistent copies of live databases, still encrypted under their own keys, taken while the server writes."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

from appliance.backups.keys import key_check
from appliance.backups.manifest import ManifestFile
from appliance.errors import StorageError
from appliance.storage.database import Database

PLAINTEXT_HEADER = b"SQLite format 3\x00"
_HASH_BLOCK = 1 << 20


def copy_database(source: Database, key: bytes, target: Path, *, kind: str, name: str, key_name: str,
                  tables: tuple[str, ...], workspace_id: str | None = None,
                  inspect: Callable[[Database], None] | None = None) -> ManifestFile:
    """Copy `source` to the new file `target` with SQLite's online backup API, under the same key.

    The copy is made in one step, so it is one consistent moment of the database however much the server writes
    meanwhile (in WAL mode the writers do not wait for it). Its pages are encrypted by the target connection as they
    are written; the check afterwards proves the file is not plain SQLite and opens under `key`. `inspect` may read
    the copy before it is closed and hashed.
    """
    with Database(target, key, create=True) as copy:
        source.connection.backup(copy.connection)
        copy.checkpoint()
        counts = row_counts(copy, tables)
        schema_version = copy.user_version()
        if inspect is not None:
            inspect(copy)
    for suffix in ("-wal", "-shm"):
        target.with_name(target.name + suffix).unlink(missing_ok=True)
    with target.open("rb") as handle:
        if handle.read(len(PLAINTEXT_HEADER)) == PLAINTEXT_HEADER:
            raise StorageError(f"the copy of {name} is not encrypted; the backup was stopped")
    Database.check_file(target, key)
    return ManifestFile(name=name, kind=kind, size=target.stat().st_size, sha256=file_sha256(target),
                        workspace_id=workspace_id, key_name=key_name, key_check=key_check(key),
                        schema_version=schema_version, counts=counts)


def row_counts(db: Database, tables: tuple[str, ...]) -> dict[str, int]:
    """Rows in each of `tables` that the database has (a table added by a later release may be missing)."""
    present = {row[0] for row in db.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    # The names come from the constant lists in manifest.py, never from input, so they may be spliced in.
    return {table: int(db.query_one(f'SELECT count(*) FROM "{table}"')[0]) for table in tables if table in present}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()
