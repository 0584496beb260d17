"""Reciprocal rank fusion: one ranking from several (BM25 and dense), using ranks only, never raw scores.

Cormack, Clarke and Buettcher, "Reciprocal Rank Fusion outperforms Condorcet and individual Rank Learning Methods",
SIGIR 2009: each list adds weight / (k + rank) to every id it holds, ranks counted from 1, with k = 60.
"""

from __future__ import annotations


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
