"""Graph retrieval: personalized PageRank over entities and passages, as HippoRAG does.

1. Seeds: the query's entities — nodes whose normalised name is a phrase of the query
   (longest phrases first), and nodes whose name vector is close to the query's — and the
   best passages of dense and full-text search.
2. A local graph around them: the entities the seed passages mention, the query entities'
   neighbours over relations, and the passages that mention any of these entities. Which
   passage mentions which entity comes from provenance: the data items that support a node
   (`node_sources`), and among their chunks those whose text contains the entity's name.
   Entities that too many items mention (years, countries) stay in the graph but are not
   expanded: they say little about a question.
3. Personalized PageRank from the seeds (entities weighted by how specific they are,
   passages by their first-stage score): a passage ranks high when a walk from the query's
   entities and best passages reaches it often, which finds the second passage of a
   two-hop question through the entity the first one names.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from sqlalchemy import bindparam, func, or_, select, text
from sqlalchemy.types import Uuid

from graphmill.db import Database
from graphmill.db.models import Chunk, Edge, Node, NodeSource
from graphmill.graph.model import normalize_name
from graphmill.search.dense import VectorSearch
from graphmill.search.lexical import STOPWORDS
from graphmill.search.types import Triplet

Ranking = list[tuple[uuid.UUID, float]]
Vector = npt.NDArray[np.float32]

MAX_PHRASE_WORDS = 6
NODE_VECTOR_CANDIDATES = 8
NODE_VECTOR_MIN_SIMILARITY = 0.55
MAX_ITEMS_PER_ENTITY = 30  # entities of more items are hubs: kept, not expanded
MAX_EXPANDED_ITEMS = 600
MAX_NEIGHBOURS = 50  # relation neighbours of the query's entities
DAMPING = 0.5  # chance a walk continues rather than restarting at a seed
ITERATIONS = 30
ENTITY_SEED_MASS = 1.0
PASSAGE_SEED_MASS = 1.0
MAX_TRIPLETS = 20

_IDS = bindparam("ids", expanding=True, type_=Uuid())
_NODES = select(Node.id, Node.name).where(Node.id.in_(_IDS))
_NODES_OF_ITEMS = (
    select(NodeSource.node_id, NodeSource.data_id, Node.name)
    .join(Node, Node.id == NodeSource.node_id)
    .where(NodeSource.data_id.in_(_IDS))
)
_ITEM_COUNTS = (
    select(NodeSource.node_id, func.count())
    .where(NodeSource.node_id.in_(_IDS))
    .group_by(NodeSource.node_id)
)
_ITEMS_OF_NODES = select(NodeSource.node_id, NodeSource.data_id).where(NodeSource.node_id.in_(_IDS))
_CHUNKS_OF_ITEMS = select(Chunk.id, Chunk.data_id, Chunk.text).where(Chunk.data_id.in_(_IDS))
_CHUNKS = select(Chunk.id, Chunk.data_id, Chunk.text).where(Chunk.id.in_(_IDS))
_EDGES_OF_NODES = select(
    Edge.id, Edge.source_id, Edge.target_id, Edge.relation, Edge.description
).where(or_(Edge.source_id.in_(_IDS), Edge.target_id.in_(_IDS)))


@dataclass
class GraphResult:
    passages: Ranking  # chunk ids by PageRank, best first
    triplets: list[Triplet] = field(default_factory=list)
    entities: list[tuple[str, float]] = field(default_factory=list)  # query-linked names


def phrases(query: str) -> list[str]:
    """The query's normalised word sequences of up to MAX_PHRASE_WORDS words that are not
    made of function words only, longest first."""
    words = normalize_name(query).split()
    found: dict[str, None] = {}
    for size in range(min(MAX_PHRASE_WORDS, len(words)), 0, -1):
        for start in range(len(words) - size + 1):
            gram = words[start : start + size]
            if all(w in STOPWORDS for w in gram) or (size == 1 and len(gram[0]) < 3):
                continue
            found.setdefault(" ".join(gram), None)
    return list(found)


async def nodes_named_in(
    db: Database, dataset_id: uuid.UUID, query: str
) -> list[tuple[uuid.UUID, str]]:
    """Nodes whose normalised name is a phrase of the query; a phrase inside a longer
    matched phrase does not count again ("Velden" inside "Velden Optics")."""
    grams = phrases(query)
    if not grams:
        return []
    # A node's key is "<normalised name>|<type>": each phrase is one range of the index.
    ranges = " UNION ALL ".join(
        f"SELECT id, key FROM nodes WHERE dataset_id = :d AND key >= :lo{i} AND key < :hi{i}"
        for i in range(len(grams))
    )
    params: dict[str, object] = {"d": dataset_id}
    for i, gram in enumerate(grams):
        params[f"lo{i}"], params[f"hi{i}"] = gram + "|", gram + "}"
    statement = (
        text(ranges).bindparams(bindparam("d", type_=Uuid())).columns(id=Uuid(), key=Node.key.type)
    )
    rows = await db.read_rows(statement, params)
    by_gram: dict[str, list[uuid.UUID]] = defaultdict(list)
    for node_id, key in rows:
        by_gram[str(key).rsplit("|", 1)[0]].append(node_id)
    taken: list[str] = []
    found: list[tuple[uuid.UUID, str]] = []
    for gram in grams:  # longest first
        if gram not in by_gram or any(f" {gram} " in f" {longer} " for longer in taken):
            continue
        taken.append(gram)
        found.extend((node_id, gram) for node_id in by_gram[gram])
    return found


def _mentions(name: str, chunk_text: str) -> bool:
    normalised = normalize_name(name)
    return bool(normalised) and f" {normalised} " in f" {normalize_name(chunk_text)} "


async def rank(
    db: Database,
    vectors: VectorSearch,
    dataset_id: uuid.UUID,
    query: str,
    query_vector: Vector | None,
    seed_passages: Sequence[tuple[uuid.UUID, float]],
    k: int,
    data_ids: Collection[uuid.UUID] | None = None,
) -> GraphResult:
    """Passages ranked by personalized PageRank from the query's entities and the seed
    passages (scores > 0, best first); the triplets around the query's entities."""
    # --- seeds ---------------------------------------------------------------------------
    entity_seed: dict[uuid.UUID, float] = {}
    for node_id, _ in await nodes_named_in(db, dataset_id, query):
        entity_seed[node_id] = 1.0
    if query_vector is not None:
        for node_id, similarity in await vectors.nearest_nodes(
            dataset_id, query_vector, NODE_VECTOR_CANDIDATES
        ):
            if similarity >= NODE_VECTOR_MIN_SIMILARITY:
                entity_seed[node_id] = max(entity_seed.get(node_id, 0.0), similarity)
    passage_seed = dict(seed_passages)

    # --- the local graph ---------------------------------------------------------------
    seed_chunks = await db.read_rows(_CHUNKS, {"ids": list(passage_seed)})
    chunk_item: dict[uuid.UUID, uuid.UUID] = {c: d for c, d, _ in seed_chunks}
    chunk_text: dict[uuid.UUID, str] = {c: t for c, _, t in seed_chunks}
    names: dict[uuid.UUID, str] = {}
    mentions: set[tuple[uuid.UUID, uuid.UUID]] = set()  # (chunk, node)
    seed_items = defaultdict(list)
    for chunk_id, data_id in chunk_item.items():
        seed_items[data_id].append(chunk_id)
    for node_id, data_id, name in await db.read_rows(_NODES_OF_ITEMS, {"ids": list(seed_items)}):
        names[node_id] = name
        chunks = seed_items[data_id]
        for chunk_id in chunks:
            if len(chunks) == 1 or _mentions(name, chunk_text[chunk_id]):
                mentions.add((chunk_id, node_id))

    relations: dict[uuid.UUID, tuple[uuid.UUID, uuid.UUID, str, str]] = {}
    if entity_seed:
        neighbours: dict[uuid.UUID, int] = {}
        for edge_id, source, target, relation, description in await db.read_rows(
            _EDGES_OF_NODES, {"ids": list(entity_seed)}
        ):
            other = target if source in entity_seed else source
            if other not in entity_seed and len(neighbours) >= MAX_NEIGHBOURS:
                continue
            neighbours.setdefault(other, 0)
            relations[edge_id] = (source, target, relation, description)
    entities = set(entity_seed) | {n for _, n in mentions}
    entities |= {e for s, t, _, _ in relations.values() for e in (s, t)}
    missing = [e for e in entities if e not in names]
    if missing:
        names.update({i: n for i, n in await db.read_rows(_NODES, {"ids": missing})})

    counts = dict(await db.read_rows(_ITEM_COUNTS, {"ids": list(entities)})) if entities else {}
    expandable = sorted(
        (e for e in entities if 0 < counts.get(e, 0) <= MAX_ITEMS_PER_ENTITY),
        key=lambda e: (counts[e], -entity_seed.get(e, 0.0)),
    )
    item_nodes: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    if expandable:
        for node_id, data_id in await db.read_rows(_ITEMS_OF_NODES, {"ids": expandable}):
            if data_ids is not None and data_id not in data_ids:
                continue
            if data_id in item_nodes or len(item_nodes) < MAX_EXPANDED_ITEMS:
                item_nodes[data_id].append(node_id)
    new_items = [d for d in item_nodes if d not in seed_items]
    if new_items:
        per_item: dict[uuid.UUID, list[tuple[uuid.UUID, str]]] = defaultdict(list)
        for chunk_id, data_id, chunk in await db.read_rows(_CHUNKS_OF_ITEMS, {"ids": new_items}):
            per_item[data_id].append((chunk_id, chunk))
        for data_id, item_chunks in per_item.items():
            for chunk_id, chunk in item_chunks:
                for node_id in item_nodes[data_id]:
                    if len(item_chunks) == 1 or _mentions(names.get(node_id, ""), chunk):
                        mentions.add((chunk_id, node_id))
                        chunk_item[chunk_id] = data_id
    for data_id, node_ids in item_nodes.items():  # seed items' chunks: already read
        for chunk_id in seed_items.get(data_id, []):
            for node_id in node_ids:
                if len(seed_items[data_id]) == 1 or _mentions(
                    names.get(node_id, ""), chunk_text[chunk_id]
                ):
                    mentions.add((chunk_id, node_id))

    # --- personalized PageRank -----------------------------------------------------------
    index: dict[uuid.UUID, int] = {}

    def at(key: uuid.UUID) -> int:
        return index.setdefault(key, len(index))

    sources: list[int] = []
    targets: list[int] = []
    for chunk_id, node_id in mentions:
        a, b = at(chunk_id), at(node_id)
        sources += [a, b]
        targets += [b, a]
    for source, target, _, _ in relations.values():
        a, b = at(source), at(target)
        sources += [a, b]
        targets += [b, a]
    for key in (*passage_seed, *entity_seed):
        at(key)
    size = len(index)
    restart = np.zeros(size)
    entity_total = sum(w / max(1, counts.get(e, 1)) for e, w in entity_seed.items())
    for e, w in entity_seed.items():
        restart[index[e]] += ENTITY_SEED_MASS * (w / max(1, counts.get(e, 1))) / entity_total
    passage_total = sum(passage_seed.values())
    if passage_total > 0:
        for c, w in passage_seed.items():
            restart[index[c]] += PASSAGE_SEED_MASS * w / passage_total
    if restart.sum() == 0:
        return GraphResult([])
    restart /= restart.sum()
    scores = _pagerank(size, np.array(sources), np.array(targets), restart)

    passages = [
        (key, float(scores[i]))
        for key, i in index.items()
        if (key in chunk_item or key in passage_seed) and scores[i] > 0
    ]
    if data_ids is not None:
        passages = [(c, s) for c, s in passages if chunk_item.get(c) in data_ids]
    passages.sort(key=lambda p: -p[1])
    entity_scores = {e: float(scores[index[e]]) for e in entities if e in index}
    triplets = sorted(
        (
            Triplet(
                names.get(s, ""),
                relation,
                names.get(t, ""),
                description,
                entity_scores.get(s, 0.0) + entity_scores.get(t, 0.0),
            )
            for s, t, relation, description in relations.values()
        ),
        key=lambda t: -t.score,
    )[:MAX_TRIPLETS]
    linked = sorted(
        ((names.get(e, ""), entity_scores.get(e, 0.0)) for e in entity_seed), key=lambda x: -x[1]
    )
    return GraphResult(passages[: max(k, 1)], triplets, linked)


def _pagerank(
    size: int,
    sources: npt.NDArray[np.int_],
    targets: npt.NDArray[np.int_],
    restart: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Scores of the walk that follows an edge with probability DAMPING (each of a node's
    edges alike) and otherwise jumps back to a seed, drawn from `restart`."""
    if sources.size == 0:
        return restart
    degree = np.bincount(sources, minlength=size).astype(np.float64)
    weight = 1.0 / degree[sources]
    scores = restart.copy()
    for _ in range(ITERATIONS):
        spread = np.bincount(targets, weights=scores[sources] * weight, minlength=size)
        dangling = scores[degree == 0].sum()  # a walk at a node without edges restarts
        updated = (1 - DAMPING) * restart + DAMPING * (spread + dangling * restart)
        if np.abs(updated - scores).sum() < 1e-9:
            return updated
        scores = updated
    return scores
