"""Reciprocal rank fusion: one ranking from several, by rank alone (scores of different
retrievers are not comparable), as Cormack, Clarke and Büttcher (SIGIR 2009) define it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

RRF_K = 60  # the paper's constant: a hit's weight falls slowly with its rank

Ranking = Sequence[tuple[uuid.UUID, float]]  # (chunk id, retriever's score), best first


def fuse(
    rankings: Sequence[Ranking], weights: Sequence[float] | None = None
) -> list[tuple[uuid.UUID, float]]:
    """Chunks by the sum over rankings of weight / (RRF_K + rank), best first."""
    weights = weights if weights is not None else [1.0] * len(rankings)
    scores: dict[uuid.UUID, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, (chunk_id, _) in enumerate(ranking, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (RRF_K + rank)
    return sorted(scores.items(), key=lambda item: -item[1])
