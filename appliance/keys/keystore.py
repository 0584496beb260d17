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


def workspace_db_key(workspace_id: str) -> str:
    return f"db:workspace:{workspace_id}"


@dataclass(frozen=True)
class KeyRecord:
    name: str
    purpose: str
    created_at: str
    rotated_at: str | None


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
                "UPDATE keys SET material = ?, rotated_at = ? WHERE name = ?",
                (material, isoformat(self._clock.now()), name),
            ).rowcount
        if not updated:
            raise UnknownKey(f"the keystore holds no key named {name!r}")

    def get(self, name: str) -> bytes:
        row = self._db.query_one("SELECT material FROM keys WHERE name = ?", (name,))
        if row is None:
            raise UnknownKey(f"the keystore holds no key named {name!r}")
        return bytes(row["material"])

    def has(self, name: str) -> bool:
        return self._db.query_one("SELECT 1 FROM keys WHERE name = ?", (name,)) is not None

    def destroy(self, name: str) -> None:
        """Remove a key for good: secure_delete overwrites its page, the checkpoint drops it from the WAL."""
        with self._db.transaction() as conn:
            deleted = conn.execute("DELETE FROM keys WHERE name = ?", (name,)).rowcount
        if not deleted:
            raise UnknownKey(f"the keystore holds no key named {name!r}")
        self._db.checkpoint()

    def records(self) -> list[KeyRecord]:
        rows = self._db.query("SELECT name, purpose, created_at, rotated_at FROM keys ORDER BY name")
        return [KeyRecord(r["name"], r["purpose"], r["created_at"], r["rotated_at"]) for r in rows]

    def close(self) -> None:
        self._db.close()
