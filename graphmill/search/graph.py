"""Graph retrieval: personalized PageRank over entities and passages, as HippoRAG does.

1. Seeds: the query's entities — nodes whose normalised name is a phrase of the query
   (longest phrases first), and nodes whose name vector is close to the query's — and the
   best passages of dense and full-text search.
2. A local graph around them: the entities the seed passages mention, the query entities'
   neighbours over relations, and the passages that mention any of these entities. Which
   passage mentions which entity comes from provenance: the data items that support a node
   (`node_sources`), and among their chunks those whose text contains the entity's name.
   An entity here is a normalised name: nodes of one name and different types (extraction
   types "Montebello" a Location in one document and a Concept in the next) are one entity,
   or the walk could not cross from one document to the other. Entities that too many items
   mention (years, countries) stay in the graph but are not expanded: they say little
   about a question.
3. Personalized PageRank from the seeds (entities weighted by how specific they are,
   passages by their first-stage score): a passage ranks high when a walk from the query's
   entities and best passages reaches it often, which finds the second passage of a
   two-hop question through the entity the first one names.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, TextClause, bindparam, select, text
from sqlalchemy.types import Uuid

from graphmill.db import Database
from graphmill.db.models import Node
from graphmill.graph.model import normalize_name
from graphmill.search.dense import VectorSearch
from graphmill.search.lexical import STOPWORDS
from graphmill.search.types import Triplet

Ranking = list[tuple[uuid.UUID, float]]
Vector = npt.NDArray[np.float32]

MAX_PHRASE_WORDS = 6
NODE_VECTOR_CANDIDATES = 8
NODE_VECTOR_MIN_SIMILARITY = 0.55
MAX_ITEMS_PER_ENTITY = 20  # entities of more items are hubs: kept, not expanded
MAX_EXPANDED_ITEMS = 100
MAX_SCANNED_CHUNKS = 300  # chunks of multi-chunk items searched for entity names per query
MAX_NEIGHBOURS = 50  # relation neighbours of the query's entities
DAMPING = 0.5  # chance a walk continues rather than restarting at a seed
ITERATIONS = 30
ENTITY_SEED_MASS = 1.0  # per query entity, divided by the number of items that name it
PASSAGE_SEED_MASS = 0.05  # for all seed passages together
MAX_TRIPLETS = 20

_IDS = bindparam("ids", expanding=True, type_=Uuid())
_NODES = select(Node.id, Node.name, Node.key).where(Node.id.in_(_IDS))
# How many items name a node, read with the node (node_sources' key, node then item): the
# walk weighs entities by it and does not expand hubs.
_ITEMS = "(SELECT count(*) FROM node_sources AS s WHERE s.node_id = nodes.id)"

Key = Any  # an id as the store gives it: 32 hex digits on SQLite, a UUID on PostgreSQL


@dataclass(frozen=True)
class _Statements:
    """Graph retrieval's statements on one backend. Each is built and compiled once: a list
    is bound as ONE parameter (a JSON array read by `json_each` on SQLite, an array
    `unnest`ed on PostgreSQL) instead of a placeholder per element, and ids come back as
    the store gives them (no UUID is made for the ~1,000 ids a query reads)."""

    sqlite: bool
    chunks: TextClause  # :ids -> (id, data_id, text)
    nodes_of_items: TextClause  # :ids -> (data_id, key, name, mentions)
    named: TextClause  # :d, :names -> (id, key, name, items)
    edges: TextClause  # :ids -> (id, source_id, target_id, relation, description)
    counted_nodes: TextClause  # :ids -> (id, name, key, items)
    expanded: TextClause  # :nodes, :counts, :items -> (node_id, data_id, mentions, size)
    expanded_in: TextClause  # the same among the items :only
    mentions: TextClause  # :items, :entities, :counts -> (chunk, item, entity, weight)

    def key(self, value: uuid.UUID) -> Key:
        return value.hex if self.sqlite else value

    def array(self, values: Collection[Any]) -> Any:
        return json.dumps(list(values)) if self.sqlite else list(values)

    def rows(self, **columns: Sequence[Any]) -> dict[str, Any]:
        """The parameters of a list of rows given by column: on SQLite one JSON array of
        rows (named after the first column), on PostgreSQL an array per column."""
        if self.sqlite:
            first = next(iter(columns))
            return {first: json.dumps(list(zip(*columns.values(), strict=True)))}
        return {name: list(values) for name, values in columns.items()}


def _statements(sqlite: bool) -> _Statements:
    if sqlite:

        def among(column: str, name: str) -> str:
            return f"{column} IN (SELECT value FROM json_each(:{name}))"

        def rows(names: str, *columns: tuple[str, str]) -> str:
            # One JSON array of rows (`_Statements.rows`), named after the first column.
            values = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(columns)))
            if len(columns) == 1:
                values = "value"
            return f"{names} AS (SELECT {values} FROM json_each(:{columns[0][0]}))"

        # CROSS JOIN keeps the list the outer loop (SQLite's planner takes a table-valued
        # function for a large one): one probe of the index per element.
        join = "CROSS JOIN"
        named_join = (
            "CROSS JOIN nodes ON nodes.dataset_id = :d "
            "AND nodes.key >= wanted.lo AND nodes.key < wanted.hi"
        )
        find = "instr"
    else:

        def among(column: str, name: str) -> str:
            return f"{column} = ANY(CAST(:{name} AS uuid[]))"

        def rows(names: str, *arrays: tuple[str, str]) -> str:
            values = ", ".join(f"CAST(:{a} AS {t}[])" for a, t in arrays)
            return f"{names} AS (SELECT * FROM unnest({values}))"

        # The index is probed name by name (a LATERAL subquery that OFFSET 0 keeps apart):
        # joining, PostgreSQL guesses a scan of all the dataset's nodes cheaper for a few
        # names (10 ms instead of 1 at 10,000 chunks).
        named_join = """CROSS JOIN LATERAL (
    SELECT id, key, name FROM nodes
    WHERE dataset_id = :d AND key >= wanted.lo AND key < wanted.hi OFFSET 0
) AS nodes"""
        join = "JOIN"
        find = "strpos"
    wanted = rows("wanted(node_id, n)", ("nodes", "uuid"), ("counts", "integer"))
    pairs = rows(
        "pairs(data_id, entity, mentions)",
        ("items", "uuid"),
        ("entities", "text"),
        ("counts", "integer"),
    )
    names = rows("names(name)", ("names", "text"))
    return _Statements(
        sqlite,
        chunks=text(f"SELECT id, data_id, text FROM chunks WHERE {among('id', 'ids')}"),
        nodes_of_items=text(
            "SELECT s.data_id, nodes.key, nodes.name, s.mentions FROM node_sources AS s "
            f"JOIN nodes ON nodes.id = s.node_id WHERE {among('s.data_id', 'ids')}"
        ),
        # One range of the (dataset_id, key) index per name: a node's key is
        # "<normalised name>|<type>".
        named=text(
            f"WITH {names}, wanted(lo, hi) AS (SELECT name || '|', name || '}}' FROM names) "
            f"SELECT nodes.id, nodes.key, nodes.name, {_ITEMS} AS items FROM wanted {named_join}"
        ),
        edges=text(
            "SELECT id, source_id, target_id, relation, description FROM edges "
            f"WHERE {among('source_id', 'ids')} OR {among('target_id', 'ids')}"
        ),
        counted_nodes=text(f"SELECT id, name, key, {_ITEMS} FROM nodes WHERE {among('id', 'ids')}"),
        expanded=text(_EXPANDED.format(wanted=wanted, join=join, filter="")),
        expanded_in=text(
            _EXPANDED.format(wanted=wanted, join=join, filter="WHERE " + among("s.data_id", "only"))
        ),
        mentions=text(_MENTIONS.format(pairs=pairs, join=join, find=find)),
    )


# The items that support the most specific of some nodes, and each item's chunk count.
_EXPANDED = """
WITH {wanted},
found AS (
    SELECT s.node_id, s.data_id, s.mentions, w.n FROM wanted AS w
    {join} node_sources AS s ON s.node_id = w.node_id {filter}
),
chosen AS (
    SELECT data_id, min(n) AS first FROM found GROUP BY data_id
    ORDER BY first, data_id LIMIT :items
)
SELECT f.node_id, f.data_id, f.mentions,
    (SELECT count(*) FROM chunks AS c WHERE c.data_id = chosen.data_id) AS size
