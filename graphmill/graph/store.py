"""The graph store: an item's chunks, entities, relations and vectors, with provenance.

Every node and edge records each data item that supports it (`node_sources`,
`edge_sources`) and keeps their mentions summed and their descriptions merged, so writing an
item touches only its own rows and the nodes and edges it names. Rewriting an item first
takes back what it contributed; removing one deletes what only it supported and rebuilds
the rest from the remaining sources.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    ColumnElement,
    Connection,
    Insert,
    Table,
    Update,
    bindparam,
    case,
    delete,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy import text as sql
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from graphmill.db import Bulk, Database
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
    utcnow,
)
from graphmill.graph.model import Entity, Relation, normalize_name

MAX_DESCRIPTION = 2000

_CHUNKS = cast(Table, Chunk.__table__)
_CHUNK_VECTORS = cast(Table, ChunkVector.__table__)
_DATA = cast(Table, Data.__table__)
_DATASET_CONFIGS = cast(Table, DatasetConfig.__table__)
_SUMMARIES = cast(Table, DocumentSummary.__table__)
_NODES = cast(Table, Node.__table__)
_NODE_SOURCES = cast(Table, NodeSource.__table__)
_EDGES = cast(Table, Edge.__table__)
_EDGE_SOURCES = cast(Table, EdgeSource.__table__)
_CHUNK_COLUMNS = [
    "id", "dataset_id", "data_id", "content_hash", "idx", "text", "token_count", "summary",
    "created_at",
]  # fmt: skip
_VECTOR_COLUMNS = ["chunk_id", "dataset_id", "model", "dimension", "embedding"]
_NODE_COLUMNS = ["id", "dataset_id", "key", "name", "type", "description", "mentions", "embedding"]


def node_key(name: str, type_: str) -> str:
    return _key(normalize_name(name), type_)


def _key(normalized_name: str, type_: str) -> str:
    return f"{normalized_name}|{type_.strip().casefold()}"[:512]


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


@dataclass(frozen=True)
class _Writes:
    """The write path's statements for one dialect, built once: building a statement costs
    more than running it for an item (SQLAlchemy caches only what they compile to).

    Rows name nodes by key, never by id: the statements find ids through the unique
    (dataset_id, key) index, so nothing is read back into Python."""

    set_token_count: Update
    add_chunks: Bulk
    add_vectors: Bulk
    add_summary: Insert
    upsert_nodes: Bulk
    add_node_sources: Bulk
    upsert_edges: Bulk
    add_edge_sources: Bulk
    record_model: Insert

    @classmethod
    def build(cls, dialect: str) -> _Writes:
        insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
        data_id = bindparam("b_data_id", type_=_DATA.c.id.type)
        dataset_id = bindparam("b_dataset_id", type_=_NODES.c.dataset_id.type)
        mentions = bindparam("b_mentions", type_=_NODES.c.mentions.type)
        description = bindparam("b_description", type_=_NODES.c.description.type)

        def node(key: str) -> Any:
            return (
                select(_NODES.c.id)
                .where(_NODES.c.dataset_id == dataset_id, _NODES.c.key == bindparam(key))
                .scalar_subquery()
            )

        # An item's earlier graph shows in any of these; none of them for a new item.
        written = or_(
            *(
                exists().where(t.c.data_id == data_id)
                for t in (_CHUNKS, _SUMMARIES, _NODE_SOURCES, _EDGE_SOURCES)
            )
        )
        nodes, edges, config = insert(_NODES), insert(_EDGES), insert(_DATASET_CONFIGS)
        return cls(
            set_token_count=update(_DATA)
            .where(_DATA.c.id == data_id)
            .values(token_count=bindparam("b_tokens"))
            .returning(written),
            add_chunks=Bulk(insert(_CHUNKS), _CHUNK_COLUMNS),
            add_vectors=Bulk(insert(_CHUNK_VECTORS), _VECTOR_COLUMNS),
            add_summary=insert(_SUMMARIES),
            upsert_nodes=Bulk(
                nodes.on_conflict_do_update(
                    index_elements=[_NODES.c.dataset_id, _NODES.c.key],
                    set_={
                        "mentions": _NODES.c.mentions + nodes.excluded.mentions,
                        "description": _appended(
                            _NODES.c.description, nodes.excluded.description, dialect
                        ),
                    },
                ),
                _NODE_COLUMNS,
            ),
            add_node_sources=Bulk(
                insert(_NODE_SOURCES).from_select(
                    ["node_id", "data_id", "mentions", "description"],
                    select(_NODES.c.id, data_id, mentions, description).where(
                        _NODES.c.dataset_id == dataset_id, _NODES.c.key == bindparam("b_key")
                    ),
                )
            ),
            upsert_edges=Bulk(
                edges.values(
                    id=bindparam("b_id", type_=_EDGES.c.id.type),
                    dataset_id=dataset_id,
                    source_id=node("b_source"),
                    target_id=node("b_target"),
                    relation=bindparam("b_relation"),
                    mentions=mentions,
                    description=description,
                ).on_conflict_do_update(
                    index_elements=[
                        _EDGES.c.dataset_id,
                        _EDGES.c.source_id,
                        _EDGES.c.target_id,
                        _EDGES.c.relation,
                    ],
                    set_={
                        "mentions": _EDGES.c.mentions + edges.excluded.mentions,
                        "description": _appended(
                            _EDGES.c.description, edges.excluded.description, dialect
                        ),
                    },
                )
            ),
            add_edge_sources=Bulk(
                insert(_EDGE_SOURCES).from_select(
                    ["edge_id", "data_id", "mentions", "description"],
                    select(_EDGES.c.id, data_id, mentions, description).where(
                        _EDGES.c.dataset_id == dataset_id,
                        _EDGES.c.source_id == node("b_source"),
                        _EDGES.c.target_id == node("b_target"),
                        _EDGES.c.relation == bindparam("b_relation"),
                    ),
                )
            ),
            record_model=config.on_conflict_do_update(
                index_elements=[_DATASET_CONFIGS.c.dataset_id],
                set_={
                    "embedding_model": config.excluded.embedding_model,
                    "embedding_dimension": config.excluded.embedding_dimension,
                },
                where=_DATASET_CONFIGS.c.embedding_model.is_(None),
            ),
        )


_WRITES = {dialect: _Writes.build(dialect) for dialect in ("sqlite", "postgresql")}


def _new_ids(count: int) -> list[uuid.UUID]:
    """Time-ordered (version 7: milliseconds since the epoch, then 74 random bits) UUIDs,
    from one read of the system's randomness. Ids that grow with time land at the end of
    every index keyed by them (the rows' own, their sources', their vectors'), so an item's
    rows fill a few pages there instead of one page each scattered over the whole index:
    random ids made an item's commit write ~320 pages on SQLite."""
    # RFC 9562: 48 bits of Unix milliseconds, version 7, 12 random bits, variant 0b10, 62
    # random bits (Python 3.11's uuid module knows no version 7, so the bits are set here).
    head = (time.time_ns() // 1_000_000) << 80 | 7 << 76 | 0b10 << 62
    raw = os.urandom(10 * count)
    ids = []
    for start in range(0, 10 * count, 10):
        bits = int.from_bytes(raw[start : start + 10], "big")
        ids.append(uuid.UUID(int=head | (bits >> 62 & 0xFFF) << 64 | bits & _RANDOM_62))
    return ids


_RANDOM_62 = (1 << 62) - 1


def write_item(
    conn: Connection,
    dataset_id: uuid.UUID,
    data_id: uuid.UUID,
    content_hash: str,
    graph: ItemGraph,
) -> None:
    """Replace the item's contribution with `graph`, in the caller's transaction (one run
    by `Database.run`)."""
    writes = _WRITES[conn.dialect.name]
    tokens = sum(tokens for _, tokens, _ in graph.chunks)
    written = conn.scalar(writes.set_token_count, {"b_data_id": data_id, "b_tokens": tokens})
    if written:  # a re-cognify: what the item said before goes first
        _take_back(conn, data_id)
    _write_chunks(conn, writes, dataset_id, data_id, content_hash, graph)
    by_name = _write_nodes(conn, writes, dataset_id, data_id, graph)
    _write_edges(conn, writes, dataset_id, data_id, graph.relations, by_name)


def _write_chunks(
    conn: Connection,
    writes: _Writes,
    dataset_id: uuid.UUID,
    data_id: uuid.UUID,
    content_hash: str,
    graph: ItemGraph,
) -> None:
    chunk_ids = _new_ids(len(graph.chunks))
    if chunk_ids:
        now = utcnow()
        writes.add_chunks.execute(
            conn,
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
                    "created_at": now,
                }
                for idx, (chunk_id, (text, tokens, summary)) in enumerate(
                    zip(chunk_ids, graph.chunks, strict=True)
                )
            ],
        )
    if chunk_ids and graph.chunk_vectors is not None:
        writes.add_vectors.execute(
            conn,
            [
                {
                    "chunk_id": chunk_id,
                    "dataset_id": dataset_id,
                    "model": graph.embedding_model,
                    "dimension": graph.embedding_dimension,
                    "embedding": vector,
                }
                for chunk_id, vector in zip(chunk_ids, graph.chunk_vectors, strict=True)
            ],
        )
    if graph.summary:
        conn.execute(
            writes.add_summary,
            {"data_id": data_id, "dataset_id": dataset_id, "text": graph.summary},
        )


