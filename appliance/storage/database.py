"""The one module that imports sqlcipher3: opening encrypted databases, fail-closed, and writing to them."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any, Iterator, Sequence
from urllib.parse import quote

import sqlcipher3

from appliance.errors import (
    DatabaseCorrupt,
    DatabaseMissing,
    DatabaseUnreadable,
    DiskFull,
    StorageError,
    StorageUnwritable,
)

KEY_BYTES = 32

Row = sqlcipher3.Row
IntegrityError = sqlcipher3.IntegrityError


class Database:
    """One SQLCipher file under one raw 256-bit key, with a connection per thread.

    Reads go through `query`/`query_one` on the calling thread's connection; writes go through
    `transaction()`, which takes the write lock up front (BEGIN IMMEDIATE) so writers queue instead of failing
    half-way.
    """

    def __init__(
        self,
        path: Path,
        key: bytes,
        *,
        create: bool = False,
        busy_timeout_ms: int = 5000,
        synchronous: str = "NORMAL",
        journal_mode: str = "WAL",
    ) -> None:
        if len(key) != KEY_BYTES:
            raise StorageError(f"a database key must be {KEY_BYTES} bytes, got {len(key)}")
        self.path = Path(path)
        self._key = bytes(key)
        self._busy_timeout_ms = busy_timeout_ms
        self._synchronous = synchronous
        self._journal_mode = journal_mode
        self._local = threading.local()
        self._all: list[sqlcipher3.Connection] = []
        self._lock = threading.Lock()
        # This process's writers queue here and are woken the moment the one before commits, rather than polling
        # SQLite's lock with sleeps that grow to 100 ms: a purge's batches then cannot starve a chat reply.
        self._write_gate = threading.RLock()
        self._closed = False
        # Set when a write found the disk full or failing, cleared by the next write that reaches it: what
        # readiness reports, so a load balancer stops sending work the appliance cannot keep.
        self.unwritable: StorageUnwritable | None = None
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                # An empty file is a new database to SQLite; making it here gives 0600 and refuses to overwrite.
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                raise StorageError(f"{self.path} already exists; refusing to overwrite it") from None
        elif not self.path.is_file():
            raise DatabaseMissing(f"database {self.path} does not exist")
        self._local.conn = self._connect(create=create)
        self._all.append(self._local.conn)

    @classmethod
    def check_file(cls, path: Path, key: bytes) -> None:
        """Verify key and integrity of an existing file without writing or creating anything, even a -wal.

        The file is opened read-only and immutable, so a wrong key or a damaged file is reported while the
        directory stays exactly as it was.
        """
        path = Path(path)
        if not path.is_file():
            raise DatabaseMissing(f"database {path} does not exist")
        conn = _open_keyed(path, key, f"file:{quote(str(path))}?mode=ro&immutable=1", timeout=0, allow_empty=False)
        try:
            _integrity(conn, path)
        finally:
            conn.close()

    @classmethod
    def read_only_query(cls, path: Path, key: bytes, sql: str, parameters: tuple = ()) -> list[sqlcipher3.Row]:
        """Rows of one query on an existing file opened read-only and immutable: nothing in the directory changes,
        not even a -wal (what an upgrade asks of databases it must leave byte for byte as they are)."""
        path = Path(path)
        if not path.is_file():
            raise DatabaseMissing(f"database {path} does not exist")
        conn = _open_keyed(path, key, f"file:{quote(str(path))}?mode=ro&immutable=1", timeout=0, allow_empty=False)
        try:
            conn.row_factory = sqlcipher3.Row
            return conn.execute(sql, parameters).fetchall()
        finally:
            conn.close()

    @classmethod
    def open_verified(cls, path: Path, key: bytes, **options: Any) -> "Database":
        """Open an existing database after checking its key and the integrity of every page.

        After a clean shutdown (no -wal or -journal beside the file) the check reads the file immutably before
        anything else, so a refusal leaves the directory untouched. While another process has the database open
        (or after a crash), the check runs on a normal connection instead, which honours that process's locks and
        recovers the log: an immutable read could then see a half-written checkpoint.
        """
        path = Path(path)
        if not any(path.with_name(path.name + suffix).exists() for suffix in ("-wal", "-journal")):
            cls.check_file(path, key)
            return cls(path, key, **options)
        db = cls(path, key, **options)
        try:
            db.verify_integrity()
        except BaseException:
            db.close()
            raise
        return db

    def _connect(self, *, create: bool) -> sqlcipher3.Connection:
        conn = _open_keyed(self.path, self._key, f"file:{quote(str(self.path))}?mode=rw",
                           timeout=self._busy_timeout_ms / 1000, allow_empty=create)
        conn.row_factory = sqlcipher3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA secure_delete = ON")
        if create:
            conn.execute(f"PRAGMA journal_mode = {self._journal_mode}")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        return conn

    @property
    def connection(self) -> sqlcipher3.Connection:
        """This thread's connection, opened on first use."""
        if self._closed:
            raise StorageError(f"database {self.path.name} is closed")
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect(create=False)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlcipher3.Row]:
        try:
            return self.connection.execute(sql, params).fetchall()
        except sqlcipher3.OperationalError as exc:
            self._raise_if_unwritable(exc)
            raise

    def query_one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlcipher3.Row | None:
        try:
            return self.connection.execute(sql, params).fetchone()
        except sqlcipher3.OperationalError as exc:
            self._raise_if_unwritable(exc)
            raise

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlcipher3.Connection]:
        """A write transaction: BEGIN IMMEDIATE, COMMIT on success, ROLLBACK on any exception."""
        conn = self.connection
        # Waiting here counts against the same busy timeout SQLite would have applied to the lock itself.
        if not self._write_gate.acquire(timeout=self._busy_timeout_ms / 1000):
            raise StorageError(f"{self.path.name} stayed busy with another write for {self._busy_timeout_ms} ms; "
                               "try again")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                # A failed COMMIT (a deferred constraint, a full disk) leaves the transaction open: end it here.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlcipher3.OperationalError):
                    self._raise_if_unwritable(exc)
                raise
            self.unwritable = None
        except sqlcipher3.OperationalError as exc:  # BEGIN itself (a WAL that cannot grow)
            self._raise_if_unwritable(exc)
            raise
        finally:
            self._write_gate.release()

    def probe_write(self) -> None:
        """Write one row to `meta` and commit it: clears `unwritable` once the disk takes writes again."""
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('write_probe', datetime('now'))")

    def _raise_if_unwritable(self, exc: Exception) -> None:
        """Raise the appliance's error for SQLite's 'full' and 'disk I/O' failures (and remember it)."""
        text = str(exc)
        if "database or disk is full" in text:
            error: StorageUnwritable = DiskFull(
                f"the disk holding {self.path.name} is full: nothing was saved. An operator must free space on "
                f"{self.path.parent} (see `chatspark status`); then try again")
        elif "disk I/O error" in text:
            error = StorageUnwritable(
                f"{self.path.name} could not be written (disk I/O error): nothing was saved. The disk may be full "
                "or failing; an operator must check it (see `chatspark status`)")
        else:
            return
        self.unwritable = error
        raise error from None

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction on this thread's connection, so every query inside sees the same moment (inside
        another transaction, that one's)."""
        conn = self.connection
        if conn.in_transaction:
            yield
            return
        conn.execute("BEGIN")
        try:
            yield
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def execute_script_in_transaction(self, script: str) -> None:
        """Run a multi-statement script atomically (used by migrations)."""
        conn = self.connection
        try:
            conn.executescript("BEGIN IMMEDIATE;\n" + script + "\nCOMMIT;")
        except sqlcipher3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def user_version(self) -> int:
        return int(self.connection.execute("PRAGMA user_version").fetchone()[0])

    def verify_integrity(self) -> None:
        """Check every page's HMAC and the b-tree structure; raise DatabaseCorrupt naming the first problem."""
        _integrity(self.connection, self.path)

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the main file and truncate it, so deleted pages leave the WAL."""
        self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()

    def rekey(self, new_key: bytes) -> None:
        """Re-encrypt every page under `new_key` in one transaction, then fold it into the file.

        In WAL mode the rewritten pages go to the log and commit together, so a crash leaves the file wholly under
        the old key (commit not reached) or wholly under the new one. Until the checkpoint after it, the main file
        still holds old pages: cipher_integrity_check reads the main file, so it fails there under the new key, and a
        database found in that state must be checkpointed before it is verified. Needs the file to itself: this
        thread's connection must be the only one, in any process (another would keep writing under the old key).
        """
        if len(new_key) != KEY_BYTES:
            raise StorageError(f"a database key must be {KEY_BYTES} bytes, got {len(new_key)}")
        conn = self.connection
        with self._lock:
            if len(self._all) != 1:
                raise StorageError(f"{self.path.name} has {len(self._all)} connections open in this process; "
                                   "rekeying needs exactly one")
        with self._write_gate:
            conn.execute("PRAGMA synchronous = FULL")
            try:
                self._checkpoint_alone()
                try:
                    result = [tuple(row) for row in conn.execute(f"PRAGMA rekey = \"x'{new_key.hex()}'\"")]
                except sqlcipher3.Error as exc:
                    raise StorageError(f"rekeying {self.path.name} failed ({exc}); it is still under its old "
                                       "key") from None
                if result != [("ok",)]:
                    raise StorageError(f"rekeying {self.path.name} failed ({result}); it is still under its old key")
                self._key = bytes(new_key)
                self._checkpoint_alone()
                self.verify_integrity()
            finally:
                conn.execute(f"PRAGMA synchronous = {self._synchronous}")

    def _checkpoint_alone(self) -> None:
        busy = self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if busy:
            raise StorageError(f"another connection is using {self.path}; stop every chatspark process using this "
                               "data directory and try again")

    def close(self) -> None:
        """Close every thread's connection. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for conn in self._all:
                conn.close()
            self._all.clear()

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_keyed(path: Path, key: bytes, uri: str, *, timeout: float, allow_empty: bool) -> sqlcipher3.Connection:
    # SQLite takes an empty file for a new database under any key; an existing database is never empty.
    if not allow_empty and path.stat().st_size == 0:
        raise DatabaseUnreadable(f"{path.name} in {path.parent} is empty, not a database; restore it from a backup")
    try:
        conn = sqlcipher3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=timeout)
    except sqlcipher3.Error as exc:
        raise DatabaseUnreadable(f"cannot open {path}: {exc}") from None
    try:
        # SQLCipher reports failed HMACs on stderr itself; the error raised here says it once, clearly.
        conn.execute("PRAGMA cipher_log_level = NONE")
        # Key first, then compatibility, then read at once: SQLCipher accepts any key until the first read.
        conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
        conn.execute("PRAGMA cipher_compatibility = 4")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlcipher3.DatabaseError as exc:
        conn.close()
        raise DatabaseUnreadable(
            f"cannot read {path.name} in {path.parent}: its key does not match or the file is damaged ({exc}); "
            "restore it from a backup"
        ) from None
    return conn


def _integrity(conn: sqlcipher3.Connection, path: Path) -> None:
    try:
        problems = [row[0] for row in conn.execute("PRAGMA cipher_integrity_check").fetchall()]
        if not problems:
            problems = [row[0] for row in conn.execute("PRAGMA quick_check").fetchall() if row[0] != "ok"]
    except sqlcipher3.DatabaseError as exc:
        problems = [str(exc)]
    if problems:
        raise DatabaseCorrupt(f"{path.name} in {path.parent} is damaged ({problems[0]}); restore it from a backup")