FROM found AS f JOIN chosen ON chosen.data_id = f.data_id
ORDER BY chosen.first, f.data_id, f.n
"""

# The chunks of some items that name some entities (a one-chunk item's by its count).
_MENTIONS = """
WITH {pairs}
SELECT c.id, c.data_id, p.entity,
    CASE WHEN one.data_id IS NULL THEN p.mentions ELSE 1 END AS n
FROM pairs AS p
{join} chunks AS c ON c.data_id = p.data_id
LEFT JOIN chunks AS one ON one.data_id = p.data_id AND one.idx = 1
WHERE one.data_id IS NULL OR {find}(lower(c.text), p.entity) > 0
"""

_STATEMENTS = {"sqlite": _statements(True), "postgresql": _statements(False)}


def _sql(conn: Connection) -> _Statements:
    return _STATEMENTS[conn.dialect.name]


_QUERY_WORD = re.compile(r"\S+")


@dataclass
class GraphResult:
    passages: Ranking  # chunk ids by PageRank, best first
    triplets: list[Triplet] = field(default_factory=list)
    entities: list[tuple[str, float]] = field(default_factory=list)  # query-linked names


def entity_of(key: str) -> str:
    """A node key's entity: its normalised name ("<name>|<type>")."""
    return key.rsplit("|", 1)[0]