def _write_nodes(
    conn: Connection,
    writes: _Writes,
    dataset_id: uuid.UUID,
    data_id: uuid.UUID,
    graph: ItemGraph,
) -> dict[str, str]:
    """Upsert the item's entities, adding its mentions and description to nodes that exist,
    and record the item as their source; returns node keys by normalised entity name."""
    by_name: dict[str, str] = {}
    descriptions: dict[str, str] = {}
    first: dict[str, Entity] = {}
    for entity in graph.entities:
        name = normalize_name(entity.name)
        key = _key(name, entity.type)
        by_name.setdefault(name, key)
        descriptions[key] = merge_descriptions([descriptions.get(key, ""), entity.description])
        first.setdefault(key, entity)
    if not first:
        return by_name
    keys = sorted(first)  # one lock order for every writer
    mentions = {key: graph.entity_mentions.get(key, 1) for key in keys}
    writes.upsert_nodes.execute(
        conn,
        [
            {
                "id": node_id,
                "dataset_id": dataset_id,
                "key": key,
                "name": first[key].name.strip(),
                "type": first[key].type.strip() or "Entity",
                "description": descriptions[key],
                "mentions": mentions[key],
                "embedding": graph.entity_vectors.get(key),
            }
            for node_id, key in zip(_new_ids(len(keys)), keys, strict=True)
        ],
    )
    writes.add_node_sources.execute(
        conn,
        [
            {
                "b_dataset_id": dataset_id,
                "b_key": key,
                "b_data_id": data_id,
                "b_mentions": mentions[key],
                "b_description": descriptions[key],
            }
            for key in keys
        ],
    )
    return by_name


