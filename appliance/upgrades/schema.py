"""Where each database's schema stands against the migrations this release ships, read without changing a byte."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from appliance.keys import masterkey
from appliance.keys.keystore import CONTROL_DB_KEY, workspace_db_key
from appliance.storage.database import Database
from appliance.storage.layout import Layout
from appliance.storage.migrations import KINDS, migrations_for


@dataclass(frozen=True)
class DatabaseSchema:
    name: str  # as an operator finds it: keys.db, control.db, workspaces/<id>.db
    kind: str
    path: Path
    version: int
    latest: int  # the newest migration of its kind this release ships
    pending: tuple[str, ...]  # the migrations this release would apply, in order

    @property
    def newer_than_release(self) -> bool:
        return self.version > self.latest

    def public(self) -> dict:
        return {"name": self.name, "kind": self.kind, "version": self.version, "latest": self.latest,
                "pending": list(self.pending), "newer_than_release": self.newer_than_release}


def latest_versions() -> dict[str, int]:
    """The schema version each kind of database reaches with this release's migrations."""
    return {kind: (found[-1].number if (found := migrations_for(kind)) else 0) for kind in KINDS}


def inspect(layout: Layout, *, passphrase: str | None = None,
            latest: dict[str, int] | None = None) -> list[DatabaseSchema]:
    """Every database of the appliance with its schema version: the keystore, the control database, then each
    workspace database that has its key. Reads are immutable, so the files stay byte for byte as they were.

    `latest` compares against another release's migrations (its newest number per kind) instead of this one's."""
    master = masterkey.load(layout.key_dir, passphrase=passphrase)
    own = {kind: migrations_for(kind) for kind in KINDS}
    target = latest if latest is not None else latest_versions()

    def schema(name: str, kind: str, path: Path, key: bytes) -> DatabaseSchema:
        version = _user_version(path, key)
        pending = tuple(m.name for m in own[kind] if version < m.number <= target[kind]) if latest is None else ()
        return DatabaseSchema(name=name, kind=kind, path=path, version=version, latest=target[kind],
                              pending=pending)

    found = [schema("keys.db", "keystore", layout.keystore_db, master)]
    keys = _keys(layout.keystore_db, master)
    found.append(schema("control.db", "control", layout.control_db, keys[CONTROL_DB_KEY]))
    if layout.workspaces_dir.is_dir():
        for path in sorted(layout.workspaces_dir.glob("*.db")):
            key = keys.get(workspace_db_key(path.stem))
            if key is not None:  # a file without its key is a purge's leftover: nothing can open it
                found.append(schema(f"workspaces/{path.name}", "workspace", path, key))
    return found


def _user_version(path: Path, key: bytes) -> int:
    if any(path.with_name(path.name + suffix).exists() for suffix in ("-wal", "-journal")):
        # Left by a process that did not close it: the log may hold the newest schema, so read through it.
        with Database(path, key) as db:
            return db.user_version()
    return int(Database.read_only_query(path, key, "PRAGMA user_version")[0][0])


def _keys(keystore_db: Path, master: bytes) -> dict[str, bytes]:
    rows = Database.read_only_query(keystore_db, master, "SELECT name, material FROM keys")
    return {row["name"]: bytes(row["material"]) for row in rows}
