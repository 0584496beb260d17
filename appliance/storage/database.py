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
from appliance.storage.shared_connection import SharedConnection

KEY_BYTES = 32
# Pages each connection keeps decrypted (SQLite's default is about 2 MB): a workspace's passages and their full-text
# index for the primary; a thread's own connection rarely reads enough to fill it.
CACHE_KIB = 64 * 1024

Row = sqlcipher3.Row
IntegrityError = sqlcipher3.IntegrityError


class Database:
    """One SQLCipher file under one raw 256-bit key.

    Every write transaction (`transaction()`, BEGIN IMMEDIATE, so writers queue instead of failing half-way) runs on
    one *primary* connection, and so does each statement (`query`, `query_one`) that finds it free; threads take it
    one statement or one transaction at a time. Each thread also has a connection of its own: for a statement while
    the primary is busy (so reads never queue behind a write, and two threads read at once), for reads that must see
    one moment across statements (`snapshot()`), and for what callers run on `connection` themselves.

    Why one shared connection: in WAL mode a commit by one connection empties every other connection's page cache at
    its next read, and SQLCipher decrypts and authenticates again each page read after that. With a connection per
    thread and a write per chat message, each reply read the passages it ranks cold, and 8 threads answered fewer
    messages a second than one. Every write of this process goes through the primary, whose cache therefore stays
    warm (it empties only when another process writes, such as a CLI command).
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
        self._local = threading.local()  # .conn: the thread's own connection
        self._all: list[sqlcipher3.Connection] = []
        self._lock = threading.Lock()
        # This process's writers queue here and are woken the moment the one before commits, rather than polling
        # SQLite's lock with sleeps that grow to 100 ms: a purge's batches then cannot starve a chat reply.
        self._write_gate = threading.RLock()
        self._closed = False
        self._created = create
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
        self._primary = SharedConnection(self._connect(create=create))
        self._all.append(self._primary.connection)

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

    def _connect(self, *, create: bool, allow_empty: bool = False) -> sqlcipher3.Connection:
        conn = _open_keyed(self.path, self._key, f"file:{quote(str(self.path))}?mode=rw",
                           timeout=self._busy_timeout_ms / 1000, allow_empty=create or allow_empty)
        conn.row_factory = sqlcipher3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA secure_delete = ON")
        if create:
            conn.execute(f"PRAGMA journal_mode = {self._journal_mode}")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        return conn

    @property
    def connection(self) -> sqlcipher3.Connection:
        """The connection this thread's own statements belong on: the primary inside this thread's write transaction
        (so they see its writes), otherwise the thread's own, opened on first use."""
        if self._closed:
            raise StorageError(f"database {self.path.name} is closed")
        return self._primary.connection if self._primary.held_here() else self._own()

    def _own(self) -> sqlcipher3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            with self._lock:
                if self._closed:
                    raise StorageError(f"database {self.path.name} is closed")
                # A database this object created stays an empty file until its first write.
                conn = self._connect(create=False, allow_empty=self._created)
                self._all.append(conn)
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def _statement_connection(self) -> Iterator[sqlcipher3.Connection]:
        if self._closed:
            raise StorageError(f"database {self.path.name} is closed")
        own = getattr(self._local, "conn", None)
        if own is not None and own.in_transaction:  # snapshot(), or a transaction begun on `connection`
            yield own
            return
        with self._primary.held(0) as held:
            yield self._primary.connection if held else self._own()

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlcipher3.Row]:
        try:
            with self._statement_connection() as conn:
                return conn.execute(sql, params).fetchall()
        except sqlcipher3.OperationalError as exc:
            self._raise_if_unwritable(exc)
            raise

    def query_one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlcipher3.Row | None:
        try:
            with self._statement_connection() as conn:
                cursor = conn.execute(sql, params)
                try:
                    return cursor.fetchone()
                finally:
                    cursor.close()  # the statement ends here, not when the cursor is collected
        except sqlcipher3.OperationalError as exc:
            self._raise_if_unwritable(exc)
            raise

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlcipher3.Connection]:
        """A write transaction on the primary connection: BEGIN IMMEDIATE, COMMIT on success, ROLLBACK on any
        exception."""
        with self._writing() as conn:
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

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlcipher3.Connection]:
        """This process's turn to write, on the primary connection: the write gate, then the connection itself."""
        if self._closed:
            raise StorageError(f"database {self.path.name} is closed")
        # Waiting here counts against the same busy timeout SQLite would have applied to the lock itself.
        timeout = self._busy_timeout_ms / 1000
        if not self._write_gate.acquire(timeout=timeout):
            raise StorageError(f"{self.path.name} stayed busy with another write for {self._busy_timeout_ms} ms; "
                               "try again")
        try:
            with self._primary.held(timeout) as held:
                if not held:
                    raise StorageError(f"{self.path.name} stayed busy for {self._busy_timeout_ms} ms; try again")
                yield self._primary.connection
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
        """One read transaction on this thread's own connection, so every query inside sees the same moment (inside
        this thread's write transaction, that one's)."""
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
        with self._writing() as conn:
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
        database found in that state must be checkpointed before it is verified. Needs the file to itself: the primary
        connection must be the only one, in any process (another would keep writing under the old key); the calling
        thread's own connection, if idle, is closed first.
        """
        if len(new_key) != KEY_BYTES:
            raise StorageError(f"a database key must be {KEY_BYTES} bytes, got {len(new_key)}")
        with self._lock:
            own = getattr(self._local, "conn", None)
            if own is not None and not own.in_transaction:
                # This thread's own connection is idle, so it may be closed; another thread's may not.
                own.close()
                self._all.remove(own)
                self._local.conn = None
            if len(self._all) != 1:
                raise StorageError(f"{self.path.name} has {len(self._all)} connections open in this process; "
                                   "rekeying needs exactly one")
        with self._writing() as conn:
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
