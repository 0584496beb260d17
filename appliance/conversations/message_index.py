"""The full-text index over conversations' messages, kept up to date in batches.

A chat commit used to add its two messages to `messages_fts` at once, and FTS5 writes each commit's words as a
segment of their own, to merge later: about 0.3 ms of a reply's 2.3 ms of CPU (bench.storage, covidqa agent),
against 0.02 ms a message indexed a batch at a time. So a new message only puts its id in `messages_unindexed`
(migration 0009); the chat commit that brings the waiting messages to `BATCH` indexes them all, and so does anything
that searches the index (`up_to_date`) or reads a search's candidates (`SEARCHED_OR_WAITING`)."""

from __future__ import annotations

from appliance.storage.database import Database

BATCH = 64
# Messages that match an FTS5 query (the `?`) or are not indexed yet: for a search that confirms on the text itself.
SEARCHED_OR_WAITING = ("(m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?) "
                       "OR m.id IN (SELECT id FROM messages_unindexed))")


def index_waiting(conn) -> None:
    """Index every message that waits (on a connection in a write transaction)."""
    conn.execute("INSERT INTO messages_fts (rowid, text) SELECT m.id, m.text FROM messages_unindexed u "
                 "JOIN messages m ON m.id = u.id ORDER BY m.id")
    conn.execute("DELETE FROM messages_unindexed")


def index_if_due(conn) -> None:
    """In a chat commit: index the waiting messages once there are a batch of them."""
    if conn.execute("SELECT count(*) >= ? FROM messages_unindexed", (BATCH,)).fetchone()[0]:
        index_waiting(conn)


def up_to_date(db: Database) -> None:
    """Before a search that only the index can answer: index what waits (a write, only if anything does)."""
    if db.query_one("SELECT EXISTS (SELECT 1 FROM messages_unindexed)")[0]:
        with db.transaction() as conn:
            index_waiting(conn)


def check(conn) -> None:
    """Raise (SQLite's "malformed" error) unless the index holds exactly the messages that do not wait: FTS5's check
    of the index against its table, run with the waiting messages indexed and then undone, so nothing changes."""
    conn.execute("SAVEPOINT message_index_check")
    try:
        index_waiting(conn)
        conn.execute("INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)")
    finally:
        conn.execute("ROLLBACK TO message_index_check")
        conn.execute("RELEASE message_index_check")
