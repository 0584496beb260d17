"""One SQLCipher file per workspace, each under its own random key held in the keystore."""

from __future__ import annotations

import logging
import threading

from appliance.errors import ApplianceExists, DatabaseMissing, StorageError, UnknownKey
from appliance.keys.database_keys import open_database
from appliance.keys.keystore import WORKSPACE_DB_KEY_PREFIX, Keystore, workspace_db_key
from appliance.storage.database import Database
from appliance.storage.layout import Layout, make_private_dir
from appliance.storage.migrations import migrate

log = logging.getLogger("chatspark.workspaces")


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
        # Held throughout: a job that finds the new workspace's row meanwhile waits in open() for a migrated file.
        with self._lock:
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
            self._open[workspace_id] = db
        return db

    def opened(self) -> list[Database]:
        """The workspace databases open now (each once)."""
        with self._lock:
            return list(self._open.values())

    def open(self, workspace_id: str) -> Database:
        with self._lock:
            db = self._open.get(workspace_id)
            if db is None:
                path = self._layout.workspace_db(workspace_id)
                try:
                    db = open_database(self._keystore, workspace_db_key(workspace_id), path)
                except UnknownKey:
                    raise DatabaseMissing(f"workspace {workspace_id} has no key on this appliance") from None
                try:
                    migrate(db, "workspace")
                except BaseException:
                    db.close()
                    raise
                self._open[workspace_id] = db
            return db

    def release(self, workspace_id: str) -> None:
        """Close a workspace's database if it is open here (the next open() opens it again)."""
        with self._lock:
            db = self._open.pop(workspace_id, None)
        if db is not None:
            db.close()

    def with_keys(self) -> list[str]:
        """The ids of the workspaces whose database key the keystore holds."""
        prefix = WORKSPACE_DB_KEY_PREFIX
        return [r.name[len(prefix):] for r in self._keystore.records() if r.name.startswith(prefix)]

    def settle_pending_keys(self) -> list[str]:
        """Open, then release, each workspace a key rotation left with a pending key, settling it; return their ids.

        A workspace that opens under neither key is logged and left: it fails again, by name, when it is used,
        and the other workspaces stay available.
        """
        prefix = WORKSPACE_DB_KEY_PREFIX
        settled = []
        for name in self._keystore.pending_names():
            workspace_id = name[len(prefix):]
            if not name.startswith(prefix) or not self._layout.workspace_db(workspace_id).exists():
                continue
            try:
                self.open(workspace_id)
            except StorageError as exc:
                log.error("a workspace database left by an interrupted key rotation does not open",
                          extra={"workspace_id": workspace_id, "error": str(exc)})
                continue
            self.release(workspace_id)
            settled.append(workspace_id)
        return settled

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
