"""How a purge shares the database with chat: writers of one process take turns in order, and batches shrink when
they hold the database too long."""

from __future__ import annotations

import threading
import time

from appliance.retention.sweep import Pacing, _Budget


def test_a_writer_waiting_behind_a_long_run_of_batches_gets_in_after_the_current_one(fresh_db):
    with fresh_db.transaction() as conn:
        conn.execute("CREATE TABLE t (n INTEGER)")
    batches_done = []
    chat_started, chat_done_after = threading.Event(), []

    def purge() -> None:
        for n in range(40):
            with fresh_db.transaction() as conn:
                conn.execute("INSERT INTO t VALUES (?)", (n,))
                if n == 1:
                    chat_started.set()
                time.sleep(0.02)  # a batch holding the database for 20 ms
            batches_done.append(n)
            time.sleep(0.001)  # then only a millisecond's pause

    def chat() -> None:
        chat_started.wait()
        with fresh_db.transaction() as conn:
            conn.execute("INSERT INTO t VALUES (-1)")
        chat_done_after.append(len(batches_done))

    threads = [threading.Thread(target=purge), threading.Thread(target=chat)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # SQLite's own busy handler sleeps up to 100 ms between tries and would miss every millisecond's gap.
    assert chat_done_after and chat_done_after[0] <= 3


def test_batches_shrink_when_they_hold_the_database_too_long_and_grow_back():
    budget = _Budget(Pacing(batch_rows=200, batch_seconds=0.05))

    budget.took(0.2)  # four times too long: a quarter of the rows
    assert budget.rows == 50
    budget.took(0.04)  # close enough to the target: unchanged
    assert budget.rows == 50
    budget.took(0.01)
    assert budget.rows == 75
    budget.took(60)
    assert budget.rows == _Budget.MIN_ROWS
    for _ in range(20):
        budget.took(0.001)
    assert budget.rows == 200
