"""The SQL of retention inside one workspace database: what a policy would remove now, and removing it a batch at a
time. Every batch runs in the caller's write transaction and says what it did."""

from __future__ import annotations

import json
from dataclasses import dataclass

from appliance.retention.addresses import truncate
from appliance.retention.policy import RetentionPolicy

KINDS = ("conversations", "messages", "leads", "analytics_events", "visitor_addresses", "uploaded_originals")
# Uploaded files are large: a handful per transaction keeps each one short.
ORIGINALS_PER_BATCH = 10
# In a workspace's meta table while a large purge owes the message index a full merge (see defer_index_deletes).
INDEX_MERGE_OWED = "retention.message_index_merge_owed"
DEFAULT_AUTOMERGE = 4    # FTS5's own, which the workspace schema keeps
DEFERRED_AUTOMERGE = 16  # FTS5's largest
_IDS = "SELECT value FROM json_each(?)"


@dataclass(frozen=True)
class Cutoffs:
    """Per kind, the instant before which data goes (None: kept); computed once per sweep of a workspace."""

    conversations: str | None
    leads: str | None
    analytics_events: str | None
    visitor_addresses: str | None
    uploaded_originals: str | None
    drop_addresses: bool

    @classmethod
    def of(cls, policy: RetentionPolicy, now) -> "Cutoffs":
        return cls(policy.cutoff("conversations_days", now), policy.cutoff("leads_days", now),
                   policy.cutoff("analytics_events_days", now), policy.cutoff("visitor_addresses_days", now),
                   policy.cutoff("uploaded_originals_days", now), policy.visitor_addresses_action == "drop")


def zero_counts() -> dict[str, int]:
    return dict.fromkeys(KINDS, 0)


def _address_rows(table: str, age_column: str, cutoffs: Cutoffs, *, excluding: str | None) -> tuple[str, list]:
    """WHERE clause of the addresses due in `table`, leaving out rows the same sweep deletes anyway."""
    clause = f"{age_column} < ? AND client_address IS NOT NULL"
    params: list = [cutoffs.visitor_addresses]
    if not cutoffs.drop_addresses:
        clause += " AND instr(client_address, '/') = 0"   # already a network: truncated by an earlier sweep
    if excluding is not None:
        clause += f" AND NOT ({excluding} < ?)"
        params.append(getattr(cutoffs, table))
    return clause, params


def _conversations_excluded(cutoffs: Cutoffs) -> str | None:
    return "updated_at" if cutoffs.conversations else None


def _leads_excluded(cutoffs: Cutoffs) -> str | None:
    return "created_at" if cutoffs.leads else None


def _originals_due() -> str:
    # Only sources at rest: one waiting to be indexed still needs its file.
    return ("kind = 'file' AND original IS NOT NULL AND created_at < ? AND status IN ('ready', 'failed')")


def count_due(conn, cutoffs: Cutoffs) -> dict[str, int]:
    """What a sweep with these cutoffs would remove now, kind by kind (the preview)."""
    counts = zero_counts()

    def scalar(sql: str, params) -> int:
        return conn.execute(sql, params).fetchone()[0]

    if cutoffs.conversations:
        counts["conversations"] = scalar("SELECT count(*) FROM conversations WHERE updated_at < ?",
                                         (cutoffs.conversations,))
        counts["messages"] = scalar("SELECT count(*) FROM messages WHERE conversation_id IN "
                                    "(SELECT id FROM conversations WHERE updated_at < ?)", (cutoffs.conversations,))
    if cutoffs.leads:
        counts["leads"] = scalar("SELECT count(*) FROM leads WHERE created_at < ?", (cutoffs.leads,))
    if cutoffs.analytics_events:
        counts["analytics_events"] = scalar("SELECT count(*) FROM analytics_events WHERE created_at < ?",
                                            (cutoffs.analytics_events,))
    if cutoffs.visitor_addresses:
        for table, age, excluded in (("conversations", "started_at", _conversations_excluded(cutoffs)),
                                     ("leads", "created_at", _leads_excluded(cutoffs))):
            clause, params = _address_rows(table, age, cutoffs, excluding=excluded)
            counts["visitor_addresses"] += scalar(f"SELECT count(*) FROM {table} WHERE {clause}", params)
    if cutoffs.uploaded_originals:
        counts["uploaded_originals"] = scalar(f"SELECT count(*) FROM sources WHERE {_originals_due()}",
                                              (cutoffs.uploaded_originals,))
    return counts


