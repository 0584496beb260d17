"""Databases under the keys the keystore records: opening one (finishing a rekey a crash cut short) and rekeying.

A rekey runs in three steps, each atomic on its own: the new key is stored as the key's pending successor, the file is
rekeyed (one SQLite transaction), the successor is promoted. Whenever a crash stops it, the file is under the current
key (the rekey did not commit: the successor is discarded at the next open) or under the pending one (it did: the
next open promotes it). Only one process may hold a database while it is rekeyed (see appliance.storage.data_lock).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from appliance.errors import DatabaseUnreadable
from appliance.keys.keystore import Keystore
from appliance.storage.database import KEY_BYTES, Database


def open_database(keystore: Keystore, name: str, path: Path, *, verified: bool = False, **options: Any) -> Database:
    """Open `path` under key `name` (integrity-checked first if `verified`), settling an interrupted rekey."""
    pending = keystore.pending(name)
    try:
        db = (Database.open_verified if verified else Database)(path, keystore.get(name), **options)
    except DatabaseUnreadable:
        if pending is None:
            raise
        return _open_under_pending(keystore, name, path, pending, **options)
    if pending is not None:
        # The current key opens the file, so the rekey never committed: its successor was never used.
        keystore.discard_pending(name)
    return db


def rekey_database(keystore: Keystore, name: str, db: Database) -> tuple[int, int]:
    """Move `db` (key `name`, open in this process alone) to a new random key; return the versions before and after."""
    before = keystore.version(name)
    new_key = os.urandom(KEY_BYTES)
    keystore.set_pending(name, new_key)
    db.rekey(new_key)
    return before, keystore.promote_pending(name)


def _open_under_pending(keystore: Keystore, name: str, path: Path, pending: bytes, **options: Any) -> Database:
    try:
        db = Database(path, pending, **options)
    except DatabaseUnreadable:
        raise DatabaseUnreadable(
            f"{path.name} in {path.parent} opens neither under its key {name!r} nor under the key a rotation was "
            "moving it to: it is damaged; restore it from a backup"
        ) from None
    try:
        # The rekey committed; a crash may have come before its checkpoint, and the integrity check reads the
        # main file, which holds old pages until then.
        db.checkpoint()
        db.verify_integrity()
        keystore.promote_pending(name)
    except BaseException:
        db.close()
        raise
    return db