def _write_edges(
    conn: Connection,
    writes: _Writes,
    dataset_id: uuid.UUID,
    data_id: uuid.UUID,
    relations: Sequence[Relation],
    by_name: dict[str, str],
) -> None:
    """Upsert the item's relations between its entities, adding its mentions and
    description to edges that exist, and record the item as their source."""
    keys: dict[str, str | None] = {}  # by entity name as written: normalising costs

    def key_of(name: str) -> str | None:
        if name not in keys:
            keys[name] = by_name.get(normalize_name(name))
        return keys[name]

    found: dict[tuple[str, str, str], tuple[int, str]] = {}
    for relation in relations:
        source, target = key_of(relation.source), key_of(relation.target)
        if source is None or target is None or source == target:
            continue
        triple = (source, target, relation.name.strip()[:255] or "related_to")
        count, text = found.get(triple, (0, ""))
        found[triple] = (count + 1, merge_descriptions([text, relation.description]))
    if not found:
        return
    rows = [
        {
            "b_dataset_id": dataset_id,
            "b_source": source,
            "b_target": target,
            "b_relation": name,
            "b_mentions": count,
            "b_description": text,
        }
        for (source, target, name), (count, text) in sorted(found.items())  # lock order
    ]
    writes.upsert_edges.execute(
        conn,
        [{"b_id": edge_id, **row} for edge_id, row in zip(_new_ids(len(rows)), rows, strict=True)],
    )
    writes.add_edge_sources.execute(conn, [{"b_data_id": data_id, **row} for row in rows])


async def remove_item(session: AsyncSession, data_id: uuid.UUID) -> None:
    """Take back everything a data item contributed; what others support stays, rebuilt."""
    await session.run_sync(lambda s: _take_back(s.connection(), data_id))


