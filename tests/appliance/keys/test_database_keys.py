"""Rekeying a database and opening one under the key the keystore records, whatever step a crash stopped at."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

import pytest

from appliance.errors import DatabaseCorrupt, DatabaseUnreadable, KeyExists, StorageError, UnknownKey
from appliance.keys.database_keys import open_database, rekey_database
from appliance.keys.keystore import Keystore
from appliance.storage.database import Database

NAME = "db:workspace:test"


@pytest.fixture
def keystore(tmp_path, clock):
    store = Keystore.create(tmp_path / "keys", os.urandom(32), appliance_id="test-appliance", clock=clock)
    yield store
    store.close()


@pytest.fixture
def keyed_db(keystore, tmp_path):
    """A WAL database under key NAME, with rows still in its write-ahead log (never checkpointed)."""
    path = tmp_path / "data" / "test.db"
    db = Database(path, keystore.create_key(NAME, purpose="test database"), create=True)
    db.connection.execute("PRAGMA wal_autocheckpoint = 0")
    with db.transaction() as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")
        conn.executemany("INSERT INTO notes (text) VALUES (?)", [(f"note {n} " + "x" * 200,) for n in range(2000)])
        conn.execute("INSERT INTO notes (text) VALUES ('the canary')")
    assert os.path.getsize(path.with_name("test.db-wal")) > 100_000
    yield db
    db.close()


def rows(db: Database) -> list[tuple]:
    return [tuple(r) for r in db.query("SELECT id, text FROM notes ORDER BY id")]


# --- Database.rekey ---------------------------------------------------------------------------------------------


def test_rekey_moves_a_wal_database_to_the_new_key_and_the_old_key_no_longer_opens_it(keystore, keyed_db):
    old, new = keystore.get(NAME), os.urandom(32)
    before = rows(keyed_db)

    keyed_db.rekey(new)

    assert rows(keyed_db) == before
    assert os.path.getsize(keyed_db.path.with_name("test.db-wal")) == 0  # folded into the file
    keyed_db.close()
    with pytest.raises(DatabaseUnreadable):
        Database.check_file(keyed_db.path, old)
    Database.check_file(keyed_db.path, new)
    with Database(keyed_db.path, new) as reopened:
        assert rows(reopened) == before


def test_rekey_refuses_while_another_connection_reads_and_leaves_the_old_key(keystore, keyed_db):
    old = keystore.get(NAME)
    reader = Database(keyed_db.path, old)
    reader.connection.execute("BEGIN")
    reader.query("SELECT count(*) FROM notes")
    with keyed_db.transaction() as conn:  # on the primary connection, which rekeys
        conn.execute("PRAGMA busy_timeout = 100")
    try:
        with pytest.raises(StorageError, match="another connection is using"):
            keyed_db.rekey(os.urandom(32))
    finally:
        reader.connection.execute("ROLLBACK")
        reader.close()

    assert len(rows(keyed_db)) == 2001
    keyed_db.close()
    Database.check_file(keyed_db.path, old)


def test_rekey_refuses_while_this_process_has_a_second_connection(keyed_db):
    # Another thread's own connection (a statement while the primary was busy, or a snapshot), still open.
    other = threading.Thread(target=lambda: keyed_db.connection.execute("SELECT 1").fetchone())
    other.start()
    other.join()

    with pytest.raises(StorageError, match="2 connections open in this process"):
        keyed_db.rekey(os.urandom(32))


# --- open_database: each step a crash can stop at ------------------------------------------------------------------


def test_a_pending_key_the_file_never_moved_to_is_discarded_at_open(keystore, keyed_db):
    key = keystore.get(NAME)
    keyed_db.close()
    keystore.set_pending(NAME, os.urandom(32))  # step 1 done, crash before the rekey committed

    with open_database(keystore, NAME, keyed_db.path, verified=True) as db:
        assert len(rows(db)) == 2001

    assert keystore.get(NAME) == key
    assert keystore.pending(NAME) is None
    assert keystore.version(NAME) == 1


def test_a_rekeyed_file_whose_key_was_not_promoted_opens_under_the_pending_key_which_becomes_current(
        keystore, keyed_db):
    new = os.urandom(32)
    keystore.set_pending(NAME, new)
    keyed_db.rekey(new)  # step 2 done, crash before step 3
    keyed_db.close()

    with open_database(keystore, NAME, keyed_db.path, verified=True) as db:
        assert len(rows(db)) == 2001

    assert keystore.get(NAME) == new
    assert keystore.pending(NAME) is None
    assert keystore.version(NAME) == 2


REKEY_THEN_DIE = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from appliance.storage.database import Database
    db = Database(Path(sys.argv[1]), bytes.fromhex(sys.argv[2]))
    db.connection.execute("PRAGMA wal_autocheckpoint = 0")
    db.connection.execute("PRAGMA rekey = \\"x'" + sys.argv[3] + "'\\"").fetchall()
    os._exit(0)  # as if killed: committed, never checkpointed, never closed
""")


