"""Nearest chunks and entities by vector, exact on SQLite, pgvector's HNSW on PostgreSQL.

SQLite: a process keeps each dataset's vectors in memory, one float32 matrix per dataset and
kind, and brings it up to date before every query from the store's entry log
(`search_chunks`, `search_nodes`: triggers number new rows in commit order, whichever
process writes them). When nothing changed that costs one index probe. Rows deleted since
(an item deleted or cognified again) are caught when they rank: the store no longer has
them, so they leave the copy and the ranking is redone. No copy can go stale.

PostgreSQL: the vectors never leave the store; HNSW answers, and an exact scan of the
dataset's rows does when the index cannot give k rows of that dataset (a small dataset in a
large store).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Integer, Table, bindparam, select, text
from sqlalchemy.types import Uuid

from graphmill.db import Database
from graphmill.db.models import Chunk, ChunkVector, Node, SearchChunk, SearchNode

Vector = npt.NDArray[np.float32]
Codes = npt.NDArray[np.uint64]
Ranking = list[tuple[uuid.UUID, float]]

LOAD_BATCH = 20_000  # rows per read when a copy catches up
THREAD_ROWS = 20_000  # larger matrices are scored exactly off the event loop
CODED_THREAD_ROWS = 400_000  # and ranked by their codes first off the event loop
PREFILTER_ROWS = 10_000  # larger copies are ranked by their sign codes first
OVERSAMPLE = 50  # rows scored exactly per row asked for, after the codes...
MIN_CANDIDATES = 2000  # ...at least these...
MIN_SHARE = 10  # ...and at least one row in this many
HNSW_MAX_EF = 1000

_SEARCH_CHUNKS = cast(Table, SearchChunk.__table__)
_SEARCH_NODES = cast(Table, SearchNode.__table__)


@dataclass
class _Kind:
    """One kind of vector (chunks or entities): where its rows and its log are."""

    name: str
    new_rows: Any  # (seq, id, group, embedding) after a seq, in seq order
    present: Any  # which of some ids the store still has
    nearest_pg: str  # pgvector query; {dim} is the dimension


def _kinds() -> dict[str, _Kind]:
    after = bindparam("after", type_=Integer())
    dataset = bindparam("dataset_id", type_=Uuid())
    chunks = _Kind(
        "chunks",
        select(_SEARCH_CHUNKS.c.seq, Chunk.id, Chunk.data_id, ChunkVector.embedding)
        .join(Chunk, Chunk.id == _SEARCH_CHUNKS.c.chunk_id)
        .join(ChunkVector, ChunkVector.chunk_id == Chunk.id)
        .where(_SEARCH_CHUNKS.c.dataset_id == dataset, _SEARCH_CHUNKS.c.seq > after)
        .order_by(_SEARCH_CHUNKS.c.seq)
        .limit(LOAD_BATCH),
        select(Chunk.id).where(Chunk.id.in_(bindparam("ids", expanding=True))),
        "SELECT chunk_id, 1 - (embedding::vector({dim}) <=> :q) AS score FROM {rows} "
        "WHERE dataset_id = :d AND dimension = {dim} {filter} "
        "ORDER BY embedding::vector({dim}) <=> :q LIMIT :k",
    )
    nodes = _Kind(
        "nodes",
        select(_SEARCH_NODES.c.seq, Node.id, Node.id, Node.embedding)
        .join(Node, Node.id == _SEARCH_NODES.c.node_id)
        .where(
            _SEARCH_NODES.c.dataset_id == dataset,
            _SEARCH_NODES.c.seq > after,
            Node.embedding.is_not(None),
        )
        .order_by(_SEARCH_NODES.c.seq)
        .limit(LOAD_BATCH),
        select(Node.id).where(Node.id.in_(bindparam("ids", expanding=True))),
        "SELECT id, 1 - (embedding::vector({dim}) <=> :q) AS score FROM {rows} "
        "WHERE dataset_id = :d AND vector_dims(embedding) = {dim} {filter} "
        "ORDER BY embedding::vector({dim}) <=> :q LIMIT :k",
    )
    return {"chunks": chunks, "nodes": nodes}


_KINDS = _kinds()


@dataclass
class _Copy:
    """One dataset's vectors of one kind, as of entry `last_seq`.

    Beside each float32 row, its sign code (one bit per dimension: is it above the copy's
    mean): a large copy is ranked by the Hamming distance of the codes to the query's
    first, 32 times fewer bytes than the rows, then the best `candidates()` rows are scored
    exactly. The codes are kept one word column per 64 dimensions, so the distance is a few
    passes over contiguous words."""

    dimension: int
    last_seq: int = 0
    ids: list[uuid.UUID] = field(default_factory=list)
    groups: list[uuid.UUID] = field(default_factory=list)  # a chunk's data item
    rows: Vector = field(default_factory=lambda: np.empty((0, 0), dtype=np.float32))
    codes: Codes = field(default_factory=lambda: np.empty((0, 0), dtype=np.uint64))
    center: Vector | None = None  # the mean the codes are taken against
    coded_at: int = 0  # rows when the center was last taken
    size: int = 0
    position: dict[uuid.UUID, int] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return int(self.rows.nbytes + self.codes.nbytes)

    def append(self, batch: list[tuple[uuid.UUID, uuid.UUID, Vector]]) -> None:
        fresh: dict[uuid.UUID, tuple[uuid.UUID, Vector]] = {}
        for item_id, group, vector in batch:
            if item_id not in self.position:  # else already held (a reload racing a catch-up)
                fresh.setdefault(item_id, (group, vector))
        if not fresh:
            return
        start, needed = self.size, self.size + len(fresh)
        if needed > self.rows.shape[0]:
            capacity = max(needed, 2 * self.rows.shape[0], 64)
            grown = np.empty((capacity, self.dimension), np.float32)
            grown[:start] = self.rows[:start]
            self.rows = grown
            codes = np.empty((_words(self.dimension), capacity), np.uint64)
            codes[:, :start] = self.codes[:, :start]
            self.codes = codes
        for at, (item_id, (group, vector)) in enumerate(fresh.items(), start):
            self.rows[at] = vector
            self.position[item_id] = at
            self.ids.append(item_id)
            self.groups.append(group)
        self.size = needed
        if self.center is None or needed >= 2 * self.coded_at:
            self._recode()  # the mean of the rows held, again each time they double
        else:
            self.codes[:, start:needed] = _signs(self.rows[start:needed], self.center).T

    def _recode(self) -> None:
        self.center = self.rows[: self.size].mean(axis=0, dtype=np.float64).astype(np.float32)
        self.coded_at = self.size
        for at in range(0, self.size, LOAD_BATCH):
            end = min(at + LOAD_BATCH, self.size)
            self.codes[:, at:end] = _signs(self.rows[at:end], self.center).T

    def drop(self, gone: Collection[uuid.UUID]) -> None:
        """Forget rows the store no longer has: the last row moves into each hole."""
        for item_id in gone:
            at = self.position.pop(item_id, None)
            if at is None:
                continue
            last = self.size - 1
            if at != last:
                moved = self.ids[last]
                self.rows[at] = self.rows[last]
                self.codes[:, at] = self.codes[:, last]
                self.ids[at], self.groups[at] = moved, self.groups[last]
                self.position[moved] = at
            self.ids.pop()
            self.groups.pop()
            self.size -= 1

    def candidates(self, k: int) -> int:
        """Rows a query for k rows scores exactly after the codes. Generous: sign codes
        of text embeddings rank coarsely. Measured on real text (MiniLM, 126 questions):
        the exact top 10 of 4,471 sentence vectors lies within the codes' best 12.5 % for
        every question, within their best 2 % for only 72 %; of ~1,000 vectors, 20 % are
        needed (tests/test_search_dense.py). The share needed falls as the copy grows."""
        return max(OVERSAMPLE * k, MIN_CANDIDATES, self.size // MIN_SHARE)

    def prefiltered(self, k: int) -> bool:
        """Whether a query for k rows ranks by the codes first."""
        return self.size >= max(PREFILTER_ROWS, 2 * self.candidates(k))

    def top(
        self,
        query: Vector,
        k: int,
        groups: Collection[uuid.UUID] | None,
        candidates: int | None = None,
    ) -> Ranking:
        """The k best rows: the `candidates` (default `self.candidates(k)` for a large copy)
        nearest by their codes, scored exactly, or all rows scored exactly."""
        if self.size == 0:
            return []
        allowed = None
        if groups is not None:
            allowed = np.fromiter((g in groups for g in self.groups), bool, self.size)
        if candidates is None and self.prefiltered(k):
            candidates = self.candidates(k)
        if candidates is not None and candidates < self.size:
            rows = self._nearest_codes(query, candidates, allowed)
            scores = np.take(self.rows, rows, axis=0) @ query  # (faster than self.rows[rows])
        else:
            rows = np.arange(self.size)
            scores = self.rows[: self.size] @ query
            if allowed is not None:
                scores = np.where(allowed, scores, -np.inf)
        k = min(k, scores.shape[0])
        best = np.argpartition(-scores, k - 1)[:k] if k < scores.shape[0] else np.arange(k)
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(self.ids[rows[i]], float(scores[i])) for i in best if np.isfinite(scores[i])]

    def _nearest_codes(
        self, query: Vector, n: int, allowed: npt.NDArray[np.bool_] | None
    ) -> npt.NDArray[np.intp]:
        """The rows whose codes are nearest the query's: at least n (all of those at the
        n-th row's distance), among the allowed ones."""
        assert self.center is not None
        code = _signs(query[None, :], self.center)[0]
        distance = np.bitwise_count(self.codes[0, : self.size] ^ code[0]).astype(np.uint16)
        for word in range(1, code.shape[0]):
            distance += np.bitwise_count(self.codes[word, : self.size] ^ code[word])
        farthest = 64 * code.shape[0]
        if allowed is not None:
            distance[~allowed] = farthest + 1
        within = np.cumsum(np.bincount(distance, minlength=farthest + 2))
        limit = min(int(np.searchsorted(within, n)), farthest)
        return np.flatnonzero(distance <= limit)


