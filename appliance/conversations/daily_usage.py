"""What each agent answered today per client address and network, and which cap alerts went out, in its workspace."""

from __future__ import annotations

from appliance.storage.database import Database


def count(conn, *, agent_id: str, day: str, keys: tuple[str, ...]) -> None:
    """Count one question under each key, inside the transaction that records it; forget the agent's past days."""
    conn.execute("DELETE FROM widget_daily_counts WHERE agent_id = ? AND day < ?", (agent_id, day))
    conn.executemany(
        "INSERT INTO widget_daily_counts (agent_id, day, counted_as, questions) VALUES (?, ?, ?, 1) "
        "ON CONFLICT (agent_id, day, counted_as) DO UPDATE SET questions = questions + 1",
        [(agent_id, day, key) for key in keys])


def questions(db: Database, *, agent_id: str, day: str, key: str) -> int:
    row = db.query_one("SELECT questions FROM widget_daily_counts WHERE agent_id = ? AND day = ? AND counted_as = ?",
                       (agent_id, day, key))
    return row["questions"] if row else 0


def mark_alert(db: Database, *, agent_id: str, day: str, percent: int, at: str) -> bool:
    """Record that the alert at `percent` of the agent's day went out; False if it already had."""
    with db.transaction() as conn:
        conn.execute("DELETE FROM widget_cap_alerts WHERE agent_id = ? AND day < ?", (agent_id, day))
        return conn.execute("INSERT OR IGNORE INTO widget_cap_alerts (agent_id, day, percent, sent_at) "
                            "VALUES (?, ?, ?, ?)", (agent_id, day, percent, at)).rowcount == 1