def test_a_rekey_that_committed_but_was_never_checkpointed_opens_under_the_pending_key(keystore, keyed_db):
    old, new = keystore.get(NAME), os.urandom(32)
    keyed_db.close()
    keystore.set_pending(NAME, new)
    subprocess.run([sys.executable, "-c", REKEY_THEN_DIE, str(keyed_db.path), old.hex(), new.hex()], check=True)
    assert os.path.getsize(keyed_db.path.with_name("test.db-wal")) > 0

    # Why the checkpoint comes before the check: SQLCipher's integrity check reads the main file, which still
    # holds the pages as they were under the old key until the log is folded in.
    with pytest.raises(DatabaseCorrupt):
        Database.open_verified(keyed_db.path, new).close()
    with pytest.raises(DatabaseUnreadable):
        Database(keyed_db.path, old).close()

    with open_database(keystore, NAME, keyed_db.path, verified=True) as db:
        assert len(rows(db)) == 2001
        db.verify_integrity()
    assert keystore.get(NAME) == new and keystore.pending(NAME) is None


def test_a_file_under_neither_the_key_nor_the_pending_key_is_refused_and_both_are_kept(keystore, keyed_db):
    key, pending = keystore.get(NAME), os.urandom(32)
    keyed_db.rekey(os.urandom(32))
    keyed_db.close()
    keystore.set_pending(NAME, pending)

    with pytest.raises(DatabaseUnreadable, match="opens neither under its key"):
        open_database(keystore, NAME, keyed_db.path)

    assert keystore.get(NAME) == key and keystore.pending(NAME) == pending


def test_rekey_database_moves_the_file_and_the_keystore_together(keystore, keyed_db):
    old = keystore.get(NAME)

    assert rekey_database(keystore, NAME, keyed_db) == (1, 2)
    assert rekey_database(keystore, NAME, keyed_db) == (2, 3)

    keyed_db.close()
    assert keystore.get(NAME) != old and keystore.pending(NAME) is None
    Database.check_file(keyed_db.path, keystore.get(NAME))
    record = next(r for r in keystore.records() if r.name == NAME)
    assert (record.version, record.pending, record.rotated_at) == (3, False, "2026-11-29T12:00:00Z")


# --- the keystore's side ----------------------------------------------------------------------------------------


def test_a_key_has_one_pending_successor_at_a_time(keystore):
    keystore.create_key(NAME, purpose="test database")
    keystore.set_pending(NAME, os.urandom(32))

    with pytest.raises(KeyExists, match="already has a pending successor"):
        keystore.set_pending(NAME, os.urandom(32))
    assert keystore.pending_names() == [NAME]
    assert [r.pending for r in keystore.records()] == [True]


def test_promoting_without_a_pending_key_changes_nothing(keystore):
    key = keystore.create_key(NAME, purpose="test database")

    with pytest.raises(UnknownKey, match="no pending successor"):
        keystore.promote_pending(NAME)
    assert (keystore.get(NAME), keystore.version(NAME)) == (key, 1)


def test_pending_keys_of_unknown_names_are_refused(keystore):
    with pytest.raises(UnknownKey):
        keystore.set_pending("db:nothing", os.urandom(32))
    with pytest.raises(UnknownKey):
        keystore.pending("db:nothing")


def test_replacing_a_secret_counts_a_version(keystore):
    keystore.put_secret("tls:server-key", b"first", purpose="server key")
    keystore.replace_secret("tls:server-key", b"second")

    assert keystore.version("tls:server-key") == 2
