"""The graph store on SQLite and PostgreSQL: what writing, rewriting and removing an item
leaves in chunks, vectors, summaries, nodes, edges and their provenance."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from sqlalchemy import func, select, text

from graphmill.config import Settings
from graphmill.db import Database, migrate
from graphmill.db.models import (
    Blob,
    Chunk,
    ChunkVector,
    Data,
    Dataset,
    DatasetConfig,
    DocumentSummary,
    Edge,
    EdgeSource,
    Node,
    NodeSource,
    User,
)
from graphmill.graph import store
from graphmill.graph.model import Entity, Relation, normalize_name
from graphmill.search import graph as search_graph
from graphmill.search import lexical

T = TypeVar("T")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'graphmill.db'}"
    pg = request.getfixturevalue("pg")
    return Settings(_env_file=None, database_url=pg.create_database(request)).sqlalchemy_url


def run(db_url: str, tmp_path: Path, scenario: Callable[[Graphs], Awaitable[T]]) -> T:
    async def main() -> T:
        db = Database(db_url)
        try:
            if db.is_sqlite:
                await migrate(db, tmp_path)
                await db.reset_pool()
            return await scenario(await Graphs.create(db))
        finally:
            await db.dispose()

    return asyncio.run(main())


def graph(
    entities: list[tuple[str, str, str, int]],
    relations: Sequence[tuple[str, str, str, str]] = (),
    chunks: list[str] | None = None,
    summary: str = "a summary",
) -> store.ItemGraph:
    """An item's graph: entities as (name, type, description, mentions), relations as
    (source, target, name, description), chunks as texts with 4-dimensional vectors."""
    texts = chunks if chunks is not None else ["first chunk", "second chunk"]
    mentions: dict[str, int] = {}
    for name, type_, _, count in entities:
        key = store.node_key(name, type_)
        mentions[key] = mentions.get(key, 0) + count
    return store.ItemGraph(
        chunks=[(t, len(t.split()), None) for t in texts],
        chunk_vectors=np.arange(4 * len(texts), dtype=np.float32).reshape(len(texts), 4),
        entities=[Entity(name, type_, description) for name, type_, description, _ in entities],
        entity_mentions=mentions,
        entity_vectors={key: np.ones(4, dtype=np.float32) for key in mentions},
        relations=[Relation(*r) for r in relations],
        summary=summary,
        embedding_model="test/model",
        embedding_dimension=4,
    )


class Graphs:
    """One dataset in a fresh store, with helpers to write items and read what is stored."""

    def __init__(self, db: Database, dataset_id: uuid.UUID, owner_id: uuid.UUID) -> None:
        self.db = db
        self.dataset_id = dataset_id
        self.owner_id = owner_id

    @classmethod
    async def create(cls, db: Database) -> Graphs:
        owner_id, dataset_id = uuid.uuid4(), uuid.uuid4()
        async with db.write() as session:
            session.add(User(id=owner_id, email=f"{owner_id.hex}@example.com"))
            await session.flush()
            session.add(Dataset(id=dataset_id, name="graph", owner_id=owner_id))
        return cls(db, dataset_id, owner_id)

    async def other_dataset(self) -> Graphs:
        dataset_id = uuid.uuid4()
        async with self.db.write() as session:
            session.add(Dataset(id=dataset_id, name=f"other-{dataset_id}", owner_id=self.owner_id))
        return Graphs(self.db, dataset_id, self.owner_id)

    async def item(self, name: str) -> uuid.UUID:
        sha = hashlib.sha256(f"{self.dataset_id}{name}".encode()).hexdigest()
        data_id = uuid.uuid4()
        async with self.db.write() as session:
            session.add(Blob(sha256=sha, size=1, location=sha))
            await session.flush()
            session.add(
                Data(
                    id=data_id,
                    dataset_id=self.dataset_id,
                    owner_id=self.owner_id,
                    name=name,
                    original_name=name,
                    extension="txt",
                    mime_type="text/plain",
                    content_hash=sha,
                    size=1,
                )
            )
        return data_id

    async def write(self, data_id: uuid.UUID, item_graph: store.ItemGraph) -> None:
        await self.db.run(
            lambda conn: store.write_item(conn, self.dataset_id, data_id, "hash", item_graph)
        )

    async def remove(self, data_id: uuid.UUID) -> None:
        async with self.db.write() as session:
            await store.remove_item(session, data_id)

    async def nodes(self) -> dict[str, tuple[int, str, int]]:
        """(mentions, description, number of sources) by node name."""
        view = await store.read_graph(self.db, self.dataset_id)
        return {
            n["label"]: (
                n["properties"]["mentions"],
                n["properties"]["description"],
                n["properties"]["sources"],
            )
            for n in view.nodes
        }

    async def edges(self) -> dict[tuple[str, str, str], tuple[int, str]]:
        """(mentions, description) by (source name, target name, relation)."""
        async with self.db.read() as session:
            names = dict(
                (
                    await session.execute(
                        select(Node.id, Node.name).where(Node.dataset_id == self.dataset_id)
                    )
                ).all()
            )
            rows = await session.execute(
                select(
                    Edge.source_id, Edge.target_id, Edge.relation, Edge.mentions, Edge.description
                ).where(Edge.dataset_id == self.dataset_id)
            )
            return {(names[s], names[t], r): (m, d) for s, t, r, m, d in rows}

    async def counts(self) -> dict[str, int]:
        tables: dict[str, Any] = {
            "chunks": Chunk.dataset_id,
            "chunk_vectors": ChunkVector.dataset_id,
            "summaries": DocumentSummary.dataset_id,
            "nodes": Node.dataset_id,
            "edges": Edge.dataset_id,
        }
        async with self.db.read() as session:
            found = {
                name: await session.scalar(
                    select(func.count()).select_from(column.table).where(column == self.dataset_id)
                )
                for name, column in tables.items()
            }
            found["node_sources"] = await session.scalar(
                select(func.count())
                .select_from(NodeSource)
                .join(Node, Node.id == NodeSource.node_id)
                .where(Node.dataset_id == self.dataset_id)
            )
            found["edge_sources"] = await session.scalar(
                select(func.count())
                .select_from(EdgeSource)
                .join(Edge, Edge.id == EdgeSource.edge_id)
                .where(Edge.dataset_id == self.dataset_id)
            )
        return {name: int(count or 0) for name, count in found.items()}

    async def chunks_of(self, data_id: uuid.UUID) -> list[str]:
        async with self.db.read() as session:
            return list(
                await session.scalars(
                    select(Chunk.text).where(Chunk.data_id == data_id).order_by(Chunk.idx)
                )
            )

    async def summary_of(self, data_id: uuid.UUID) -> str | None:
        async with self.db.read() as session:
            return await session.scalar(
                select(DocumentSummary.text).where(DocumentSummary.data_id == data_id)
            )


ADA = "Ada Lovelace"
BABBAGE = "Charles Babbage"


def test_writing_an_item_stores_its_chunks_vectors_summary_and_graph(
    db_url: str, tmp_path: Path
) -> None:
    async def scenario(g: Graphs) -> None:
        item = await g.item("notes.txt")
        await g.write(
            item,
            graph(
                [
                    (ADA, "Person", "A mathematician.", 1),
                    (" ada lovelace ", "person", "Wrote the first program.", 1),
                    (BABBAGE, "Person", "Built engines.", 1),
                ],
                [
                    (ADA, BABBAGE, "worked_with", "On the engine."),
                    ("ADA LOVELACE", BABBAGE, "worked_with", "In London."),
                    (ADA, ADA, "is", "a loop, skipped"),
                    (ADA, "Nobody", "knows", "an unknown end, skipped"),
                ],
                chunks=["one two three", "four five"],
                summary="Ada and Babbage.",
            ),
        )
        assert await g.counts() == {
            "chunks": 2,
            "chunk_vectors": 2,
            "summaries": 1,
            "nodes": 2,
            "edges": 1,
            "node_sources": 2,
            "edge_sources": 1,
        }
        assert await g.nodes() == {
            ADA: (2, "A mathematician. Wrote the first program.", 1),
            BABBAGE: (1, "Built engines.", 1),
        }
        assert await g.edges() == {(ADA, BABBAGE, "worked_with"): (2, "On the engine. In London.")}
        assert await g.chunks_of(item) == ["one two three", "four five"]
        assert await g.summary_of(item) == "Ada and Babbage."
        async with g.db.read() as session:
            assert await session.scalar(select(Data.token_count).where(Data.id == item)) == 5
            vectors: list[Any] = list(await session.scalars(select(ChunkVector.embedding)))
            embedding = await session.scalar(select(Node.embedding).where(Node.name == ADA))
        assert sorted(float(v[0]) for v in vectors) == [0.0, 4.0]
        assert embedding is not None and embedding.tolist() == [1.0, 1.0, 1.0, 1.0]

    run(db_url, tmp_path, scenario)


def test_a_shared_node_survives_a_delete_rebuilt_from_the_remaining_sources(
    db_url: str, tmp_path: Path
) -> None:
    async def scenario(g: Graphs) -> None:
        a, b = await g.item("a.txt"), await g.item("b.txt")
        await g.write(
            a,
            graph(
                [
                    (ADA, "Person", "Wrote the first program.", 2),
                    (BABBAGE, "Person", "Built engines.", 1),
                    ("Zorblax Quentaro", "Person", "A planted name.", 1),
                ],
                [
                    (ADA, BABBAGE, "worked_with", "Corresponded."),
                    ("Zorblax Quentaro", ADA, "knows", "Only in a."),
                ],
            ),
        )
        await g.write(
            b,
            graph(
                [(ADA, "Person", "Worked with Babbage.", 3), (BABBAGE, "Person", "", 1)],
                [(ADA, BABBAGE, "worked_with", "Met in London.")],
            ),
        )
        assert (await g.nodes())[ADA] == (5, "Wrote the first program. Worked with Babbage.", 2)
        assert (await g.edges())[(ADA, BABBAGE, "worked_with")] == (
            2,
            "Corresponded. Met in London.",
        )

        await g.remove(a)
        assert await g.nodes() == {
            ADA: (3, "Worked with Babbage.", 1),
            BABBAGE: (1, "", 1),
        }
        assert await g.edges() == {(ADA, BABBAGE, "worked_with"): (1, "Met in London.")}
        assert await g.chunks_of(a) == [] and await g.summary_of(a) is None
        assert (await g.counts())["chunk_vectors"] == 2

        await g.remove(b)
        assert await g.counts() == dict.fromkeys(
            [
                "chunks",
                "chunk_vectors",
                "summaries",
                "nodes",
                "edges",
                "node_sources",
                "edge_sources",
            ],
            0,
        )

    run(db_url, tmp_path, scenario)


def test_a_delete_keeps_the_order_of_the_remaining_descriptions(
    db_url: str, tmp_path: Path
) -> None:
    async def scenario(g: Graphs) -> None:
        items = [await g.item(f"{n}.txt") for n in "abc"]
        for item, said in zip(items, ["First.", "Second.", "Third."], strict=True):
            await g.write(item, graph([(ADA, "Person", said, 1)]))
        assert (await g.nodes())[ADA] == (3, "First. Second. Third.", 3)
        await g.remove(items[1])
        assert (await g.nodes())[ADA] == (2, "First. Third.", 2)

    run(db_url, tmp_path, scenario)


def test_rewriting_an_item_replaces_its_contribution(db_url: str, tmp_path: Path) -> None:
    old = graph(
        [(ADA, "Person", "Old text.", 2), ("Old Entity", "Thing", "Gone soon.", 1)],
        [(ADA, "Old Entity", "had", "Old relation.")],
        chunks=["old one", "old two", "old three"],
        summary="old",
    )
    new = graph(
        [(ADA, "Person", "New text.", 1), ("New Entity", "Thing", "Here now.", 4)],
        [(ADA, "New Entity", "has", "New relation.")],
        chunks=["new"],
        summary="new",
    )
    other = graph([(ADA, "Person", "Other text.", 1)], chunks=["other"])

    async def scenario(g: Graphs) -> None:
        a, b = await g.item("a.txt"), await g.item("b.txt")
        await g.write(a, old)
        await g.write(a, old)  # a replay cannot duplicate
        assert (await g.nodes())[ADA] == (2, "Old text.", 1)
        await g.write(b, other)
        await g.write(a, new)
        rewritten = (await g.nodes(), await g.edges(), await g.counts())
        assert rewritten[0] == {
            ADA: (2, "Other text. New text.", 2),
            "New Entity": (4, "Here now.", 1),
        }
        assert await g.chunks_of(a) == ["new"] and await g.summary_of(a) == "new"

        # The same as writing the other item and then the new graph into a fresh dataset.
        fresh = await g.other_dataset()
        await fresh.write(await fresh.item("b.txt"), other)
        await fresh.write(await fresh.item("a.txt"), new)
        assert (await fresh.nodes(), await fresh.edges(), await fresh.counts()) == rewritten

    run(db_url, tmp_path, scenario)


def test_descriptions_merged_in_sql_match_merge_descriptions(db_url: str, tmp_path: Path) -> None:
    said = [
        "A person who wrote notes on the engine.",
        "wrote notes",  # contained in the first: not repeated
        "",
        "x" * 900,
        "y" * 900,
        "z" * 900,  # past the cap
    ]

    async def scenario(g: Graphs) -> None:
        for n, text_ in enumerate(said):
            await g.write(await g.item(f"{n}.txt"), graph([(ADA, "Person", text_, 1)]))
        mentions, description, sources = (await g.nodes())[ADA]
        assert (mentions, sources) == (6, 6)
        assert description == store.merge_descriptions(said)
        assert len(description) == store.MAX_DESCRIPTION
        assert description.count("wrote notes") == 1 and "z" in description

    run(db_url, tmp_path, scenario)


def test_merge_descriptions_keeps_the_order_and_leaves_out_what_is_there() -> None:
    merged = store.merge_descriptions(
        [" A person. ", "A person.", "", "Works at Acme.", "A person. Works at Acme.", "Acme"]
    )
    assert merged == "A person. Works at Acme."
    assert len(store.merge_descriptions(["a" * 1500, "b" * 1500])) == store.MAX_DESCRIPTION


def test_the_first_embedding_model_recorded_wins(db_url: str, tmp_path: Path) -> None:
    async def scenario(g: Graphs) -> list[tuple[uuid.UUID, str | None, int | None]]:
        configured = await g.other_dataset()
        async with g.db.write() as session:
            # A dataset whose schema was set before any vectors: its config row exists.
            session.add(DatasetConfig(dataset_id=configured.dataset_id, custom_prompt="p"))
        for dataset_id in (g.dataset_id, configured.dataset_id):
            for model, dimension in (("first/model", 4), ("second/model", 8)):
                await g.db.run(
                    lambda conn, d=dataset_id, m=model, n=dimension: store.record_embedding_model(
                        conn, d, m, n
                    )
                )
        async with g.db.read() as session:
            rows = await session.execute(
                select(
                    DatasetConfig.dataset_id,
                    DatasetConfig.embedding_model,
                    DatasetConfig.embedding_dimension,
                )
            )
            return sorted((d, m, n) for d, m, n in rows)

    rows = run(db_url, tmp_path, scenario)
    assert [(m, n) for _, m, n in rows] == [("first/model", 4), ("first/model", 4)]


def test_ensure_vector_index_makes_a_missing_index_once(db_url: str, tmp_path: Path) -> None:
    async def scenario(g: Graphs) -> Any:
        await store.ensure_vector_index(g.db, 8)
        await store.ensure_vector_index(g.db, 8)
        if g.db.is_sqlite:
            return None
        async with g.db.read() as session:
            return await session.scalar(text("SELECT to_regclass('ix_chunk_vectors_hnsw_8')"))

    found = run(db_url, tmp_path, scenario)
    if db_url.startswith("sqlite"):
        assert found is None  # no vector index there: search scans the dataset's vectors
    else:
        assert found == "ix_chunk_vectors_hnsw_8"


def test_graph_retrieval_finds_the_nodes_of_names_with_their_item_counts(
    db_url: str, tmp_path: Path
) -> None:
    """Every type of a name, only in the dataset, each with the number of items naming it;
    on SQLite, provenance is read without a second lookup: by item from a covering index
    (migration 0011), by node from the table, one B-tree in that key's order (0013)."""

    async def scenario(g: Graphs) -> None:
        a, b, c = await g.item("a.txt"), await g.item("b.txt"), await g.item("c.txt")
        await g.write(a, graph([(ADA, "Person", "", 2), (BABBAGE, "Person", "", 1)]))
        await g.write(b, graph([(ADA, "Person", "", 1)]))
        await g.write(c, graph([(ADA, "Concept", "", 1)]))
        other = await g.other_dataset()
        await other.write(await other.item("d.txt"), graph([(ADA, "Person", "", 1)]))

        wanted = [normalize_name(ADA), normalize_name(BABBAGE), "nobody"]
        found = await search_graph.nodes_of_entities(g.db, g.dataset_id, wanted)
        assert sorted((key, name, items) for _, key, name, items in found) == [
            (store.node_key(ADA, "Concept"), ADA, 1),
            (store.node_key(ADA, "Person"), ADA, 2),
            (store.node_key(BABBAGE, "Person"), BABBAGE, 1),
        ]

        if g.db.is_sqlite:
            async with g.db.read() as session:
                for column, way in (
                    ("node_id", "PRIMARY KEY (node_id=?)"),  # the table itself (0013)
                    ("data_id", "COVERING INDEX ix_node_sources_data"),
                ):
                    plan = await session.execute(
                        text(
                            "EXPLAIN QUERY PLAN SELECT node_id, data_id, mentions"
                            f" FROM node_sources WHERE {column} = :x"
                        ),
                        {"x": "0" * 32},
                    )
                    detail = " ".join(str(row[-1]) for row in plan)
                    assert f"SEARCH node_sources USING {way}" in detail, detail

    run(db_url, tmp_path, scenario)