def delete_conversations(conn, cutoff: str, *, budget: int) -> tuple[int, int]:
    """Delete the oldest conversations idle since before `cutoff`, about `budget` rows (conversations and their
    messages) at most, at least one conversation. Their messages, cited sources and index entries go with them,
    their analytics keep the counts but lose the question text, their leads stay without the link.
    Returns (conversations, messages) deleted."""
    rows = conn.execute(
        "SELECT c.id, (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS n FROM conversations c "
        "WHERE c.updated_at < ? ORDER BY c.updated_at LIMIT ?", (cutoff, budget)).fetchall()
    chosen, messages = [], 0
    for row in rows:
        if chosen and len(chosen) + messages + row["n"] + 1 > budget:
            break
        chosen.append(row["id"])
        messages += row["n"]
    if not chosen:
        return 0, 0
    ids = json.dumps(chosen)
    forget_questions(conn, ids)
    conn.execute(f"DELETE FROM conversations WHERE id IN ({_IDS})", (ids,))
    return len(chosen), messages


def messages_due(conn, cutoff: str) -> int:
    return conn.execute("SELECT count(*) FROM messages WHERE conversation_id IN "
                        "(SELECT id FROM conversations WHERE updated_at < ?)", (cutoff,)).fetchone()[0]


def defer_index_deletes(conn, since: str) -> None:
    """Until `secure_index_deletes`, deleting a message writes a deletion marker into the message index instead of
    rewriting the index pages that hold its words: on a large index about ten times cheaper, as a secure delete
    looks for every word in every segment and chat's commits keep emptying the page cache it would need. The words
    stay in the index, unreachable, until a full merge drops them; the merge is recorded as owed until it is done,
    so a purge cut short is finished by the next sweep."""
    conn.execute("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                 (INDEX_MERGE_OWED, since))
    conn.execute("INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 0)")
    # Each batch's markers make a small segment; merging them 16 at a time rather than 4 spares most of the merges
    # that would hold a batch's commit (and so a chat reply) for tens of milliseconds.
    conn.execute("INSERT INTO messages_fts (messages_fts, rank) VALUES ('automerge', ?)", (DEFERRED_AUTOMERGE,))


def secure_index_deletes(conn) -> None:
    """Deleting a message removes its words from the message index at once again (the workspace's normal state)."""
    conn.execute("INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 1)")
    conn.execute("INSERT INTO messages_fts (messages_fts, rank) VALUES ('automerge', ?)", (DEFAULT_AUTOMERGE,))


def message_count(conn) -> int:
    return conn.execute("SELECT count(*) FROM messages").fetchone()[0]


def index_merge_owed(conn) -> bool:
    return conn.execute("SELECT 1 FROM meta WHERE name = ?", (INDEX_MERGE_OWED,)).fetchone() is not None


def index_merge_done(conn) -> None:
    conn.execute("DELETE FROM meta WHERE name = ?", (INDEX_MERGE_OWED,))


def forget_questions(conn, conversation_ids_json: str) -> int:
    """Blank the question text the analytics of these conversations hold; the counts stay."""
    return conn.execute(f"UPDATE analytics_events SET question = NULL WHERE conversation_id IN ({_IDS}) "
                        "AND question IS NOT NULL", (conversation_ids_json,)).rowcount


def delete_leads(conn, cutoff: str, *, budget: int) -> int:
    return conn.execute("DELETE FROM leads WHERE id IN (SELECT id FROM leads WHERE created_at < ? "
                        "ORDER BY created_at LIMIT ?)", (cutoff, budget)).rowcount


def delete_analytics_events(conn, cutoff: str, *, budget: int) -> int:
    return conn.execute("DELETE FROM analytics_events WHERE id IN (SELECT id FROM analytics_events "
                        "WHERE created_at < ? ORDER BY created_at LIMIT ?)", (cutoff, budget)).rowcount


def reduce_addresses(conn, cutoffs: Cutoffs, *, budget: int) -> int:
    """Truncate (or drop) up to `budget` visitor addresses, conversations' first, then leads'."""
    done = 0
    for table, age in (("conversations", "started_at"), ("leads", "created_at")):
        if done >= budget:
            break
        # The sweep deleted what its own policy removes before coming here, so nothing is left to exclude.
        clause, params = _address_rows(table, age, cutoffs, excluding=None)
        rows = conn.execute(f"SELECT id, client_address FROM {table} WHERE {clause} LIMIT ?",
                            (*params, budget - done)).fetchall()
        changes = [(None if cutoffs.drop_addresses else truncate(r["client_address"]), r["id"]) for r in rows]
        conn.executemany(f"UPDATE {table} SET client_address = ? WHERE id = ?", changes)
        done += len(changes)
    return done


def drop_originals(conn, cutoff: str) -> int:
    return conn.execute(f"UPDATE sources SET original = NULL WHERE id IN (SELECT id FROM sources WHERE "
                        f"{_originals_due()} LIMIT ?)", (cutoff, ORIGINALS_PER_BATCH)).rowcount
