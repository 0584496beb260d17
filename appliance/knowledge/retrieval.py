"""Retrieval for answering: BM25 over the passages, fused with dense similarity when an embedding model is set."""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.knowledge import search
from appliance.knowledge.search import Hit
from appliance.storage.database import Database

if TYPE_CHECKING:
    from appliance.knowledge.embedding import Embedder

CANDIDATES = 50
PER_SOURCE = 3


class Retriever:
    """Ranks one workspace's ready passages for a question; never sees another workspace's database."""

    def __init__(self, db: Database, *, embedder: "Embedder | None" = None) -> None:
        self._db = db
        self._embedder = embedder

    def retrieve(self, question: str, *, limit: int = 10) -> list[Hit]:
        return _diverse(self._ranked(question, limit=CANDIDATES), limit)

    def _ranked(self, question: str, *, limit: int) -> list[Hit]:
        lexical = search.search(self._db, question, limit=CANDIDATES)
        if self._embedder is None:
            return lexical[:limit]
        from appliance.knowledge.dense import dense_ranking
        from appliance.knowledge.fusion import reciprocal_rank_fusion

        dense = dense_ranking(self._db, self._embedder, question, limit=CANDIDATES)
        fused = reciprocal_rank_fusion([[h.chunk_id for h in lexical], [chunk_id for chunk_id, _ in dense]])
        by_id = {h.chunk_id: h for h in lexical}
        missing = [chunk_id for chunk_id, _ in fused[:limit] if chunk_id not in by_id]
        by_id.update(search.hits_by_id(self._db, missing))
        return [by_id[chunk_id] for chunk_id, _ in fused[:limit] if chunk_id in by_id]


def _diverse(hits: list[Hit], limit: int) -> list[Hit]:
    """At most PER_SOURCE passages of one source, so one long document cannot crowd out every other answer."""
    taken: dict[str, int] = {}
    out = []
    for hit in hits:
        if taken.get(hit.source_id, 0) < PER_SOURCE:
            taken[hit.source_id] = taken.get(hit.source_id, 0) + 1
            out.append(hit)
            if len(out) == limit:
                break
    return out
