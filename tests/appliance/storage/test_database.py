"""Encrypted databases: fail-closed opening, pragmas, transactions, threads, integrity, and nothing readable on disk."""

from __future__ import annotations

import os
import stat
import threading
import uuid

import pytest

from appliance.errors import DatabaseCorrupt, DatabaseMissing, DatabaseUnreadable, StorageError
from appliance.keys.keystore import CONTROL_DB_KEY, workspace_db_key
from appliance.storage.database import Database, IntegrityError
from tests.appliance.on_disk import PAGE_SIZE, decrypted_pages, files_containing, plaintext_contains, snapshot


def _fill(db: Database, rows: int = 150) -> None:
    with db.transaction() as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        conn.executemany("INSERT INTO notes (body) VALUES (?)", [(f"note {i} " + "x" * 200,) for i in range(rows)])


def _closed_file_with_pages(db_path, key, rows: int = 150) -> bytes:
    with Database(db_path, key, create=True) as db:
        _fill(db, rows)
    return db_path.read_bytes()


def _open_and_verify(path, key) -> None:
    with Database(path, key) as db:
        db.verify_integrity()


# --- opening and creating ---------------------------------------------------------------------------------------


def test_create_makes_a_new_file_readable_only_by_its_owner(db_path, key):
    with Database(db_path, key, create=True):
        pass
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600


def test_create_refuses_an_existing_file_and_leaves_it_unchanged(db_path, key):
    original = _closed_file_with_pages(db_path, key)

    with pytest.raises(StorageError, match="already exists"):
        Database(db_path, os.urandom(32), create=True)

    assert db_path.read_bytes() == original
    with Database(db_path, key) as db:
        assert db.query_one("SELECT count(*) FROM notes")[0] == 150


def test_missing_file_raises_database_missing_and_creates_nothing(tmp_path, key):
    path = tmp_path / "nowhere" / "missing.db"

    with pytest.raises(DatabaseMissing, match="missing.db"):
        Database(path, key)

    assert list(tmp_path.iterdir()) == []


def test_key_of_the_wrong_length_is_refused_before_anything_is_created(db_path):
    with pytest.raises(StorageError, match="32 bytes"):
        Database(db_path, b"short", create=True)
    assert not db_path.parent.exists()


def test_wrong_key_fails_closed_and_leaves_file_unchanged(db_path, key):
    _closed_file_with_pages(db_path, key)
    before = snapshot(db_path.parent)

    with pytest.raises(DatabaseUnreadable, match="restore it from a backup"):
        Database(db_path, os.urandom(32))

    assert snapshot(db_path.parent) == before
    assert sorted(p.name for p in db_path.parent.iterdir()) == ["test.db"]


def test_a_file_that_is_not_a_database_is_refused_and_left_unchanged(db_path, key):
    db_path.parent.mkdir()
    db_path.write_bytes(b"this is not a database, just some text that happens to be here" * 100)
    before = db_path.read_bytes()

    with pytest.raises(DatabaseUnreadable):
        Database(db_path, key)

    assert db_path.read_bytes() == before


def test_an_empty_file_is_not_mistaken_for_a_new_database(db_path, key):
    # SQLite treats a zero-length file as a new, empty database that any key opens; a file that lost its
    # contents must be reported, not silently become an empty database.
    db_path.parent.mkdir()
    db_path.write_bytes(b"")

    with pytest.raises((DatabaseUnreadable, DatabaseCorrupt)):
        Database.check_file(db_path, key)
    with pytest.raises((DatabaseUnreadable, DatabaseCorrupt)):
        Database(db_path, key).close()

    assert db_path.read_bytes() == b""


@pytest.mark.parametrize("reopen", [False, True], ids=["creator", "reopened"])
def test_pragmas_are_in_force(db_path, key, reopen):
    db = Database(db_path, key, create=True)
    if reopen:
        db.close()
        db = Database(db_path, key)
    with db:
        assert db.query_one("PRAGMA foreign_keys")[0] == 1
        assert db.query_one("PRAGMA journal_mode")[0] == "wal"
        assert db.query_one("PRAGMA secure_delete")[0] == 1


def test_pragmas_are_in_force_on_another_threads_connection(fresh_db):
    seen = {}

    def read_pragmas():
        seen.update(
            foreign_keys=fresh_db.query_one("PRAGMA foreign_keys")[0],
            journal_mode=fresh_db.query_one("PRAGMA journal_mode")[0],
            secure_delete=fresh_db.query_one("PRAGMA secure_delete")[0],
        )

    worker = threading.Thread(target=read_pragmas)
    worker.start()
    worker.join()

    assert seen == {"foreign_keys": 1, "journal_mode": "wal", "secure_delete": 1}


def test_foreign_keys_are_enforced(fresh_db):
    with fresh_db.transaction() as conn:
        conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        conn.execute("CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent(id))")

    with pytest.raises(IntegrityError):
        with fresh_db.transaction() as conn:
            conn.execute("INSERT INTO child (parent_id) VALUES (42)")

    assert fresh_db.query_one("SELECT count(*) FROM child")[0] == 0