def phrases(query: str) -> list[str]:
    """The query's normalised word sequences (up to MAX_PHRASE_WORDS words, longest first)
    that may name an entity: not only function words, and, when the query capitalises
    names, holding a capitalised word or a number ("north" in "the region north of Israel"
    names nothing; "Israel" does)."""
    words: list[tuple[str, bool]] = []  # (normalised token, looks like part of a name)
    for position, raw in enumerate(_QUERY_WORD.findall(query)):
        tokens = normalize_name(raw).split() if any(c.isalnum() for c in raw) else []
        named = raw[:1].isupper() or any(c.isdigit() for c in raw)
        if position == 0 and tokens and tokens[0] in STOPWORDS:
            named = False  # "Who", "What": capitalised as the sentence's first word
        words += [(t, named) for t in tokens]
    capitalised = any(named for _, named in words[1:])
    found: dict[str, None] = {}
    for size in range(min(MAX_PHRASE_WORDS, len(words)), 0, -1):
        for start in range(len(words) - size + 1):
            gram = words[start : start + size]
            tokens = [t for t, _ in gram]
            if all(t in STOPWORDS for t in tokens) or (size == 1 and len(tokens[0]) < 3):
                continue
            if capitalised and not any(named for _, named in gram):
                continue
            found.setdefault(" ".join(tokens), None)
    return list(found)


async def nodes_of_entities(
    db: Database, dataset_id: uuid.UUID, entities: Collection[str]
) -> list[tuple[uuid.UUID, str, str, int]]:
    """(node id, key, name, items naming it) of the dataset's nodes of these normalised
    names, any type."""
    if not entities:
        return []
    found = await db.run_read(lambda conn: _nodes_of_entities(conn, dataset_id, entities))
    return [(_uuid(i), k, n, c) for i, k, n, c in found]


def _nodes_of_entities(
    conn: Connection, dataset_id: uuid.UUID, entities: Collection[str]
) -> list[tuple[Key, str, str, int]]:
    if not entities:
        return []
    sql = _sql(conn)
    params = {"d": sql.key(dataset_id), "names": sql.array(entities)}
    return [(i, str(k), str(n), int(c)) for i, k, n, c in _rows(conn, sql.named, params)]


def _uuid(key: Key) -> uuid.UUID:
    """An id as the store gave it, as a UUID."""
    return uuid.UUID(hex=key) if isinstance(key, str) else key


