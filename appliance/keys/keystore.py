"""The keystore (`keys.db` in the key directory): data keys and secrets, in a SQLCipher file under the master key."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from appliance.clock import Clock, isoformat
from appliance.errors import DatabaseUnreadable, KeyExists, UnknownKey, WrongMasterKey
from appliance.storage.database import KEY_BYTES, Database, IntegrityError
from appliance.storage.migrations import migrate

FILE_NAME = "keys.db"
CONTROL_DB_KEY = "db:control"
# One self-contained file (no -wal beside it) written durably: the keystore is small and rarely written, and a
# key directory that is a single file plus the master key is easy to back up whole.
_FILE_OPTIONS = {"synchronous": "FULL", "journal_mode": "DELETE"}


WORKSPACE_DB_KEY_PREFIX = "db:workspace:"


def workspace_db_key(workspace_id: str) -> str:
    return f"{WORKSPACE_DB_KEY_PREFIX}{workspace_id}"


@dataclass(frozen=True)
class KeyRecord:
    name: str
    purpose: str
    created_at: str
    rotated_at: str | None
    version: int = 1
    pending: bool = False


class Keystore:
    """Named keys and secrets, each created once at random and read back by name."""

    def __init__(self, db: Database, *, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    @classmethod
    def create(cls, key_dir: Path, master_key: bytes, *, appliance_id: str, clock: Clock) -> "Keystore":
        db = Database(key_dir / FILE_NAME, master_key, create=True, **_FILE_OPTIONS)
        migrate(db, "keystore")
        with db.transaction() as conn:
            conn.execute("INSERT INTO meta (name, value) VALUES ('appliance_id', ?)", (appliance_id,))
            conn.execute("INSERT INTO meta (name, value) VALUES ('created_at', ?)", (isoformat(clock.now()),))
        return cls(db, clock=clock)

    @classmethod
    def open(cls, key_dir: Path, master_key: bytes, *, clock: Clock) -> "Keystore":
        path = key_dir / FILE_NAME
        try:
            db = Database.open_verified(path, master_key, **_FILE_OPTIONS)
        except DatabaseUnreadable:
            raise WrongMasterKey(
                f"the master key does not open the keystore {path} (wrong key or passphrase, or a damaged "
                "keystore: restore the key directory from the recovery kit)"
            ) from None
        migrate(db, "keystore")
        return cls(db, clock=clock)

    @property
    def appliance_id(self) -> str:
        row = self._db.query_one("SELECT value FROM meta WHERE name = 'appliance_id'")
        return row["value"]

    def create_key(self, name: str, *, purpose: str) -> bytes:
        """A new random 256-bit key under `name`; fails if the name is taken."""
        material = os.urandom(KEY_BYTES)
        self.put_secret(name, material, purpose=purpose)
        return material

    def put_secret(self, name: str, material: bytes, *, purpose: str) -> None:
        try:
            with self._db.transaction() as conn:
                conn.execute(
                    "INSERT INTO keys (name, material, purpose, created_at) VALUES (?, ?, ?, ?)",
                    (name, material, purpose, isoformat(self._clock.now())),
                )
        except IntegrityError:
            raise KeyExists(f"the keystore already holds a key named {name!r}; keys are never overwritten") from None

    def replace_secret(self, name: str, material: bytes) -> None:
        with self._db.transaction() as conn:
            updated = conn.execute(
                "UPDATE keys SET material = ?, rotated_at = ?, version = version + 1 WHERE name = ?",
                (material, isoformat(self._clock.now()), name),
            ).rowcount
        if not updated:
            raise UnknownKey(f"the keystore holds no key named {name!r}")

    def version(self, name: str) -> int:
        row = self._db.query_one("SELECT version FROM keys WHERE name = ?", (name,))
        if row is None:
            raise UnknownKey(f"the keystore holds no key named {name!r}")
        return int(row["version"])

    def set_pending(self, name: str, material: bytes) -> None:
        """Record `material` as the next key of `name` before the data moves to it (appliance.keys.database_keys)."""
        with self._db.transaction() as conn:
            row = conn.execute("SELECT pending_material FROM keys WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise UnknownKey(f"the keystore holds no key named {name!r}")
            if row["pending_material"] is not None:
                raise KeyExists(f"key {name!r} already has a pending successor; open its database to settle it first")
            conn.execute("UPDATE keys SET pending_material = ?, pending_since = ? WHERE name = ?",
                         (material, isoformat(self._clock.now()), name))

    def pending(self, name: str) -> bytes | None:
        """The pending successor of `name`, if a rekey was started and not yet settled."""
        row = self._db.query_one("SELECT pending_material FROM keys WHERE name = ?", (name,))
        if row is None:
            raise UnknownKey(f"the keystore holds no key named {name!r}")
        return None if row["pending_material"] is None else bytes(row["pending_material"])

    def pending_names(self) -> list[str]:
        return [r["name"] for r in self._db.query("SELECT name FROM keys WHERE pending_material IS NOT NULL "
                                                  "ORDER BY name")]

    def promote_pending(self, name: str) -> int:
        """Make the pending successor the key of `name` (the data is under it now); return the new version."""
        with self._db.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO retired_keys (name, version, material, retired_at) "
                         "SELECT name, version, material, ? FROM keys WHERE name = ? AND pending_material IS NOT NULL",
                         (isoformat(self._clock.now()), name))
            updated = conn.execute(
                "UPDATE keys SET material = pending_material, pending_material = NULL, pending_since = NULL, "
                "version = version + 1, rotated_at = ? WHERE name = ? AND pending_material IS NOT NULL",
                (isoformat(self._clock.now()), name),
            ).rowcount
            if not updated:
                raise UnknownKey(f"the keystore holds no pending successor for key {name!r}")
            version = conn.execute("SELECT version FROM keys WHERE name = ?", (name,)).fetchone()["version"]
        return int(version)

    def discard_pending(self, name: str) -> None:
        """Forget a pending successor the data never moved to (a rekey that did not commit)."""
        with self._db.transaction() as conn:
            conn.execute("UPDATE keys SET pending_material = NULL, pending_since = NULL WHERE name = ?", (name,))

    def get(self, name: str) -> bytes:
        row = self._db.query_one("SELECT material FROM keys WHERE name = ?", (name,))
        if row is None:
            raise UnknownKey(f"the keystore holds no key named {name!r}")
        return bytes(row["material"])

    def retired(self, name: str) -> list[tuple[int, bytes]]:
        """The (version, material) pairs `name` had before its rotations, newest first: old backups need them."""
        rows = self._db.query("SELECT version, material FROM retired_keys WHERE name = ? ORDER BY version DESC",
                              (name,))
        return [(int(r["version"]), bytes(r["material"])) for r in rows]

    def put_retired(self, name: str, version: int, material: bytes) -> None:
        """Keep an earlier material of `name` (a recovery kit's, when restoring)."""
        with self._db.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO retired_keys (name, version, material, retired_at) "
                         "VALUES (?, ?, ?, ?)", (name, version, material, isoformat(self._clock.now())))

    def materials(self, name: str) -> list[bytes]:
        """Every material `name` has had that is still kept: the current one first, then the retired ones."""
        return [self.get(name), *(material for _, material in self.retired(name))]

    def has(self, name: str) -> bool:
        return self._db.query_one("SELECT 1 FROM keys WHERE name = ?", (name,)) is not None

    def destroy(self, name: str) -> None:
        """Remove a key for good, with its retired materials: secure_delete overwrites their pages, the checkpoint
        drops them from the journal."""
        with self._db.transaction() as conn:
            deleted = conn.execute("DELETE FROM keys WHERE name = ?", (name,)).rowcount
            conn.execute("DELETE FROM retired_keys WHERE name = ?", (name,))
        if not deleted:
            raise UnknownKey(f"the keystore holds no key named {name!r}")
        self._db.checkpoint()

    def records(self) -> list[KeyRecord]:
        rows = self._db.query("SELECT name, purpose, created_at, rotated_at, version, "
                              "pending_material IS NOT NULL AS pending FROM keys ORDER BY name")
        return [KeyRecord(r["name"], r["purpose"], r["created_at"], r["rotated_at"], int(r["version"]),
                          bool(r["pending"])) for r in rows]

    def close(self) -> None:
        self._db.close()