def test_check_file_accepts_a_healthy_file_and_touches_nothing(db_path, key):
    _closed_file_with_pages(db_path, key)
    before = snapshot(db_path.parent)

    Database.check_file(db_path, key)

    assert snapshot(db_path.parent) == before
    assert sorted(p.name for p in db_path.parent.iterdir()) == ["test.db"]


def test_check_file_with_a_wrong_key_fails_closed_and_leaves_file_unchanged(db_path, key):
    _closed_file_with_pages(db_path, key)
    before = snapshot(db_path.parent)

    with pytest.raises(DatabaseUnreadable, match="its key does not match"):
        Database.check_file(db_path, os.urandom(32))

    assert snapshot(db_path.parent) == before


def test_check_file_of_a_missing_file_raises_database_missing_and_creates_nothing(tmp_path, key):
    with pytest.raises(DatabaseMissing):
        Database.check_file(tmp_path / "absent.db", key)
    assert list(tmp_path.iterdir()) == []


# --- transactions ------------------------------------------------------------------------------------------------


def test_transaction_commits_so_a_reopened_database_sees_the_rows(db_path, key):
    with Database(db_path, key, create=True) as db:
        with db.transaction() as conn:
            conn.execute("CREATE TABLE t (v TEXT)")
            conn.execute("INSERT INTO t VALUES ('kept')")
        assert not db.connection.in_transaction

    with Database(db_path, key) as db:
        assert [row["v"] for row in db.query("SELECT v FROM t")] == ["kept"]


def test_transaction_rolls_back_on_exception_and_reraises_it(fresh_db):
    with fresh_db.transaction() as conn:
        conn.execute("CREATE TABLE t (v TEXT)")

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with fresh_db.transaction() as conn:
            conn.execute("INSERT INTO t VALUES ('lost')")
            raise Boom

    assert fresh_db.query("SELECT v FROM t") == []
    assert not fresh_db.connection.in_transaction


def test_a_failed_commit_leaves_no_transaction_open(fresh_db):
    # A deferred foreign key is checked only at COMMIT; a COMMIT that fails leaves SQLite's transaction open
    # (and the write lock held), so transaction() must roll it back too.
    with fresh_db.transaction() as conn:
        conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        conn.execute(
            "CREATE TABLE child (id INTEGER PRIMARY KEY, "
            "parent_id INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)"
        )

    with pytest.raises(IntegrityError):
        with fresh_db.transaction() as conn:
            conn.execute("INSERT INTO child (parent_id) VALUES (42)")

    assert not fresh_db.connection.in_transaction
    with fresh_db.transaction() as conn:
        conn.execute("INSERT INTO parent (id) VALUES (1)")
    assert fresh_db.query_one("SELECT count(*) FROM child")[0] == 0


# --- threads and lifecycle ------------------------------------------------------------------------------------------


def test_each_thread_gets_its_own_connection_and_sees_committed_data(fresh_db):
    with fresh_db.transaction() as conn:
        conn.execute("CREATE TABLE t (v TEXT)")
        conn.execute("INSERT INTO t VALUES ('from main')")
    main_connection = fresh_db.connection
    seen = {}

    def read_in_thread():
        seen["connection"] = fresh_db.connection
        seen["same_twice"] = fresh_db.connection is seen["connection"]
        seen["rows"] = [row["v"] for row in fresh_db.query("SELECT v FROM t")]

    worker = threading.Thread(target=read_in_thread)
    worker.start()
    worker.join()

    assert seen["connection"] is not main_connection
    assert seen["same_twice"]
    assert seen["rows"] == ["from main"]
    assert fresh_db.connection is main_connection


def test_close_closes_every_threads_connection_and_is_safe_twice(fresh_db):
    opened = []
    worker = threading.Thread(target=lambda: opened.append(fresh_db.connection))
    worker.start()
    worker.join()

    fresh_db.close()
    fresh_db.close()

    with pytest.raises(StorageError, match="closed"):
        fresh_db.connection  # noqa: B018
    with pytest.raises(Exception, match="closed"):
        opened[0].execute("SELECT 1")


def test_close_removes_the_write_ahead_log(db_path, key):
    _closed_file_with_pages(db_path, key)
    assert sorted(p.name for p in db_path.parent.iterdir()) == ["test.db"]


# --- integrity ---------------------------------------------------------------------------------------------------


def test_verify_integrity_passes_on_a_healthy_file(db_path, key):
    _closed_file_with_pages(db_path, key)
    _open_and_verify(db_path, key)
    assert db_path.stat().st_size > 4 * PAGE_SIZE


