"""Dense retrieval: the passages whose stored embeddings are closest to the question's (optional extra)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from appliance.storage.database import Database

if TYPE_CHECKING:
    from appliance.knowledge.embedding import Embedder


INDEX_VERSION = "index_version"


def bump_index_version(conn: Any) -> None:
    """Record, in the caller's transaction, that the workspace's passages changed (so cached vectors are stale)."""
    conn.execute("INSERT INTO meta (name, value) VALUES (?, '1') "
                 "ON CONFLICT (name) DO UPDATE SET value = CAST(value AS INTEGER) + 1", (INDEX_VERSION,))


class VectorCache:
    """Each workspace's passage vectors in memory, reloaded only when its index version moves on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[str, list[int], Any]] = {}

    def vectors(self, db: Database, dimension: int) -> tuple[list[int], Any]:
        row = db.query_one("SELECT value FROM meta WHERE name = ?", (INDEX_VERSION,))
        version = row["value"] if row else "0"
        key = str(db.path)
        with self._lock:
            cached = self._entries.get(key)
            if cached and cached[0] == version:
                return cached[1], cached[2]
        ids, matrix = _load(db, dimension)
        with self._lock:
            self._entries[key] = (version, ids, matrix)
        return ids, matrix


def dense_ranking(db: Database, embedder: "Embedder", question: str, *, limit: int,
                  cache: VectorCache | None = None) -> list[tuple[int, float]]:
    """(chunk id, cosine) of the `limit` closest passages of ready sources, best first; a passage stored with
    several vectors (a Q&A pair: the pair, and its question alone) scores its closest one."""
    from appliance.knowledge.embedding import cosine_top_k

    ids, matrix = (cache or VectorCache()).vectors(db, embedder.dimension)
    if not ids:
        return []
    query = embedder.embed([question])[0]
    ranked: dict[int, float] = {}
    for row, score in cosine_top_k(query, matrix, limit * 2):
        ranked.setdefault(ids[row], score)
        if len(ranked) == limit:
            break
    return list(ranked.items())


def _load(db: Database, dimension: int) -> tuple[list[int], Any]:
    """One matrix row per stored vector, with the chunk id of each row (a chunk may own several rows)."""
    import numpy

    rows = db.query("SELECT c.id, c.origin, c.embedding FROM chunks c JOIN sources s ON s.id = c.source_id "
                    "AND s.status = 'ready' WHERE c.embedding IS NOT NULL")
    width = dimension * 4
    # A passage has one vector, a Q&A pair one or two (older indexes: one); a blob of another size was written by
    # another model, and waits for a re-index.
    rows = [r for r in rows if len(r["embedding"]) in ((width, 2 * width) if r["origin"] == "qa" else (width,))]
    if not rows:
        return [], numpy.zeros((0, dimension), dtype=numpy.float32)
    ids = [r["id"] for r in rows for _ in range(len(r["embedding"]) // width)]
    matrix = numpy.frombuffer(b"".join(bytes(r["embedding"]) for r in rows), dtype="<f4").reshape(len(ids), -1)
    return ids, matrix
