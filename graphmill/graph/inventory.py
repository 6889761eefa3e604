"""What a graph holds, summarised: cognee's schema inventory (per entity type: how many,
the best-connected names, the relations to other types) and the provenance graph (the
caller's datasets, their data items, and the entities each item supports)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection, func, select, union_all
from sqlalchemy.orm import aliased

from graphmill.auth.permissions import visible_ids
from graphmill.auth.users import UserInfo
from graphmill.db import Database
from graphmill.db.models import Data, Dataset, Edge, Node, NodeSource

InventorySort = Literal["count", "none"]


async def schema_inventory(
    db: Database, dataset_id: uuid.UUID, samples_per_type: int, sort: InventorySort
) -> list[dict[str, Any]]:
    """cognee's `get_schema_inventory` of one dataset (the caller checked read access):
    `{type, count, samples, sample_size, relationships: [{to_type, relation, count}]}`
    per entity type, samples by number of relations then name, relations both ways
    (incoming ones as `← relation`). `sort="count"`: most instances first; `"none"`: by
    type name. Three aggregate queries in one snapshot."""
    ends = union_all(
        select(Edge.source_id.label("node_id")).where(Edge.dataset_id == dataset_id),
        select(Edge.target_id.label("node_id")).where(Edge.dataset_id == dataset_id),
    ).subquery()
    degree = select(ends.c.node_id, func.count().label("n")).group_by(ends.c.node_id).subquery()
    rank = (
        func.row_number()
        .over(
            partition_by=Node.type,
            order_by=(func.coalesce(degree.c.n, 0).desc(), Node.name),
        )
        .label("rank")
    )
    ranked = (
        select(Node.type, Node.name, rank)
        .outerjoin(degree, degree.c.node_id == Node.id)
        .where(Node.dataset_id == dataset_id)
        .subquery()
    )
    samples = (
        select(ranked.c.type, ranked.c.name)
        .where(ranked.c.rank <= samples_per_type)
        .order_by(ranked.c.type, ranked.c.rank)
    )
    counts = (
        select(Node.type, func.count())
        .where(Node.dataset_id == dataset_id)
        .group_by(Node.type)
        .order_by(Node.type)
    )
    source, target = aliased(Node), aliased(Node)
    relations = (
        select(source.type, Edge.relation, target.type, func.count())
        .join(source, source.id == Edge.source_id)
        .join(target, target.id == Edge.target_id)
        .where(Edge.dataset_id == dataset_id)
        .group_by(source.type, Edge.relation, target.type)
    )

    def read(conn: Connection) -> tuple[list[Any], list[Any], list[Any]]:
        return (
            list(conn.execute(counts)),
            list(conn.execute(samples)) if samples_per_type > 0 else [],
            list(conn.execute(relations)),
        )

    type_counts, sample_rows, relation_rows = await db.run_read(read)
    names: dict[str, list[str]] = {}
    for type_, name in sample_rows:
        names.setdefault(type_, []).append(name)
    linked: dict[str, list[dict[str, Any]]] = {}
    for from_type, relation, to_type, n in relation_rows:
        linked.setdefault(from_type, []).append(
            {"to_type": to_type, "relation": relation, "count": n}
        )
        linked.setdefault(to_type, []).append(
            {"to_type": from_type, "relation": f"\u2190 {relation}", "count": n}
        )
    inventory = [
        {
            "type": type_,
            "count": n,
            "samples": names.get(type_, []),
            "sample_size": len(names.get(type_, [])),
            "relationships": sorted(
                linked.get(type_, []),
                key=lambda r: (-r["count"], r["to_type"] or "", r["relation"]),
            ),
        }
        for type_, n in type_counts
    ]
    if sort == "count":
        inventory.sort(key=lambda r: (-r["count"], r["type"] or ""))
    return inventory


# The provenance page draws every node it is given: past these it shows the most mentioned.
MAX_PROVENANCE_ITEMS = 2000
MAX_PROVENANCE_ENTITIES = 2000


@dataclass
class ProvenanceGraph:
    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False


async def provenance_graph(db: Database, user: UserInfo, include_memory: bool) -> ProvenanceGraph:
    """The datasets the user can read, their data items and, `include_memory`, the entities
    each item supports (node → item: the provenance of every entity)."""
    readable = visible_ids(user)
    datasets = select(Dataset.id, Dataset.name, Dataset.owner_id).where(Dataset.id.in_(readable))
    items = (
        select(Data.id, Data.name, Data.dataset_id)
        .where(Data.dataset_id.in_(readable))
        .order_by(Data.created_at)
        .limit(MAX_PROVENANCE_ITEMS + 1)
    )
    entities = (
        select(Node.id, Node.name, Node.type, Node.dataset_id)
        .where(Node.dataset_id.in_(readable))
        .order_by(Node.mentions.desc(), Node.name)
        .limit(MAX_PROVENANCE_ENTITIES + 1)
    )

    def read(conn: Connection) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
        found = list(conn.execute(entities)) if include_memory else []
        kept = [row[0] for row in found[:MAX_PROVENANCE_ENTITIES]]
        links = (
            list(
                conn.execute(
                    select(NodeSource.node_id, NodeSource.data_id).where(
                        NodeSource.node_id.in_(kept)
                    )
                )
            )
            if kept
            else []
        )
        return list(conn.execute(datasets)), list(conn.execute(items)), found, links

    dataset_rows, item_rows, entity_rows, links = await db.run_read(read)
    graph = ProvenanceGraph(
        truncated=len(item_rows) > MAX_PROVENANCE_ITEMS
        or len(entity_rows) > MAX_PROVENANCE_ENTITIES
    )
    graph.nodes.append({"id": str(user.id), "label": "you", "type": "User", "properties": {}})
    for dataset_id, name, owner_id in dataset_rows:
        graph.nodes.append({"id": str(dataset_id), "label": name, "type": "Dataset"})
        relation = "owns" if owner_id == user.id else "can_read"
        graph.edges.append({"source": str(user.id), "target": str(dataset_id), "label": relation})
    shown = set()
    for data_id, name, dataset_id in item_rows[:MAX_PROVENANCE_ITEMS]:
        shown.add(data_id)
        graph.nodes.append({"id": str(data_id), "label": name, "type": "Data"})
        graph.edges.append({"source": str(dataset_id), "target": str(data_id), "label": "contains"})
    for node_id, name, type_, _ in entity_rows[:MAX_PROVENANCE_ENTITIES]:
        graph.nodes.append({"id": str(node_id), "label": name, "type": type_})
    for node_id, data_id in links:
        if data_id in shown:
            graph.edges.append(
                {"source": str(data_id), "target": str(node_id), "label": "supports"}
            )
    for node in graph.nodes:
        node.setdefault("properties", {})
    return graph
