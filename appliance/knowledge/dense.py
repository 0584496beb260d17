"""Dense retrieval: the passages whose stored embeddings are closest to the question's (optional extra)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.storage.database import Database

if TYPE_CHECKING:
    from appliance.knowledge.embedding import Embedder


def dense_ranking(db: Database, embedder: "Embedder", question: str, *, limit: int) -> list[tuple[int, float]]:
    """(chunk id, cosine) of the `limit` closest passages of ready sources, best first."""
    import numpy

    from appliance.knowledge.embedding import cosine_top_k

    rows = db.query("SELECT c.id, c.embedding FROM chunks c JOIN sources s ON s.id = c.source_id "
                    "AND s.status = 'ready' WHERE c.embedding IS NOT NULL")
    if not rows:
        return []
    width = embedder.dimension * 4
    # Vectors of another width were written by another model: those passages wait for a re-index.
    rows = [r for r in rows if len(r["embedding"]) == width]
    if not rows:
        return []
    ids = [r["id"] for r in rows]
    matrix = numpy.frombuffer(b"".join(bytes(r["embedding"]) for r in rows), dtype="<f4").reshape(len(rows), -1)
    query = embedder.embed([question])[0]
    return [(ids[row], score) for row, score in cosine_top_k(query, matrix, limit)]
