"""Nearest chunks by vector: exact search over an in-process matrix on SQLite, pgvector's
HNSW index on PostgreSQL. Queries must use the model the dataset was embedded with."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select, text

from graphmill.db import Database
from graphmill.db.models import Chunk, ChunkVector, DatasetConfig
from graphmill.errors import EmbeddingMismatch


@dataclass(frozen=True)
class ChunkHit:
    chunk_id: uuid.UUID
    data_id: uuid.UUID
    text: str
    score: float  # cosine similarity


@dataclass
class _Matrix:
    version: tuple[int, int]
    ids: list[uuid.UUID]
    vectors: npt.NDArray[np.float32]


class VectorIndex:
    """Per-process cache of each dataset's chunk vectors (SQLite), rebuilt when they change."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._matrices: dict[uuid.UUID, _Matrix] = {}

    async def check_model(self, dataset_id: uuid.UUID, model: str, dimension: int) -> None:
        async with self.db.read() as session:
            config = await session.get(DatasetConfig, dataset_id)
        if config is None or config.embedding_model is None:
            return
        if (config.embedding_model, config.embedding_dimension) != (model, dimension):
            raise EmbeddingMismatch(
                f"dataset {dataset_id} was embedded with {config.embedding_model} "
                f"({config.embedding_dimension} dimensions); the query uses {model} "
                f"({dimension} dimensions)"
            )

    async def nearest(
        self,
        dataset_id: uuid.UUID,
        query: npt.NDArray[np.float32],
        model: str,
        k: int = 10,
    ) -> list[ChunkHit]:
        """The k chunks most similar to a unit-length query vector."""
        await self.check_model(dataset_id, model, int(query.shape[0]))
        if self.db.is_sqlite:
            ranked = await self._nearest_in_process(dataset_id, query, k)
        else:
            ranked = await self._nearest_pgvector(dataset_id, query, k)
        if not ranked:
            return []
        async with self.db.read() as session:
            rows = {
                c.id: c
                for c in await session.scalars(
                    select(Chunk).where(Chunk.id.in_([i for i, _ in ranked]))
                )
            }
        return [
            ChunkHit(i, rows[i].data_id, rows[i].text, score) for i, score in ranked if i in rows
        ]

    async def _nearest_in_process(
        self, dataset_id: uuid.UUID, query: npt.NDArray[np.float32], k: int
    ) -> list[tuple[uuid.UUID, float]]:
        async with self.db.read() as session:
            count, newest = (
                await session.execute(
                    select(func.count(), func.max(Chunk.created_at))
                    .select_from(ChunkVector)
                    .join(Chunk, Chunk.id == ChunkVector.chunk_id)
                    .where(ChunkVector.dataset_id == dataset_id)
                )
            ).one()
            version = (int(count), hash(newest))
            matrix = self._matrices.get(dataset_id)
            if matrix is None or matrix.version != version:
                rows: list[tuple[uuid.UUID, Any]] = [
                    (cast(uuid.UUID, chunk_id), embedding)
                    for chunk_id, embedding in await session.execute(
                        select(ChunkVector.chunk_id, ChunkVector.embedding).where(
                            ChunkVector.dataset_id == dataset_id
                        )
                    )
                ]
                vectors: npt.NDArray[np.float32] = (
                    np.stack([np.asarray(v, dtype=np.float32) for _, v in rows])
                    if rows
                    else np.empty((0, query.shape[0]), dtype=np.float32)
                )
                matrix = self._matrices[dataset_id] = _Matrix(
                    version, [i for i, _ in rows], vectors
                )
        if not matrix.ids:
            return []
        scores = matrix.vectors @ query.astype(np.float32)
        top = np.argsort(-scores)[:k]
        return [(matrix.ids[i], float(scores[i])) for i in top]

    async def _nearest_pgvector(
        self, dataset_id: uuid.UUID, query: npt.NDArray[np.float32], k: int
    ) -> list[tuple[uuid.UUID, float]]:
        dimension = int(query.shape[0])
        # The cast matches the partial HNSW index for this dimension.
        statement = text(
            f"SELECT chunk_id, 1 - (embedding::vector({dimension}) <=> :q) AS score "
            "FROM chunk_vectors WHERE dataset_id = :d AND dimension = :n "
            f"ORDER BY embedding::vector({dimension}) <=> :q LIMIT :k"
        )
        async with self.db.read() as session:
            rows = await session.execute(
                statement,
                {"q": query.astype(np.float32), "d": dataset_id, "n": dimension, "k": k},
            )
            return [(uuid.UUID(str(chunk_id)), float(str(score))) for chunk_id, score in rows]
