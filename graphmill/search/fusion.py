"""Reciprocal rank fusion: one ranking from several, by rank alone (scores of different
retrievers are not comparable), as Cormack, Clarke and Büttcher (SIGIR 2009) define it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

# The paper's constant is 60, for long lists; ours are short (a few dozen) and their first
# ranks carry the signal: with 10, a first place counts about twice a tenth.
RRF_K = 10

Ranking = Sequence[tuple[uuid.UUID, float]]  # (chunk id, retriever's score), best first


def fuse(
    rankings: Sequence[Ranking], weights: Sequence[float] | None = None, k: int = RRF_K
) -> list[tuple[uuid.UUID, float]]:
    """Chunks by the sum over rankings of weight / (k + rank), best first."""
    weights = weights if weights is not None else [1.0] * len(rankings)
    scores: dict[uuid.UUID, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, (chunk_id, _) in enumerate(ranking, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: -item[1])
