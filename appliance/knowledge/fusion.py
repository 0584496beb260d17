"""Fusing two rankings of the same passages (BM25 and dense) into one.

`convex_fusion` is what answering uses: a weighted sum of the two scores, each on a scale that needs no tuning
(BM25 divided by the best BM25 score of the question, and the cosine similarity as it is). Bruch, Gai and Ingber,
"An Analysis of Fusion Functions for Hybrid Retrieval" (ACM TOIS 2023) found this convex combination better than
reciprocal-rank fusion in and out of domain, with one parameter that needs few examples to set.

`reciprocal_rank_fusion` (Cormack, Clarke and Buettcher, SIGIR 2009: each list adds weight / (k + rank), ranks from
1, k = 60) uses ranks only; `chatspark eval retrieval` reports it beside the fusion in use, for comparison.
"""

from __future__ import annotations


def convex_fusion(lexical: list[tuple[int, float]], dense: list[tuple[int, float]], *,
                  dense_weight: float) -> list[tuple[int, float]]:
    """Every id of the two lists with (1 - dense_weight) * bm25 / best bm25 + dense_weight * max(cosine, 0), best
    first; an id missing from one list scores 0 there. Equal scores keep the order of first appearance."""
    if not 0.0 <= dense_weight <= 1.0:
        raise ValueError(f"dense_weight must be between 0 and 1, not {dense_weight}")
    best = max((score for _, score in lexical), default=0.0)
    scores: dict[int, float] = {}
    for item, score in lexical:
        scores.setdefault(item, (1.0 - dense_weight) * (score / best if best > 0 else 0.0))
    for item, cosine in dense:
        scores[item] = scores.get(item, 0.0) + dense_weight * max(cosine, 0.0)
    return sorted(scores.items(), key=lambda pair: -pair[1])


def reciprocal_rank_fusion(
    rankings: list[list[int]], *, k: int = 60, weights: list[float] | None = None
) -> list[tuple[int, float]]:
    """Every id of `rankings` with its fused score, best first. Equal scores keep the order in which ids were first
    seen, reading the rankings in the order given; an id repeated within one ranking counts at its best rank."""
    if k < 0:
        raise ValueError(f"k must not be negative, not {k}")
    if weights is None:
        weights = [1.0] * len(rankings)
    elif len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    scores: dict[int, float] = {}  # insertion order is first appearance, which the stable sort keeps for ties
    for ranking, weight in zip(rankings, weights, strict=True):
        seen: set[int] = set()
        for rank, item in enumerate(ranking, start=1):
            if item in seen:
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])
