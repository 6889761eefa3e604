"""Merging duplicate entities of a dataset: one thing written differently (another type
given by another document, a company suffix) becomes one node, provenance kept."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from graphmill.db.models import Edge, EdgeSource, Node, NodeSource
from graphmill.graph.model import normalize_name
from graphmill.graph.store import merge_descriptions

_SUFFIX = re.compile(r"\s+(inc|ltd|llc|plc|gmbh|ag|corp|corporation|co|company|limited)$")


def canonical_name(name: str) -> str:
    """What duplicates share: the normalised name without a company suffix."""
    return _SUFFIX.sub("", normalize_name(name)) or normalize_name(name)


def merge_duplicates(
    session: Session, dataset_id: uuid.UUID, data_id: uuid.UUID | None = None
) -> int:
    """Merge each group of the dataset's nodes with one canonical name into its most
    mentioned node: sources, relations and descriptions move to it, the others go. With
    `data_id`, only the groups holding a node that item supports (one item's share of the
    work: every item of the dataset done is the whole dataset done). The caller holds the
    dataset's lock. Returns how many nodes were merged away. Synchronous (a `Session` on
    the connection of the transaction that records the item done); safe to repeat."""
    names = session.execute(select(Node.id, Node.name).where(Node.dataset_id == dataset_id))
    groups: dict[str, list[uuid.UUID]] = defaultdict(list)
    for node_id, name in names:
        groups[canonical_name(name)].append(node_id)
    touched: set[uuid.UUID] | None = None
    if data_id is not None:
        touched = set(
            session.scalars(select(NodeSource.node_id).where(NodeSource.data_id == data_id))
        )
    merged = 0
    for ids in groups.values():
        if len(ids) < 2 or (touched is not None and touched.isdisjoint(ids)):
            continue
        group = list(session.scalars(select(Node).where(Node.id.in_(ids))))
        group.sort(key=lambda n: (-n.mentions, n.name))
        keep, *others = group
        for other in others:
            _merge_into(session, keep, other)
            merged += 1
    return merged


def _merge_into(session: Session, keep: Node, other: Node) -> None:
    _move_sources(session, NodeSource, keep.id, other.id)
    edges = list(
        session.scalars(
            select(Edge).where(or_(Edge.source_id == other.id, Edge.target_id == other.id))
        )
    )
    for edge in edges:
        source_id = keep.id if edge.source_id == other.id else edge.source_id
        target_id = keep.id if edge.target_id == other.id else edge.target_id
        if source_id != target_id:
            _move_edge(session, edge, source_id, target_id)
        session.delete(edge)
    keep.mentions += other.mentions
    keep.description = merge_descriptions([keep.description, other.description])
    session.flush()
    session.execute(delete(Node).where(Node.id == other.id))


def _move_edge(session: Session, edge: Edge, source_id: uuid.UUID, target_id: uuid.UUID) -> None:
    """The edge's relation between the merged nodes: an existing one gains its sources."""
    session.flush()
    target = session.scalar(
        select(Edge).where(
            Edge.dataset_id == edge.dataset_id,
            Edge.source_id == source_id,
            Edge.target_id == target_id,
            Edge.relation == edge.relation,
        )
    )
    if target is None:
        target = Edge(
            id=uuid.uuid4(),
            dataset_id=edge.dataset_id,
            source_id=source_id,
            target_id=target_id,
            relation=edge.relation,
            description=edge.description,
            mentions=0,
        )
        session.add(target)
        session.flush()
    target.mentions += edge.mentions
    target.description = merge_descriptions([target.description, edge.description])
    _move_sources(session, EdgeSource, target.id, edge.id)


def _move_sources(
    session: Session,
    model: type[NodeSource] | type[EdgeSource],
    keep_id: uuid.UUID,
    other_id: uuid.UUID,
) -> None:
    """Give `keep` the provenance rows of `other`; an item supporting both keeps one row."""
    owner = model.node_id if model is NodeSource else model.edge_id  # type: ignore[union-attr]
    rows: list[Any] = list(session.scalars(select(model).where(owner == keep_id)))
    kept = {s.data_id: s for s in rows}
    moved: list[Any] = list(session.scalars(select(model).where(owner == other_id)))
    for source in moved:
        same = kept.get(source.data_id)
        if same is None:
            session.add(
                model(
                    **{owner.key: keep_id},
                    data_id=source.data_id,
                    mentions=source.mentions,
                    description=source.description,
                )
            )
        else:
            same.mentions += source.mentions
            same.description = merge_descriptions([same.description, source.description])