def test_verify_integrity_reports_a_flipped_byte_in_a_middle_page(db_path, key):
    original = _closed_file_with_pages(db_path, key)
    pages = len(original) // PAGE_SIZE
    damaged = bytearray(original)
    damaged[(pages // 2) * PAGE_SIZE + 100] ^= 0x01
    db_path.write_bytes(bytes(damaged))

    with Database(db_path, key) as db:
        with pytest.raises(DatabaseCorrupt, match=rf"test.db .* is damaged \(.*page {pages // 2 + 1}"):
            db.verify_integrity()
    with pytest.raises(DatabaseCorrupt, match="restore it from a backup"):
        Database.check_file(db_path, key)


@pytest.mark.parametrize("check", [_open_and_verify, Database.check_file], ids=["open-and-verify", "check-file"])
@pytest.mark.parametrize("cut", ["half", "last_page", "mid_page"])
def test_a_truncated_file_is_refused_at_open_or_at_verify(db_path, key, cut, check):
    original = _closed_file_with_pages(db_path, key)
    pages = len(original) // PAGE_SIZE
    length = {"half": (pages // 2) * PAGE_SIZE, "last_page": (pages - 1) * PAGE_SIZE,
              "mid_page": len(original) - PAGE_SIZE // 2}[cut]
    db_path.write_bytes(original[:length])

    with pytest.raises((DatabaseUnreadable, DatabaseCorrupt), match="restore it from a backup"):
        check(db_path, key)


# --- nothing readable on disk --------------------------------------------------------------------------------------


def _write_canaries(appliance, canary: str) -> tuple:
    workspace = appliance.workspaces.create("canary-ws")
    with appliance.control_db.transaction() as conn:
        conn.execute("INSERT INTO settings (name, value, updated_at) VALUES ('motto', ?, 'now')", (canary,))
    with workspace.transaction() as conn:
        conn.execute("INSERT INTO meta (name, value) VALUES ('motto', ?)", (canary,))
    return workspace


def test_canary_written_through_storage_is_absent_from_every_raw_file_while_the_wal_holds_it(appliance):
    canary = f"CANARY-{uuid.uuid4().hex}".encode()
    workspace = _write_canaries(appliance, canary.decode())
    layout, keystore = appliance.layout, appliance.keystore
    control_key, workspace_key = keystore.get(CONTROL_DB_KEY), keystore.get(workspace_db_key("canary-ws"))

    for db in (appliance.control_db, workspace):
        wal = db.path.with_name(db.path.name + "-wal")
        assert wal.stat().st_size > 0
    # The rows really are on disk, in the write-ahead logs: only encryption hides them.
    assert plaintext_contains(layout.control_db, control_key, canary)
    assert plaintext_contains(workspace.path, workspace_key, canary)
    assert files_containing(canary, layout.data_dir, layout.key_dir) == []


def test_canary_is_absent_from_every_raw_file_after_checkpoint(appliance):
    canary = f"CANARY-{uuid.uuid4().hex}".encode()
    workspace = _write_canaries(appliance, canary.decode())
    layout, keystore = appliance.layout, appliance.keystore

    appliance.control_db.checkpoint()
    workspace.checkpoint()

    assert layout.control_db.with_name("control.db-wal").stat().st_size == 0
    # Folded into the main files now, where only encryption hides them.
    assert any(canary in page for page in decrypted_pages(layout.control_db, keystore.get(CONTROL_DB_KEY)))
    assert any(canary in page for page in decrypted_pages(workspace.path, keystore.get(workspace_db_key("canary-ws"))))
    assert files_containing(canary, layout.data_dir, layout.key_dir) == []

    appliance.close()
    assert files_containing(canary, layout.data_dir, layout.key_dir) == []


def test_deleted_canary_is_overwritten_on_disk_after_checkpoint(appliance):
    canary = f"CANARY-{uuid.uuid4().hex}".encode()
    workspace = _write_canaries(appliance, canary.decode())
    layout, keystore = appliance.layout, appliance.keystore
    control_key, workspace_key = keystore.get(CONTROL_DB_KEY), keystore.get(workspace_db_key("canary-ws"))
    appliance.control_db.checkpoint()
    workspace.checkpoint()
    assert plaintext_contains(layout.control_db, control_key, canary)
    assert plaintext_contains(workspace.path, workspace_key, canary)

    with appliance.control_db.transaction() as conn:
        conn.execute("DELETE FROM settings WHERE name = 'motto'")
    with workspace.transaction() as conn:
        conn.execute("DELETE FROM meta WHERE name = 'motto'")
    appliance.control_db.checkpoint()
    workspace.checkpoint()

    assert not plaintext_contains(layout.control_db, control_key, canary)
    assert not plaintext_contains(workspace.path, workspace_key, canary)
    assert files_containing(canary, layout.data_dir, layout.key_dir) == []


def test_without_secure_delete_a_deleted_canary_would_stay_on_disk(fresh_db, key):
    # Shows the check above can fail: with the pragma off, the deleted row's bytes survive in the page.
    canary = f"CANARY-{uuid.uuid4().hex}".encode()
    with fresh_db.transaction() as conn:
        conn.execute("PRAGMA secure_delete = OFF")  # on the connection every write goes through
        conn.execute("CREATE TABLE t (v TEXT)")
        conn.execute("INSERT INTO t VALUES (?)", (canary.decode(),))
    with fresh_db.transaction() as conn:
        conn.execute("DELETE FROM t")
    fresh_db.checkpoint()

    assert fresh_db.query("SELECT v FROM t") == []
    assert plaintext_contains(fresh_db.path, key, canary)
