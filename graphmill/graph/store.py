"""The graph store: an item's chunks, entities, relations and vectors, with provenance.

Every node and edge records each data item that supports it (`node_sources`,
`edge_sources`) and keeps their mentions summed and their descriptions merged, so writing an
item touches only its own rows and the nodes and edges it names. Rewriting an item first
takes back what it contributed; removing one deletes what only it supported and rebuilds
the rest from the remaining sources.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from sqlalchemy import ColumnElement, Table, bindparam, case, delete, exists, func, or_, select
from sqlalchemy import text as sql
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from graphmill.db import Database, dialect_insert
from graphmill.db.models import (
    Chunk,
    ChunkVector,
    Data,
    DatasetConfig,
    DocumentSummary,
    Edge,
    EdgeSource,
    Node,
    NodeSource,
)
from graphmill.graph.model import Entity, Relation, normalize_name

MAX_DESCRIPTION = 2000

# The write path runs Core statements on the tables: the ORM's unit of work and its
# per-row bookkeeping cost more than the SQL itself here.
CHUNKS = cast(Table, Chunk.__table__)
CHUNK_VECTORS = cast(Table, ChunkVector.__table__)
DATA = cast(Table, Data.__table__)
DATASET_CONFIGS = cast(Table, DatasetConfig.__table__)
SUMMARIES = cast(Table, DocumentSummary.__table__)
NODES = cast(Table, Node.__table__)
NODE_SOURCES = cast(Table, NodeSource.__table__)
EDGES = cast(Table, Edge.__table__)
EDGE_SOURCES = cast(Table, EdgeSource.__table__)


def node_key(name: str, type_: str) -> str:
    return f"{normalize_name(name)}|{type_.strip().casefold()}"[:512]


@dataclass
class ItemGraph:
    """What one data item contributes: chunks, vectors, entities, relations, summary."""

    chunks: list[tuple[str, int, str | None]] = field(default_factory=list)  # text, tokens, summary
    chunk_vectors: npt.NDArray[np.float32] | None = None
    entities: list[Entity] = field(default_factory=list)
    entity_mentions: dict[str, int] = field(default_factory=dict)  # node key -> mentions
    entity_vectors: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)
    relations: list[Relation] = field(default_factory=list)
    summary: str | None = None
    embedding_model: str = ""
    embedding_dimension: int = 0


def merge_descriptions(descriptions: Iterable[str]) -> str:
    """The descriptions in order, each left out when the text so far already contains it,
    capped at MAX_DESCRIPTION. `_appended` is the same step in SQL."""
    merged = ""
    for text in descriptions:
        text = text.strip()
        if text and text not in merged:
            merged = (f"{merged} {text}" if merged else text)[:MAX_DESCRIPTION]
    return merged


def _appended(current: Any, new: Any, dialect: str) -> ColumnElement[str]:
    """merge_descriptions([current, new]) in SQL, for two merged descriptions."""
    found = func.strpos(current, new) if dialect == "postgresql" else func.instr(current, new)
    return case(
        (or_(new == "", found > 0), current),
        (current == "", new),
        else_=func.substr(current + " " + new, 1, MAX_DESCRIPTION),
    )


async def remove_item(session: AsyncSession, data_id: uuid.UUID) -> None:
    """Take back everything a data item contributed; what others support stays, rebuilt."""
    await _take_back(await session.connection(), data_id)


async def _take_back(conn: AsyncConnection, data_id: uuid.UUID) -> None:
    await conn.execute(delete(CHUNKS).where(CHUNKS.c.data_id == data_id))  # vectors cascade
    await conn.execute(delete(SUMMARIES).where(SUMMARIES.c.data_id == data_id))
    lost_nodes = await conn.execute(
        delete(NODE_SOURCES)
        .where(NODE_SOURCES.c.data_id == data_id)
        .returning(NODE_SOURCES.c.node_id, NODE_SOURCES.c.mentions, NODE_SOURCES.c.description)
    )
    lost_edges = await conn.execute(
        delete(EDGE_SOURCES)
        .where(EDGE_SOURCES.c.data_id == data_id)
        .returning(EDGE_SOURCES.c.edge_id, EDGE_SOURCES.c.mentions, EDGE_SOURCES.c.description)
    )
    nodes = [(i, m, d) for i, m, d in lost_nodes]
    await _rebuild(conn, EDGES, EDGE_SOURCES.c.edge_id, [(i, m, d) for i, m, d in lost_edges])
    await _rebuild(conn, NODES, NODE_SOURCES.c.node_id, nodes)


async def _rebuild(
    conn: AsyncConnection,
    table: Table,
    owner: Any,
    lost: Sequence[tuple[uuid.UUID, int, str]],
) -> None:
    """After one item's sources of nodes or edges were deleted: delete those no source
    supports any more (a node's edges go with it), take the lost mentions off the others
    and re-merge the descriptions of those that lost one."""
    if not lost:
        return
    sources = owner.table
    orphans = set(
        (
            await conn.execute(
                delete(table)
                .where(
                    table.c.id.in_(sorted(i for i, _, _ in lost)),
                    ~exists().where(owner == table.c.id),
                )
                .returning(table.c.id)
            )
        ).scalars()
    )
    kept = sorted((i, m, d) for i, m, d in lost if i not in orphans)
    mentions_only = [{"b_id": i, "b_lost": m} for i, m, d in kept if not d]
    reread = [i for i, _, d in kept if d]
    remaining: dict[uuid.UUID, list[str]] = {i: [] for i in reread}
    if reread:
        rows = await conn.execute(
            select(owner, sources.c.description)
            .where(owner.in_(reread))
            .order_by(owner, sources.c.data_id)
        )
        for owner_id, description in rows:
            remaining[owner_id].append(description)
    where = table.c.id == bindparam("b_id")
    lower = table.c.mentions - bindparam("b_lost")
    if mentions_only:
        await conn.execute(update(table).where(where).values(mentions=lower), mentions_only)
    if reread:
        await conn.execute(
            update(table).where(where).values(mentions=lower, description=bindparam("b_text")),
            [
                {"b_id": i, "b_lost": m, "b_text": merge_descriptions(remaining[i])}
                for i, m, d in kept
                if d
            ],
        )


async def write_item(
    session: AsyncSession,
    dataset_id: uuid.UUID,
    data_id: uuid.UUID,
    content_hash: str,
    graph: ItemGraph,
) -> None:
    """Replace the item's contribution with `graph`, in the caller's transaction."""
    conn = await session.connection()
    tokens = sum(tokens for _, tokens, _ in graph.chunks)
    if await _set_token_count(conn, data_id, tokens):
        await _take_back(conn, data_id)
    await _write_chunks(conn, dataset_id, data_id, content_hash, graph)
    node_ids, by_name = await _write_nodes(conn, dataset_id, data_id, graph)
    await _write_edges(conn, dataset_id, data_id, graph.relations, node_ids, by_name)


async def _set_token_count(conn: AsyncConnection, data_id: uuid.UUID, tokens: int) -> bool:
    """Record the item's token count; True when the item has written a graph before."""
    written = or_(
        *(
            exists().where(t.c.data_id == data_id)
            for t in (CHUNKS, SUMMARIES, NODE_SOURCES, EDGE_SOURCES)
        )
    )
    result = await conn.execute(
        update(DATA).where(DATA.c.id == data_id).values(token_count=tokens).returning(written)
    )
    return bool(result.scalar())


async def _write_chunks(
    conn: AsyncConnection,
    dataset_id: uuid.UUID,
    data_id: uuid.UUID,
    content_hash: str,
    graph: ItemGraph,
) -> None:
    chunk_ids = [uuid.uuid4() for _ in graph.chunks]
    if chunk_ids:
        await conn.execute(
            CHUNKS.insert(),
            [
                {
                    "id": chunk_id,
                    "dataset_id": dataset_id,
                    "data_id": data_id,
                    "content_hash": content_hash,
                    "idx": idx,
                    "text": text,
                    "token_count": tokens,
                    "summary": summary,
                }
                for idx, (chunk_id, (text, tokens, summary)) in enumerate(
                    zip(chunk_ids, graph.chunks, strict=True)
                )
            ],
        )
    if chunk_ids and graph.chunk_vectors is not None:
        await conn.execute(
            CHUNK_VECTORS.insert(),
            [
                {
                    "chunk_id": chunk_id,
                    "dataset_id": dataset_id,
                    "model": graph.embedding_model,
                    "dimension": graph.embedding_dimension,
                    "embedding": graph.chunk_vectors[idx],
                }
                for idx, chunk_id in enumerate(chunk_ids)
            ],
        )
    if graph.summary:
        await conn.execute(
            SUMMARIES.insert().values(data_id=data_id, dataset_id=dataset_id, text=graph.summary)
        )


async def _write_nodes(
    conn: AsyncConnection, dataset_id: uuid.UUID, data_id: uuid.UUID, graph: ItemGraph
) -> tuple[dict[str, uuid.UUID], dict[str, str]]:
    """Upsert the item's entities (adding its mentions and description to nodes that exist)
    and record it as their source; node ids by key, and keys by normalised name."""
    by_name: dict[str, str] = {}
    descriptions: dict[str, str] = {}
    first: dict[str, Entity] = {}
    for entity in graph.entities:
        key = node_key(entity.name, entity.type)
        by_name.setdefault(normalize_name(entity.name), key)
        descriptions[key] = merge_descriptions([descriptions.get(key, ""), entity.description])
        first.setdefault(key, entity)
    if not first:
        return {}, by_name
    keys = sorted(first)  # one lock order for every writer
    mentions = {key: graph.entity_mentions.get(key, 1) for key in keys}
    dialect = conn.dialect.name
    insert = dialect_insert(cast(AsyncSession, conn))(NODES)
    rows = await conn.execute(
        insert.on_conflict_do_update(
            index_elements=[NODES.c.dataset_id, NODES.c.key],
            set_={
                "mentions": NODES.c.mentions + insert.excluded.mentions,
                "description": _appended(NODES.c.description, insert.excluded.description, dialect),
            },
        ).returning(NODES.c.key, NODES.c.id),
        [
            {
                "id": uuid.uuid4(),
                "dataset_id": dataset_id,
                "key": key,
                "name": first[key].name.strip(),
                "type": first[key].type.strip() or "Entity",
                "description": descriptions[key],
                "mentions": mentions[key],
                "embedding": graph.entity_vectors.get(key),
            }
            for key in keys
        ],
    )
    node_ids: dict[str, uuid.UUID] = {key: node_id for key, node_id in rows}
    await conn.execute(
        NODE_SOURCES.insert(),
        [
            {
                "node_id": node_ids[key],
                "data_id": data_id,
                "mentions": mentions[key],
                "description": descriptions[key],
            }
            for key in keys
        ],
    )
    return node_ids, by_name


async def _write_edges(
    conn: AsyncConnection,
    dataset_id: uuid.UUID,
    data_id: uuid.UUID,
    relations: Sequence[Relation],
    node_ids: dict[str, uuid.UUID],
    by_name: dict[str, str],
) -> None:
    """Upsert the item's relations between its entities, and record it as their source."""
    found: dict[tuple[uuid.UUID, uuid.UUID, str], tuple[int, str]] = {}
    for relation in relations:
        source = by_name.get(normalize_name(relation.source))
        target = by_name.get(normalize_name(relation.target))
        if source is None or target is None or source == target:
            continue
        triple = (node_ids[source], node_ids[target], relation.name.strip()[:255] or "related_to")
        count, text = found.get(triple, (0, ""))
        found[triple] = (count + 1, merge_descriptions([text, relation.description]))
    if not found:
        return
    triples = sorted(found)  # one lock order for every writer
    dialect = conn.dialect.name
    insert = dialect_insert(cast(AsyncSession, conn))(EDGES)
    rows = await conn.execute(
        insert.on_conflict_do_update(
            index_elements=[
                EDGES.c.dataset_id,
                EDGES.c.source_id,
                EDGES.c.target_id,
                EDGES.c.relation,
            ],
            set_={
                "mentions": EDGES.c.mentions + insert.excluded.mentions,
                "description": _appended(EDGES.c.description, insert.excluded.description, dialect),
            },
        ).returning(EDGES.c.source_id, EDGES.c.target_id, EDGES.c.relation, EDGES.c.id),
        [
            {
                "id": uuid.uuid4(),
                "dataset_id": dataset_id,
                "source_id": source_id,
                "target_id": target_id,
                "relation": name,
                "mentions": found[(source_id, target_id, name)][0],
                "description": found[(source_id, target_id, name)][1],
            }
            for source_id, target_id, name in triples
        ],
    )
    edge_ids = {(s, t, r): edge_id for s, t, r, edge_id in rows}
    await conn.execute(
        EDGE_SOURCES.insert(),
        [
            {
                "edge_id": edge_ids[triple],
                "data_id": data_id,
                "mentions": found[triple][0],
                "description": found[triple][1],
            }
            for triple in triples
        ],
    )


async def record_embedding_model(
    session: AsyncSession, dataset_id: uuid.UUID, model: str, dimension: int
) -> None:
    """Remember which model made the dataset's vectors (first writer wins), in one statement.
    A caller that already read the dataset's config with this model recorded can skip it."""
    insert = dialect_insert(session)(DATASET_CONFIGS).values(
        dataset_id=dataset_id, embedding_model=model, embedding_dimension=dimension
    )
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=[DATASET_CONFIGS.c.dataset_id],
            set_={
                "embedding_model": insert.excluded.embedding_model,
                "embedding_dimension": insert.excluded.embedding_dimension,
            },
            where=DATASET_CONFIGS.c.embedding_model.is_(None),
        )
    )


