"""The graph store: an item's chunks, entities, relations and vectors, with provenance.

Every node and edge records each data item that supports it (`node_sources`,
`edge_sources`). Writing an item first removes what it contributed before, so a replay
cannot duplicate; removing an item deletes what only it supported and rebuilds the rest.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, func, select, update
from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import AsyncSession

from graphmill.cognify.offline import normalize_name
from graphmill.cognify.types import Entity, Relation
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
    PipelineRun,
)

MAX_DESCRIPTION = 2000


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
    seen: dict[str, None] = {}
    for text in descriptions:
        text = text.strip()
        if text and text not in seen:
            seen[text] = None
    return " ".join(seen)[:MAX_DESCRIPTION]


async def remove_item(session: AsyncSession, data_id: uuid.UUID) -> None:
    """Take back everything a data item contributed; what others support stays, rebuilt."""
    await session.execute(delete(Chunk).where(Chunk.data_id == data_id))
    await session.execute(delete(DocumentSummary).where(DocumentSummary.data_id == data_id))
    node_ids = list(
        await session.scalars(
            delete(NodeSource).where(NodeSource.data_id == data_id).returning(NodeSource.node_id)
        )
    )
    edge_ids = list(
        await session.scalars(
            delete(EdgeSource).where(EdgeSource.data_id == data_id).returning(EdgeSource.edge_id)
        )
    )
    await _refresh_edges(session, edge_ids)
    await _refresh_nodes(session, node_ids)


async def _refresh(
    session: AsyncSession,
    model: type[Node] | type[Edge],
    source: type[NodeSource] | type[EdgeSource],
    owner: Any,
    ids: Sequence[uuid.UUID],
) -> None:
    """Recompute mentions and descriptions of nodes or edges from their remaining sources,
    deleting those no source supports any more (a node's edges go with it)."""
    wanted = sorted(set(ids))
    if not wanted:
        return
    rows = await session.execute(
        select(owner, source.mentions, source.description)
        .where(owner.in_(wanted))
        .order_by(owner, source.data_id)
    )
    grouped: dict[uuid.UUID, list[tuple[int, str]]] = {}
    for owner_id, mentions, description in rows:
        grouped.setdefault(cast(uuid.UUID, owner_id), []).append(
            (cast(int, mentions), cast(str, description))
        )
    orphans = [i for i in wanted if i not in grouped]
    if orphans:
        await session.execute(delete(model).where(model.id.in_(orphans)))
    if grouped:
        await session.execute(
            update(model),
            [
                {
                    "id": owner_id,
                    "mentions": sum(m for m, _ in sources),
                    "description": merge_descriptions(d for _, d in sources),
                }
                for owner_id, sources in grouped.items()
            ],
        )


async def _refresh_nodes(session: AsyncSession, node_ids: Sequence[uuid.UUID]) -> None:
    await _refresh(session, Node, NodeSource, NodeSource.node_id, node_ids)


async def _refresh_edges(session: AsyncSession, edge_ids: Sequence[uuid.UUID]) -> None:
    await _refresh(session, Edge, EdgeSource, EdgeSource.edge_id, edge_ids)


async def write_item(
    session: AsyncSession,
    dataset_id: uuid.UUID,
    data_id: uuid.UUID,
    content_hash: str,
    graph: ItemGraph,
) -> None:
    """Replace the item's contribution with `graph`, in the caller's transaction."""
    await remove_item(session, data_id)
    insert = dialect_insert(session)
    for idx, (text, tokens, summary) in enumerate(graph.chunks):
        chunk_id = uuid.uuid4()
        session.add(
            Chunk(
                id=chunk_id,
                dataset_id=dataset_id,
                data_id=data_id,
                content_hash=content_hash,
                idx=idx,
                text=text,
                token_count=tokens,
                summary=summary,
            )
        )
        if graph.chunk_vectors is not None:
            session.add(
                ChunkVector(
                    chunk_id=chunk_id,
                    dataset_id=dataset_id,
                    model=graph.embedding_model,
                    dimension=graph.embedding_dimension,
                    embedding=graph.chunk_vectors[idx],
                )
            )
    if graph.summary:
        session.add(DocumentSummary(data_id=data_id, dataset_id=dataset_id, text=graph.summary))
    await session.execute(
        update(Data)
        .where(Data.id == data_id)
        .values(token_count=sum(tokens for _, tokens, _ in graph.chunks))
    )
    await session.flush()

    by_name: dict[str, str] = {}
    descriptions: dict[str, str] = {}
    first: dict[str, Entity] = {}
    for entity in graph.entities:
        key = node_key(entity.name, entity.type)
        by_name.setdefault(normalize_name(entity.name), key)
        descriptions[key] = merge_descriptions([descriptions.get(key, ""), entity.description])
        first.setdefault(key, entity)
    keys = sorted(first)  # one lock order for every writer
    if keys:
        await session.execute(
            insert(Node)
            .values(
                [
                    {
                        "id": uuid.uuid4(),
                        "dataset_id": dataset_id,
                        "key": key,
                        "name": first[key].name.strip(),
                        "type": first[key].type.strip() or "Entity",
                        "description": "",
                        "mentions": 0,
                        "embedding": graph.entity_vectors.get(key),
                    }
                    for key in keys
                ]
            )
            .on_conflict_do_nothing(index_elements=["dataset_id", "key"])
        )
    node_ids = await _node_ids(session, dataset_id, keys)
    session.add_all(
        NodeSource(
            node_id=node_ids[key],
            data_id=data_id,
            mentions=graph.entity_mentions.get(key, 1),
            description=descriptions[key],
        )
        for key in keys
    )
    await session.flush()
    await _refresh_nodes(session, list(node_ids.values()))

    edge_descriptions: dict[tuple[uuid.UUID, uuid.UUID, str], tuple[int, str]] = {}
    for relation in graph.relations:
        source = by_name.get(normalize_name(relation.source))
        target = by_name.get(normalize_name(relation.target))
        if source is None or target is None or source == target:
            continue
        triple = (node_ids[source], node_ids[target], relation.name.strip()[:255] or "related_to")
        count, text = edge_descriptions.get(triple, (0, ""))
        edge_descriptions[triple] = (count + 1, merge_descriptions([text, relation.description]))
    triples = sorted(edge_descriptions)
    if not triples:
        return
    await session.execute(
        insert(Edge)
        .values(
            [
                {
                    "id": uuid.uuid4(),
                    "dataset_id": dataset_id,
                    "source_id": source_id,
                    "target_id": target_id,
                    "relation": name,
                    "mentions": 0,
                    "description": "",
                }
                for source_id, target_id, name in triples
            ]
        )
        .on_conflict_do_nothing(index_elements=["dataset_id", "source_id", "target_id", "relation"])
    )
    rows = await session.execute(
        select(Edge.id, Edge.source_id, Edge.target_id, Edge.relation).where(
            Edge.dataset_id == dataset_id,
            Edge.source_id.in_(sorted({t[0] for t in triples})),
        )
    )
    edge_ids = {(s_id, t_id, rel): e_id for e_id, s_id, t_id, rel in rows}
    session.add_all(
        EdgeSource(
            edge_id=edge_ids[triple],
            data_id=data_id,
            mentions=edge_descriptions[triple][0],
            description=edge_descriptions[triple][1],
        )
        for triple in triples
    )
    await session.flush()
    await _refresh_edges(session, [edge_ids[t] for t in triples])


async def _node_ids(
    session: AsyncSession, dataset_id: uuid.UUID, keys: list[str]
) -> dict[str, uuid.UUID]:
    if not keys:
        return {}
    rows = await session.execute(
        select(Node.key, Node.id).where(Node.dataset_id == dataset_id, Node.key.in_(keys))
    )
    return {key: node_id for key, node_id in rows}


async def record_embedding_model(
    session: AsyncSession, dataset_id: uuid.UUID, model: str, dimension: int
) -> None:
    """Remember which model made the dataset's vectors (first writer wins)."""
    insert = dialect_insert(session)
    await session.execute(
        insert(DatasetConfig)
        .values(dataset_id=dataset_id, embedding_model=model, embedding_dimension=dimension)
        .on_conflict_do_nothing(index_elements=["dataset_id"])
    )
    await session.execute(
        update(DatasetConfig)
        .where(DatasetConfig.dataset_id == dataset_id, DatasetConfig.embedding_model.is_(None))
        .values(embedding_model=model, embedding_dimension=dimension)
    )


_indexed_dimensions: set[int] = {384}  # the migration made this one


async def ensure_vector_index(db: Database, dimension: int) -> None:
    """On PostgreSQL, an HNSW index over vectors of this dimension (made once, outside any
    item's transaction: DDL there would block concurrent writers)."""
    if db.is_sqlite or dimension in _indexed_dimensions:
        return
    async with db.write() as session:
        await session.execute(
            sql(
                f"CREATE INDEX IF NOT EXISTS ix_chunk_vectors_hnsw_{int(dimension)} "
                f"ON chunk_vectors USING hnsw ((embedding::vector({int(dimension)})) "
                f"vector_cosine_ops) WHERE dimension = {int(dimension)}"
            )
        )
    _indexed_dimensions.add(dimension)


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
    run_id: uuid.UUID | None
    computed_at: datetime | None


async def graph_counts(db: Database, dataset_ids: Sequence[uuid.UUID]) -> list[GraphCounts]:
    """Node and edge counts with the latest finished cognify run, per dataset."""
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
        runs: dict[uuid.UUID, tuple[uuid.UUID, datetime | None]] = {}
        for run in await session.scalars(
            select(PipelineRun)
            .where(
                PipelineRun.dataset_id.in_(dataset_ids),
                PipelineRun.pipeline_name == "cognify_pipeline",
                PipelineRun.finished_at.is_not(None),
            )
            .order_by(PipelineRun.finished_at)
        ):
            runs[run.dataset_id] = (run.id, run.finished_at)
    return [
        GraphCounts(
            d,
            nodes.get(d, 0),
            edges.get(d, 0),
            runs.get(d, (None, None))[0],
            runs.get(d, (None, None))[1],
        )
        for d in dataset_ids
    ]
