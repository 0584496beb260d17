"""How a Database shares its connections between threads: every write and each free moment of the primary
connection, each thread's own connection otherwise; what each thread sees stays what SQLite's isolation promises."""

from __future__ import annotations

import threading
import time

import pytest

from appliance.storage.database import Database


@pytest.fixture
def db(fresh_db) -> Database:
    with fresh_db.transaction() as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")
        conn.execute("INSERT INTO notes (text) VALUES ('first')")
    return fresh_db


def _in_thread(work):
    result, errors = [], []

    def run():
        try:
            result.append(work())
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            errors.append(exc)
    thread = threading.Thread(target=run)
    thread.start()
    return thread, result, errors


def test_statements_of_many_threads_share_one_connection_while_it_is_free(db):
    for _ in range(5):
        thread, result, errors = _in_thread(lambda: db.query("SELECT text FROM notes"))
        thread.join()
        assert not errors and [r["text"] for r in result[0]] == ["first"]

    # Five threads read; none needed a connection of its own.
    assert len(db._all) == 1


def test_a_read_while_another_thread_writes_neither_waits_nor_sees_the_uncommitted_row(db):
    writing, release = threading.Event(), threading.Event()

    def slow_write():
        with db.transaction() as conn:
            conn.execute("INSERT INTO notes (text) VALUES ('uncommitted')")
            writing.set()
            release.wait(10)
    writer, _, errors = _in_thread(slow_write)
    assert writing.wait(10)
    try:
        started = time.monotonic()
        seen = [r["text"] for r in db.query("SELECT text FROM notes ORDER BY id")]
        waited = time.monotonic() - started
    finally:
        release.set()
        writer.join()

    assert not errors
    assert seen == ["first"]
    assert waited < 5  # it did not queue behind the write, whose busy timeout is 5 s
    assert [r["text"] for r in db.query("SELECT text FROM notes ORDER BY id")] == ["first", "uncommitted"]


def test_inside_a_write_transaction_the_threads_reads_see_its_own_writes_and_others_do_not(db):
    with db.transaction() as conn:
        conn.execute("INSERT INTO notes (text) VALUES ('mine')")
        mine = [r["text"] for r in db.query("SELECT text FROM notes ORDER BY id")]
        raw = [r[0] for r in db.connection.execute("SELECT text FROM notes ORDER BY id")]
        other, result, errors = _in_thread(lambda: [r["text"] for r in db.query("SELECT text FROM notes")])
        other.join()

    assert mine == raw == ["first", "mine"]
    assert not errors and result == [["first"]]


def test_a_snapshot_sees_one_moment_while_another_thread_commits(db):
    with db.snapshot():
        before = db.query_one("SELECT count(*) FROM notes")[0]
        thread, _, errors = _in_thread(lambda: _insert(db, "committed meanwhile"))
        thread.join()
        during = db.query_one("SELECT count(*) FROM notes")[0]
    after = db.query_one("SELECT count(*) FROM notes")[0]

    assert not errors
    assert before == during == 1
    assert after == 2


def test_writes_wait_for_statements_in_flight_rather_than_failing_and_no_reader_goes_back_in_time(db):
    seen: list[list[int]] = [[] for _ in range(3)]

    def reader(mine: list[int]):
        for _ in range(200):
            mine.append(db.query_one("SELECT count(*) FROM notes")[0])

    threads = [threading.Thread(target=reader, args=(mine,)) for mine in seen]
    for thread in threads:
        thread.start()
    for n in range(50):
        _insert(db, f"note {n}")
    for thread in threads:
        thread.join()

    assert db.query_one("SELECT count(*) FROM notes")[0] == 51
    for counts in seen:
        # Whichever connection each read ran on, a later read never saw fewer committed rows than an earlier one.
        assert len(counts) == 200 and counts == sorted(counts) and 1 <= counts[0] and counts[-1] <= 51


def _insert(db: Database, text: str) -> None:
    with db.transaction() as conn:
        conn.execute("INSERT INTO notes (text) VALUES (?)", (text,))