async def ensure_vector_index(db: Database, dimension: int) -> None:
    """On PostgreSQL, an HNSW index over vectors of this dimension. Made outside any item's
    transaction (DDL there would block concurrent writers) and only when missing, since
    even `CREATE INDEX IF NOT EXISTS` waits for the table's writers; callers remember the
    dimensions they have ensured."""
    if db.is_sqlite:
        return
    name = f"ix_chunk_vectors_hnsw_{int(dimension)}"
    async with db.read() as session:
        present = await session.scalar(sql("SELECT to_regclass(:name) IS NOT NULL"), {"name": name})
    if present:
        return
    async with db.write() as session:
        await session.execute(
            sql(
                f"CREATE INDEX IF NOT EXISTS {name} "
                f"ON chunk_vectors USING hnsw ((embedding::vector({int(dimension)})) "
                f"vector_cosine_ops) WHERE dimension = {int(dimension)}"
            )
        )


@dataclass(frozen=True)
class GraphView:
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]


async def read_graph(db: Database, dataset_id: uuid.UUID) -> GraphView:
    """Nodes and edges of a dataset in cognee's formatted-graph shape."""
    async with db.read() as session:
        nodes = (
            await session.execute(
                select(Node.id, Node.name, Node.type, Node.description, Node.mentions)
                .where(Node.dataset_id == dataset_id)
                .order_by(Node.mentions.desc(), Node.name)
            )
        ).all()
        sources = await session.execute(
            select(NodeSource.node_id, func.count())
            .join(Node, Node.id == NodeSource.node_id)
            .where(Node.dataset_id == dataset_id)
            .group_by(NodeSource.node_id)
        )
        source_counts = dict(sources.all())
        edges = (
            await session.execute(
                select(Edge.source_id, Edge.target_id, Edge.relation, Edge.description)
                .where(Edge.dataset_id == dataset_id)
                .order_by(Edge.relation)
            )
        ).all()
    return GraphView(
        nodes=[
            {
                "id": node_id,
                "label": name or f"{type_}_{node_id}",
                "type": type_,
                "properties": {
                    "description": description,
                    "mentions": mentions,
                    "sources": source_counts.get(node_id, 0),
                },
            }
            for node_id, name, type_, description, mentions in nodes
        ],
        edges=[
            {"source": s, "target": t, "label": relation, "description": description}
            for s, t, relation, description in edges
        ],
    )


@dataclass(frozen=True)
class GraphCounts:
    dataset_id: uuid.UUID
    num_nodes: int
    num_edges: int


async def graph_counts(db: Database, dataset_ids: Sequence[uuid.UUID]) -> list[GraphCounts]:
    """Node and edge counts per dataset."""
    if not dataset_ids:
        return []
    async with db.read() as session:
        nodes = dict(
            (
                await session.execute(
                    select(Node.dataset_id, func.count())
                    .where(Node.dataset_id.in_(dataset_ids))
                    .group_by(Node.dataset_id)
                )
            ).all()
        )
        edges = dict(
            (
                await session.execute(
                    select(Edge.dataset_id, func.count())
                    .where(Edge.dataset_id.in_(dataset_ids))
                    .group_by(Edge.dataset_id)
                )
            ).all()
        )
    return [GraphCounts(d, nodes.get(d, 0), edges.get(d, 0)) for d in dataset_ids]
