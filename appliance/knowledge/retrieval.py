"""Retrieval for answering: BM25 over the passages, fused with dense similarity when the embedding model is on.

The fusion is a convex combination (appliance.knowledge.fusion) whose one weight depends on what the question is
matched against, measured on the evaluation sets by cross-validation (docs/retrieval.md): against Q&A pairs, a
paraphrase task where the dense model is strong, the cosine weighs DENSE_WEIGHT_QA; against passages of documents,
where the exact terms matter most, DENSE_WEIGHT_PASSAGES. A question whose best candidates are some of each gets the
weight in between, in proportion, so no threshold decides. One weight for both kinds lost to the better single
method on both sets, whichever set it was tuned on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from appliance.knowledge import search
from appliance.knowledge.fusion import convex_fusion
from appliance.knowledge.search import Hit
from appliance.storage.database import Database

if TYPE_CHECKING:
    from appliance.knowledge.dense import VectorCache
    from appliance.knowledge.embedding import Embedder

CANDIDATES = 50
# Candidates of each list whose origin sets the dense weight.
KIND_SAMPLE = 10
DENSE_WEIGHT_QA, DENSE_WEIGHT_PASSAGES = 0.9, 0.3


@dataclass(frozen=True)
class Candidates:
    """Both rankings of one question, before fusion: BM25 (best first) and dense (chunk id, cosine)."""

    lexical: list[Hit]
    dense: list[tuple[int, float]]
    hits: dict[int, Hit]

    def dense_weight(self) -> float:
        sample = [c for c, _ in self.dense[:KIND_SAMPLE]] + [h.chunk_id for h in self.lexical[:KIND_SAMPLE]]
        origins = [self.hits[c].origin for c in sample if c in self.hits]
        share = sum(o == "qa" for o in origins) / len(origins) if origins else 0.0
        return share * DENSE_WEIGHT_QA + (1 - share) * DENSE_WEIGHT_PASSAGES

    def similarity(self, chunk_id: int) -> float:
        """The cosine of the question and the passage, 0.0 where the dense ranking did not reach it or is off."""
        return next((cosine for c, cosine in self.dense if c == chunk_id), 0.0)

    def fused(self, dense_weight: float | None = None) -> list[Hit]:
        if not self.dense:
            return self.lexical
        weight = self.dense_weight() if dense_weight is None else dense_weight
        order = convex_fusion([(h.chunk_id, h.score) for h in self.lexical], self.dense, dense_weight=weight)
        return [self.hits[c] for c, _ in order if c in self.hits]


class Retriever:
    """Ranks one workspace's ready passages for a question; never sees another workspace's database."""

    def __init__(self, db: Database, *, embedder: "Embedder | None" = None,
                 vectors: "VectorCache | None" = None) -> None:
        self._db = db
        self._embedder = embedder
        self._vectors = vectors

    @property
    def dense(self) -> bool:
        return self._embedder is not None

    def retrieve(self, question: str, *, limit: int = 10) -> list[Hit]:
        return self.candidates(question).fused()[:limit]

    def candidates(self, question: str, *, keep: int = CANDIDATES) -> Candidates:
        """Both rankings of the question; `keep` says how much of the fused one the caller reads, which is all that
        is read of the full-text ranking without the model (with it, the fusion weighs CANDIDATES of each)."""
        if self._embedder is None:
            lexical = search.search(self._db, question, limit=min(keep, CANDIDATES))
            return Candidates(lexical, [], {h.chunk_id: h for h in lexical})
        lexical = search.search(self._db, question, limit=CANDIDATES)
        from appliance.knowledge.dense import dense_ranking

        dense = dense_ranking(self._db, self._embedder, question, limit=CANDIDATES, cache=self._vectors)
        hits = {h.chunk_id: h for h in lexical}
        hits.update(search.hits_by_id(self._db, [c for c, _ in dense if c not in hits]))
        return Candidates(lexical, dense, hits)