def _take_back(conn: Connection, data_id: uuid.UUID) -> None:
    conn.execute(delete(_CHUNKS).where(_CHUNKS.c.data_id == data_id))  # vectors cascade
    conn.execute(delete(_SUMMARIES).where(_SUMMARIES.c.data_id == data_id))
    lost_nodes = conn.execute(
        delete(_NODE_SOURCES)
        .where(_NODE_SOURCES.c.data_id == data_id)
        .returning(_NODE_SOURCES.c.node_id, _NODE_SOURCES.c.mentions, _NODE_SOURCES.c.description)
    )
    nodes = cast(list[tuple[uuid.UUID, int, str]], lost_nodes.all())
    lost_edges = conn.execute(
        delete(_EDGE_SOURCES)
        .where(_EDGE_SOURCES.c.data_id == data_id)
        .returning(_EDGE_SOURCES.c.edge_id, _EDGE_SOURCES.c.mentions, _EDGE_SOURCES.c.description)
    )
    edges = cast(list[tuple[uuid.UUID, int, str]], lost_edges.all())
    _rebuild(conn, _EDGES, _EDGE_SOURCES.c.edge_id, edges)
    _rebuild(conn, _NODES, _NODE_SOURCES.c.node_id, nodes)


def _rebuild(
    conn: Connection,
    table: Table,
    owner: Any,
    lost: Sequence[tuple[uuid.UUID, int, str]],
) -> None:
    """After one item's sources of nodes or edges were deleted: delete those no source
    supports any more (a node's edges go with it), take the lost mentions off the others
    and re-merge the descriptions of those that lost one from their remaining sources."""
    if not lost:
        return
    orphans = conn.execute(
        delete(table)
        .where(
            table.c.id.in_(sorted(i for i, _, _ in lost)),
            ~exists().where(owner == table.c.id),
        )
        .returning(table.c.id)
    )
    gone = set(cast(list[uuid.UUID], orphans.scalars().all()))
    kept = sorted((i, m, d) for i, m, d in lost if i not in gone)
    where = table.c.id == bindparam("b_id")
    lower = table.c.mentions - bindparam("b_lost")
    if mentions_only := [{"b_id": i, "b_lost": m} for i, m, d in kept if not d]:
        conn.execute(update(table).where(where).values(mentions=lower), mentions_only)
    reread = [i for i, _, d in kept if d]
    if not reread:
        return
    sources = owner.table
    rows = conn.execute(
        select(owner, table.c.description, sources.c.description)
        .join(table, table.c.id == owner)
        .where(owner.in_(reread))
        .order_by(owner, sources.c.data_id)
    )
    current: dict[uuid.UUID, str] = {}
    remaining: dict[uuid.UUID, list[str]] = {i: [] for i in reread}
    for owner_id, merged, text in cast(list[tuple[uuid.UUID, str, str]], rows.all()):
        current[owner_id] = merged
        remaining[owner_id].append(text)
    conn.execute(
        update(table).where(where).values(mentions=lower, description=bindparam("b_text")),
        [
            {
                "b_id": i,
                "b_lost": m,
                "b_text": _remerge(current.get(i, ""), remaining[i]),
            }
            for i, m, _ in kept
            if i in remaining
        ],
    )


def _remerge(merged: str, texts: list[str]) -> str:
    """Merge the remaining sources' texts again in the order they appear in the merged
    description (those it lacks last), so a delete keeps the survivors' order."""
    end = len(merged)

    def place(text: str) -> tuple[int, int]:
        found = merged.find(text) if text else -1
        return (found if found >= 0 else end, -len(text))  # a containing text first

    return merge_descriptions(sorted(texts, key=place))


def record_embedding_model(
    conn: Connection, dataset_id: uuid.UUID, model: str, dimension: int
) -> None:
    """Remember which model made the dataset's vectors (first writer wins). A caller that
    read the dataset's config in this run and saw the model recorded need not call it."""
    conn.execute(
        _WRITES[conn.dialect.name].record_model,
        {"dataset_id": dataset_id, "embedding_model": model, "embedding_dimension": dimension},
    )


async def ensure_vector_index(db: Database, dimension: int) -> None:
    """On PostgreSQL, an HNSW index over vectors of this dimension, made when missing and
    outside any item's transaction: even `CREATE INDEX IF NOT EXISTS` waits for the table's
    writers. Callers remember the dimensions they have ensured."""
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