def _words(dimension: int) -> int:
    return -(-dimension // 64)


def _signs(vectors: Vector, center: Vector) -> Codes:
    """(n, words) sign codes: bit i of a row is set when dimension i is above the center."""
    bits = np.packbits(vectors > center, axis=1)
    padded = np.zeros((bits.shape[0], 8 * _words(vectors.shape[1])), np.uint8)
    padded[:, : bits.shape[1]] = bits
    return padded.view(np.uint64)


class VectorSearch:
    """Nearest rows by cosine similarity (vectors are unit length), per dataset and kind."""

    def __init__(self, db: Database, cache_bytes: int) -> None:
        self.db = db
        self.cache_bytes = cache_bytes
        self._copies: OrderedDict[tuple[str, uuid.UUID], _Copy] = OrderedDict()
        self._locks: dict[tuple[str, uuid.UUID], asyncio.Lock] = {}

    async def nearest_chunks(
        self,
        dataset_id: uuid.UUID,
        query: Vector,
        k: int,
        data_ids: Collection[uuid.UUID] | None = None,
    ) -> Ranking:
        """The k chunks most similar to the query, optionally among some data items only."""
        return await self._nearest("chunks", dataset_id, query, k, data_ids)

    async def nearest_nodes(self, dataset_id: uuid.UUID, query: Vector, k: int) -> Ranking:
        """The k entities whose name vectors are most similar to the query."""
        return await self._nearest("nodes", dataset_id, query, k, None)

    async def _nearest(
        self,
        kind: str,
        dataset_id: uuid.UUID,
        query: Vector,
        k: int,
        groups: Collection[uuid.UUID] | None,
    ) -> Ranking:
        query = np.ascontiguousarray(query, dtype=np.float32)
        if not self.db.is_sqlite:
            return await self._nearest_pgvector(_KINDS[kind], dataset_id, query, k, groups)
        copy = await self._caught_up(kind, dataset_id, int(query.shape[0]))
        while True:
            if copy.size > (CODED_THREAD_ROWS if copy.prefiltered(k) else THREAD_ROWS):
                loop = asyncio.get_running_loop()
                ranked = await loop.run_in_executor(None, copy.top, query, k, groups)
            else:
                ranked = copy.top(query, k, groups)
            if not ranked:
                return ranked
            ids = {"ids": [i for i, _ in ranked]}
            present = {
                row[0] for row in await self.db.read_rows(_KINDS[kind].present, ids, inline=True)
            }
            gone = [i for i, _ in ranked if i not in present]
            if not gone:
                return ranked
            copy.drop(gone)

    async def _caught_up(self, kind: str, dataset_id: uuid.UUID, dimension: int) -> _Copy:
        key = (kind, dataset_id)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            copy = self._copies.get(key)
            if copy is None or copy.dimension != dimension:
                copy = _Copy(dimension)
                copy.rows = np.empty((0, dimension), dtype=np.float32)
                copy.codes = np.empty((_words(dimension), 0), dtype=np.uint64)
                self._copies[key] = copy
            self._copies.move_to_end(key)
            statement = _KINDS[kind].new_rows
            while True:
                rows = await self.db.read_rows(
                    statement, {"dataset_id": dataset_id, "after": copy.last_seq}
                )
                if not rows:
                    break
                copy.append(
                    [
                        (item_id, group, vector)
                        for _, item_id, group, vector in rows
                        if vector is not None and vector.shape[0] == dimension
                    ]
                )
                copy.last_seq = int(rows[-1][0])
                if len(rows) < LOAD_BATCH:
                    break
            self._evict(keep=key)
            return copy

    def _evict(self, keep: tuple[str, uuid.UUID]) -> None:
        """Least recently used copies go while the copies exceed the cache size."""
        total = sum(c.nbytes for c in self._copies.values())
        for key in list(self._copies):
            if total <= self.cache_bytes:
                break
            if key == keep:
                continue
            total -= self._copies.pop(key).nbytes
            self._locks.pop(key, None)

    async def _nearest_pgvector(
        self,
        kind: _Kind,
        dataset_id: uuid.UUID,
        query: Vector,
        k: int,
        groups: Collection[uuid.UUID] | None,
    ) -> Ranking:
        dimension = int(query.shape[0])
        restrict = "AND chunk_id IN (SELECT id FROM chunks WHERE data_id = ANY(:g))"
        params: dict[str, Any] = {"q": query, "d": dataset_id, "k": k}
        if groups is not None:
            params["g"] = list(groups)
        where = restrict if groups is not None else ""
        table = "chunk_vectors" if kind.name == "chunks" else "nodes"
        statement = text(kind.nearest_pg.format(dim=dimension, rows=table, filter=where))
        ef_search = text(f"SET LOCAL hnsw.ef_search = {min(HNSW_MAX_EF, max(40, 2 * k))}")

        def read(conn: Connection) -> list[Any]:
            conn.execute(ef_search)
            rows = list(conn.execute(statement, params))
            if len(rows) < k:
                # HNSW gives the store's nearest rows, then filters by dataset: for a small
                # dataset that can be fewer than k. Without index scans the order is exact.
                conn.execute(text("SET LOCAL enable_indexscan = off"))
                rows = list(conn.execute(statement, params))
            return rows

        rows = await self.db.run_read(read)
        return [(uuid.UUID(str(i)), float(str(score))) for i, score in rows]
