"""Retrieval for answering: BM25 over the passages, fused with dense similarity when an embedding model is set.

How to fuse depends on what is being searched, as measured on the evaluation sets (docs/retrieval.md): matching a
question against Q&A pairs is a paraphrase task where the dense model is strong and BM25 only breaks ties, while
finding a passage in long documents is a task where the exact terms matter most and the dense score only nudges.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.knowledge import search
from appliance.knowledge.fusion import reciprocal_rank_fusion
from appliance.knowledge.search import Hit
from appliance.storage.database import Database

if TYPE_CHECKING:
    from appliance.knowledge.dense import VectorCache
    from appliance.knowledge.embedding import Embedder

CANDIDATES = 50
PER_SOURCE = 3
# Q&A matching: reciprocal-rank fusion leaning on the dense ranking.
QA_RRF_K, QA_DENSE_WEIGHT = 5, 4.0
# Passages: BM25 normalised by the best score, plus this share of the cosine similarity.
PASSAGE_DENSE_SHARE = 0.3


class Retriever:
    """Ranks one workspace's ready passages for a question; never sees another workspace's database."""

    def __init__(self, db: Database, *, embedder: "Embedder | None" = None,
                 vectors: "VectorCache | None" = None) -> None:
        self._db = db
        self._embedder = embedder
        self._vectors = vectors

    def retrieve(self, question: str, *, limit: int = 10) -> list[Hit]:
        return _diverse(self._ranked(question), limit)

    def _ranked(self, question: str) -> list[Hit]:
        lexical = search.search(self._db, question, limit=CANDIDATES)
        if self._embedder is None:
            return lexical
        from appliance.knowledge.dense import dense_ranking

        dense = dense_ranking(self._db, self._embedder, question, limit=CANDIDATES, cache=self._vectors)
        by_id = {h.chunk_id: h for h in lexical}
        by_id.update(search.hits_by_id(self._db, [c for c, _ in dense if c not in by_id]))
        candidates = [c for c, _ in dense[:10]] + [h.chunk_id for h in lexical[:10]]
        faq = sum(by_id[c].origin == "qa" for c in candidates if c in by_id) * 2 > len(candidates)
        order = _fuse_faq(lexical, dense) if faq else _fuse_passages(lexical, dense)
        return [by_id[c] for c in order if c in by_id]


def _fuse_faq(lexical: list[Hit], dense: list[tuple[int, float]]) -> list[int]:
    fused = reciprocal_rank_fusion([[h.chunk_id for h in lexical], [c for c, _ in dense]], k=QA_RRF_K,
                                   weights=[1.0, QA_DENSE_WEIGHT])
    return [c for c, _ in fused]


def _fuse_passages(lexical: list[Hit], dense: list[tuple[int, float]]) -> list[int]:
    scores: dict[int, float] = {}
    best = lexical[0].score if lexical else 0.0
    for hit in lexical:
        scores[hit.chunk_id] = (1 - PASSAGE_DENSE_SHARE) * (hit.score / best if best > 0 else 0.0)
    for chunk_id, cosine in dense:
        scores[chunk_id] = scores.get(chunk_id, 0.0) + PASSAGE_DENSE_SHARE * max(0.0, cosine)
    return sorted(scores, key=lambda c: -scores[c])


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