async def entities_named_in(db: Database, dataset_id: uuid.UUID, query: str) -> list[str]:
    """Entities whose name is a phrase of the query; a phrase inside a longer matched
    phrase does not count again ("Velden" inside "Velden Optics")."""
    grams = phrases(query)
    present = {entity_of(key) for _, key, _, _ in await nodes_of_entities(db, dataset_id, grams)}
    taken: list[str] = []
    for gram in grams:  # longest first
        if gram in present and not any(f" {gram} " in f" {longer} " for longer in taken):
            taken.append(gram)
    return taken


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
    passages, best first; the triplets around the query's entities."""
    entity_seed = await _query_entities(db, vectors, dataset_id, query, query_vector)
    # Passages seed by rank (the first stage's scores are flat where it hesitates) and weigh
    # little beside the query's entities (HippoRAG 2 gives them 0.05): a seed passage
    # would otherwise outrank every passage the walk finds beyond it.
    sql = _STATEMENTS["sqlite" if db.is_sqlite else "postgresql"]
    passage_seed = {sql.key(c): 1.0 / r for r, (c, _) in enumerate(seed_passages, 1)}
    only = None if data_ids is None else {sql.key(d) for d in data_ids}
    local = await db.run_read(
        lambda conn: _neighbourhood(conn, dataset_id, entity_seed, passage_seed, only)
    )

    # The walk's nodes, numbered in the order they are met: passages and entities apart
    # (a passage's key may be a string too).
    chunk_index: dict[Key, int] = {}
    entity_index: dict[str, int] = {}

    def at(keys: dict[Any, int], key: Any) -> int:
        found = keys.get(key)
        if found is None:
            found = keys[key] = len(chunk_index) + len(entity_index)
        return found

    sources: list[int] = []
    targets: list[int] = []
    weights: list[float] = []
    for (chunk_id, entity), count in local.mentions.items():
        a, b = at(chunk_index, chunk_id), at(entity_index, entity)
        # A passage passes its walk to the specific entities it names; an entity to the
        # passages that talk about it most.
        sources += [a, b]
        targets += [b, a]
        weights += [1.0 / max(1, local.counts.get(entity, 1)), float(count)]
    for source, target, _, _ in local.relations.values():
        a, b = at(entity_index, source), at(entity_index, target)
        sources += [a, b]
        targets += [b, a]
        weights += [1.0, 1.0]
    for chunk_id in passage_seed:
        at(chunk_index, chunk_id)
    for entity in entity_seed:
        at(entity_index, entity)
    restart = np.zeros(len(chunk_index) + len(entity_index))
    for e, w in entity_seed.items():
        # By specificity, not normalised: an entity of one item steers the walk, one that
        # fifty items name barely does (then the passages lead).
        restart[entity_index[e]] += ENTITY_SEED_MASS * w / max(1, local.counts.get(e, 1))
    for c, w in passage_seed.items():
        restart[chunk_index[c]] += PASSAGE_SEED_MASS * w / sum(passage_seed.values())
    if restart.sum() == 0:
        return GraphResult([])
    restart /= restart.sum()
    scores = _pagerank(
        len(restart), np.array(sources), np.array(targets), np.array(weights), restart
    )

    found = [
        (key, float(scores[i]))
        for key, i in chunk_index.items()
        if key in local.chunk_item and scores[i] > 0
    ]
    found.sort(key=lambda p: -p[1])
    passages = [(_uuid(key), score) for key, score in found[: max(k, 1)]]
    entity_scores = {e: float(scores[i]) for e, i in entity_index.items()}
    triplets = sorted(
        (
            Triplet(
                local.names.get(s, s),
                relation,
                local.names.get(t, t),
                description,
                entity_scores.get(s, 0.0) + entity_scores.get(t, 0.0),
            )
            for s, t, relation, description in local.relations.values()
        ),
        key=lambda t: -t.score,
    )[:MAX_TRIPLETS]
    linked = sorted(
        ((local.names.get(e, e), entity_scores.get(e, 0.0)) for e in entity_seed),
        key=lambda x: -x[1],
    )
    return GraphResult(passages, triplets, linked)


