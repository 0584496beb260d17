"""One SQLCipher file per workspace, each under its own random key held in the keystore."""

from __future__ import annotations

import threading

from appliance.errors import ApplianceExists, DatabaseMissing, UnknownKey
from appliance.keys.keystore import Keystore, workspace_db_key
from appliance.layout import Layout, make_private_dir
from appliance.storage.database import Database
from appliance.storage.migrations import migrate


class WorkspaceDatabases:
    """Creates, opens (once, then shares) and shreds workspace databases."""

    def __init__(self, layout: Layout, keystore: Keystore) -> None:
        self._layout = layout
        self._keystore = keystore
        self._open: dict[str, Database] = {}
        self._lock = threading.Lock()

    def create(self, workspace_id: str) -> Database:
        path = self._layout.workspace_db(workspace_id)
        name = workspace_db_key(workspace_id)
        if self._keystore.has(name) or path.exists():
            raise ApplianceExists(f"workspace {workspace_id} already has a database; refusing to overwrite it")
        make_private_dir(self._layout.workspaces_dir)
        key = self._keystore.create_key(name, purpose="workspace database")
        try:
            db = Database(path, key, create=True)
            migrate(db, "workspace")
        except BaseException:
            # Leave neither a key without a file nor a half-made file behind.
            self._keystore.destroy(name)
            for suffix in ("", "-wal", "-shm"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)
            raise
        with self._lock:
            self._open[workspace_id] = db
        return db

    def open(self, workspace_id: str) -> Database:
        with self._lock:
            db = self._open.get(workspace_id)
            if db is None:
                path = self._layout.workspace_db(workspace_id)
                try:
                    key = self._keystore.get(workspace_db_key(workspace_id))
                except UnknownKey:
                    raise DatabaseMissing(f"workspace {workspace_id} has no key on this appliance") from None
                db = Database(path, key)
                migrate(db, "workspace")
                self._open[workspace_id] = db
            return db

    def shred(self, workspace_id: str) -> None:
        """Destroy the key first, so every copy of the file (backups included) is unreadable, then the file."""
        path = self._layout.workspace_db(workspace_id)
        with self._lock:
            db = self._open.pop(workspace_id, None)
        if db is not None:
            db.close()
        self._keystore.destroy(workspace_db_key(workspace_id))
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            for db in self._open.values():
                db.close()
            self._open.clear()