def test_full_text_leaves_out_the_words_of_many_passages(db_url: str, tmp_path: Path) -> None:
    """A query's words are matched rarest first within a budget of postings: a word in more
    than COMMON passages is left out (unless it is the rarest). On PostgreSQL, once the
    table's statistics put a word in many times more passages, it is left out without being
    counted: the same answers either way."""
    many = 4 * lexical.COMMON + 300

    async def scenario(g: Graphs) -> None:
        texts = [f"alpha filler{i % 7}" for i in range(many)]
        texts[0] += " omega"
        for i in range(1, 31):
            texts[i] += " gamma"
        item = await g.item("many.txt")
        await g.write(item, graph([(ADA, "Person", "", 1)], chunks=texts))
        text_of = dict(await g.db.read_rows(select(Chunk.id, Chunk.text)))

        async def answers() -> tuple[list[str], list[str]]:
            rare = await lexical.search(g.db, g.dataset_id, "alpha omega", 5)
            fewer = await lexical.search(g.db, g.dataset_id, "alpha gamma", 50)
            return [text_of[c] for c, _ in rare], [text_of[c] for c, _ in fewer]

        counted = await answers()
        assert counted[0] == [texts[0]]  # "alpha" left out: only "omega" matched
        assert sorted(counted[1]) == sorted(texts[1:31])  # only "gamma" matched
        if not g.db.is_sqlite:
            await g.db.run(lambda conn: conn.execute(text("ANALYZE search_fts")))
            frequent = await g.db.read_rows(
                lexical._POSTGRESQL_FREQUENT, {"terms": ["alpha", "gamma", "omega"]}
            )
            assert [row[0] for row in frequent] == ["alpha"]
            assert await answers() == counted

    run(db_url, tmp_path, scenario)


def test_new_rows_get_time_ordered_ids() -> None:
    """Chunk, node and edge ids are RFC 9562 version 7: a later batch sorts after an earlier
    one (as text too, which is how SQLite stores them), so new rows go to the end of the
    indexes keyed by them; within a batch they are distinct and carry 74 random bits."""
    first = store._new_ids(1000)
    _next_millisecond()
    later = store._new_ids(1000)
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in first + later)
    assert len(set(first)) == 1000
    assert max(i.hex for i in first) < min(i.hex for i in later)
    assert len({i.int & ((1 << 62) - 1) for i in first}) == 1000  # the random tail varies


def _next_millisecond() -> None:
    """Wait for the millisecond clock to move on (version 7 ids order by it)."""
    start = time.time_ns() // 1_000_000
    while time.time_ns() // 1_000_000 == start:
        time.sleep(0.0005)