async def _query_entities(
    db: Database,
    vectors: VectorSearch,
    dataset_id: uuid.UUID,
    query: str,
    query_vector: Vector | None,
) -> dict[str, float]:
    """Entities the query names (weight 1) or whose name vectors are close to it (their
    similarity)."""
    seeds = dict.fromkeys(await entities_named_in(db, dataset_id, query), 1.0)
    if query_vector is not None:
        near = dict(await vectors.nearest_nodes(dataset_id, query_vector, NODE_VECTOR_CANDIDATES))
        close = [n for n, similarity in near.items() if similarity >= NODE_VECTOR_MIN_SIMILARITY]
        if close:
            for node_id, _, key in await db.read_rows(_NODES, {"ids": close}):
                entity = entity_of(key)
                seeds[entity] = max(seeds.get(entity, 0.0), near[node_id])
    return seeds


@dataclass
class _Neighbourhood:
    """The part of the graph a query walks: entities (by normalised name), passages, and
    which passage mentions which entity how often."""

    names: dict[str, str] = field(default_factory=dict)  # entity -> a node's name
    counts: dict[str, int] = field(default_factory=dict)  # entity -> items naming it
    chunk_item: dict[Key, Key] = field(default_factory=dict)
    mentions: dict[tuple[Key, str], int] = field(default_factory=dict)
    relations: dict[Key, tuple[str, str, str, str]] = field(default_factory=dict)
    normalised: dict[Key, str] = field(default_factory=dict)  # chunk -> its words

    def _count_in(self, entity: str, chunk_id: Key, chunk_text: str) -> int:
        """How often a chunk names an entity (normalised, whole words)."""
        words = self.normalised.get(chunk_id)
        if words is None:
            words = self.normalised[chunk_id] = f" {normalize_name(chunk_text)} "
        return words.count(f" {entity} ") if entity else 0

    def link(self, chunks: list[tuple[Key, str]], data_id: Key, entity: str, mentions: int) -> None:
        """Link an entity to the chunks of an item that supports it: a one-chunk item's
        chunk by the item's mention count, otherwise the chunks that name it."""
        for chunk_id, chunk_text in chunks:
            count = mentions if len(chunks) == 1 else self._count_in(entity, chunk_id, chunk_text)
            if count:
                key = (chunk_id, entity)
                self.mentions[key] = self.mentions.get(key, 0) + count
                self.chunk_item[chunk_id] = data_id


def _neighbourhood(
    conn: Connection,
    dataset_id: uuid.UUID,
    entity_seed: dict[str, float],
    passage_seed: dict[Key, float],
    data_ids: Collection[Key] | None,
) -> _Neighbourhood:
    """Seed passages and the entities they name; the query's entities and their relation
    neighbours; and the passages of all those entities that are not hubs. One read
    (`Database.run_read`): ~7 statements on one connection, one snapshot."""
    sql = _sql(conn)
    local = _Neighbourhood()
    seed_chunks: dict[Key, list[tuple[Key, str]]] = defaultdict(list)
    for chunk_id, data_id, chunk_text in _rows(conn, sql.chunks, {"ids": sql.array(passage_seed)}):
        seed_chunks[data_id].append((chunk_id, chunk_text))
        local.chunk_item[chunk_id] = data_id
    for data_id, key, name, mentions in _rows(
        conn, sql.nodes_of_items, {"ids": sql.array(seed_chunks)}
    ):
        entity = entity_of(key)
        local.names.setdefault(entity, name)
        local.link(seed_chunks[data_id], data_id, entity, mentions)

    entities = set(entity_seed) | {e for _, e in local.mentions}
    node_entity: dict[Key, str] = {}

    def add(node_id: Key, key: str, name: str, items: int) -> None:
        entity = node_entity[node_id] = entity_of(key)
        local.names.setdefault(entity, name)
        local.counts[entity] = local.counts.get(entity, 0) + items

    for node_id, key, name, items in _nodes_of_entities(conn, dataset_id, sorted(entities)):
        add(node_id, key, name, items)
    seed_nodes = [n for n, e in node_entity.items() if e in entity_seed]
    if seed_nodes:
        edges = _rows(conn, sql.edges, {"ids": sql.array(seed_nodes)})
        ends = {n for _, s, t, _, _ in edges for n in (s, t)} - node_entity.keys()
        if ends:
            for node_id, name, key, items in _rows(
                conn, sql.counted_nodes, {"ids": sql.array(ends)}
            ):
                add(node_id, key, name, int(items))
        for edge_id, source, target, relation, description in edges[:MAX_NEIGHBOURS]:
            local.relations[edge_id] = (
                node_entity[source],
                node_entity[target],
                relation,
                description,
            )
    if not node_entity:
        return local
    specificity = {
        n: local.counts[e]
        for n, e in node_entity.items()
        if local.counts.get(e, 0) <= MAX_ITEMS_PER_ENTITY
    }
    supports: dict[Key, dict[str, int]] = defaultdict(dict)
    sizes: dict[Key, int] = {}
    for node_id, data_id, mentions, size in _expanded_items(conn, specificity, data_ids):
        entity = node_entity[node_id]
        supports[data_id][entity] = supports[data_id].get(entity, 0) + mentions
        sizes[data_id] = size
    new_items = [d for d in supports if d not in seed_chunks]  # seeds: linked above
    pairs = []
    scanned = 0
    for data_id in new_items:  # most specific entities' items first
        if sizes.get(data_id, 0) > 1:
            # The item's chunks are searched for the name: a bound on the text read.
            if scanned + sizes[data_id] > MAX_SCANNED_CHUNKS:
                continue
            scanned += sizes[data_id]
        pairs += [(data_id, entity, n) for entity, n in supports[data_id].items()]
    for chunk_id, data_id, entity, count in _mentioning_chunks(conn, pairs):
        local.mentions[(chunk_id, entity)] = local.mentions.get((chunk_id, entity), 0) + count
        local.chunk_item[chunk_id] = data_id
    if data_ids is not None:
        local.chunk_item = {c: d for c, d in local.chunk_item.items() if d in data_ids}
    return local


