"""Reciprocal rank fusion (RRF) of ranked result lists.

``score(d) = sum_i w_i / (k + rank_i(d))`` over the lists ``i`` that contain ``d``
(ranks start at 1). ``k = 60`` is the constant of Cormack, Clarke and Buettcher,
"Reciprocal Rank Fusion outperforms Condorcet and individual Rank Learning Methods"
(SIGIR 2009); it damps the influence of the very first ranks so one list cannot
dominate. Weights let a notebook favour vector or keyword matches.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

RRF_K = 60


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[Hashable]], *, weights: Sequence[float] | None = None, k: int = RRF_K,
) -> list[tuple[Hashable, float]]:
    """Fuse ranked lists of ids.

    Args:
        rankings: one list of ids per retriever, best first (duplicates inside a list count once, first rank).
        weights: one non-negative weight per list (default all 1.0).
        k: RRF constant (default 60, see module docstring); must be >= 1.

    Returns:
        ``(id, fused_score)`` pairs sorted by score descending; ties keep first-seen order.

    Raises:
        ValueError: weights do not match the lists, a weight is negative, or ``k`` < 1.
    """
    if k < 1:
        raise ValueError(f"RRF constant k must be >= 1, got {k}")
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    if any(w < 0 for w in weights):
        raise ValueError(f"RRF weights must be >= 0, got {weights}")
    scores: dict[Hashable, float] = {}
    for ranking, weight in zip(rankings, weights):
        seen: set[Hashable] = set()
        for rank, item in enumerate(ranking, start=1):
            if item in seen:
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    order = {item: i for i, item in enumerate(scores)}
    return sorted(scores.items(), key=lambda p: (-p[1], order[p[0]]))


__all__ = ["reciprocal_rank_fusion", "RRF_K"]