def _expanded_items(
    conn: Connection, specificity: dict[Key, int], data_ids: Collection[Key] | None
) -> list[tuple[Key, Key, int, int]]:
    """(node, item, mentions, the item's chunks) for the MAX_EXPANDED_ITEMS items that
    support the most specific of these nodes (the fewest items name their entity), every
    node of them each item supports, most specific items first. The choice is made by the
    database: only the chosen items' rows travel."""
    if not specificity or (data_ids is not None and not data_ids):
        return []
    sql = _sql(conn)
    params = sql.rows(nodes=list(specificity), counts=list(specificity.values()))
    params["items"] = MAX_EXPANDED_ITEMS
    statement = sql.expanded
    if data_ids is not None:
        statement, params["only"] = sql.expanded_in, sql.array(data_ids)
    return [(n, d, int(m), int(c)) for n, d, m, c in _rows(conn, statement, params)]


def _mentioning_chunks(
    conn: Connection, pairs: list[tuple[Key, str, int]]
) -> list[tuple[Key, Key, str, int]]:
    """For (item, entity, mentions) pairs: (chunk, item, entity, weight) of the item's
    chunks that name the entity (weight 1); a one-chunk item's chunk with the item's count.
    The texts are searched by the database: they never travel."""
    if not pairs:
        return []
    sql = _sql(conn)
    params = sql.rows(
        items=[d for d, _, _ in pairs],
        entities=[e for _, e, _ in pairs],
        counts=[m for _, _, m in pairs],
    )
    rows = _rows(conn, sql.mentions, params)
    return [(c, d, str(e), int(n)) for c, d, e, n in rows if n]


def _rows(conn: Connection, statement: Any, params: dict[str, Any]) -> list[Any]:
    return list(conn.execute(statement, params))


def _pagerank(
    size: int,
    sources: npt.NDArray[np.int_],
    targets: npt.NDArray[np.int_],
    weights: npt.NDArray[np.float64],
    restart: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Scores of the walk that follows an edge with probability DAMPING (in proportion to
    the edges' weights) and otherwise jumps back to a seed, drawn from `restart`."""
    if sources.size == 0:
        return restart
    out = np.bincount(sources, weights=weights, minlength=size)
    share = weights / out[sources]
    stuck = out == 0  # a walk at a node without edges restarts
    scores = restart.copy()
    for _ in range(ITERATIONS):
        spread = np.bincount(targets, weights=scores[sources] * share, minlength=size)
        updated = (1 - DAMPING) * restart + DAMPING * (spread + scores[stuck].sum() * restart)
        if np.abs(updated - scores).sum() < 1e-9:
            return updated
        scores = updated
    return scores
