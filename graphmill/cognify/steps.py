"""The cognify pipeline: text → chunks → entities and relations → vectors → graph.

Each step reads and fills one typed `CognifyState` per item, and reuses derived work kept
by content (`cache`): a document's text by its bytes' hash, extractions and summaries by
chunk text + model + prompt version, vectors by text + model. The item's graph is written
in the transaction that marks it completed.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection

from graphmill.cognify import cache, llm, offline
from graphmill.cognify.chunking import Chunk, chunk_text
from graphmill.cognify.tools import Tools
from graphmill.cognify.types import ChatModel, Embedder, LLMUsage
from graphmill.db.models import DatasetConfig
from graphmill.errors import StepFailed
from graphmill.graph import store as graph_store
from graphmill.graph.model import Entity, Extraction, Relation
from graphmill.ingest import loaders, sandbox
from graphmill.pipelines.engine import ItemContext, Pipeline, Step

Vectors = npt.NDArray[np.float32]
MAX_REMEMBERED_RUNS = 64
INLINE_CHUNK_CHARS = 16_000


@dataclass
class CognifyState:
    """What one item's steps hand to each other (fresh for every attempt)."""

    custom_prompt: str | None = None
    graph_schema: dict[str, Any] | None = None
    chunk_size: int | None = None  # the dataset's, else the settings'
    chunks_per_batch: int | None = None  # most chunks extracted at once; None: all
    text: str = ""
    chunks: list[Chunk] = field(default_factory=list)
    extractions: list[Extraction] = field(default_factory=list)
    chunk_summaries: list[str] = field(default_factory=list)
    summary: str = ""
    # LLM results paid for during this attempt (kept with the item or, should it fail, alone).
    paid: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)


Context = ItemContext[CognifyState]
# A dataset's custom prompt, graph schema, chunk size and chunks per batch.
_Setup = tuple[str | None, dict[str, Any] | None, int | None, int | None]
T = TypeVar("T")


async def _in_batches(calls: list[Callable[[], Awaitable[T]]], size: int | None) -> list[T]:
    """Run the calls `size` at a time (all at once when None), results in order."""
    step = size or len(calls) or 1
    results: list[T] = []
    for start in range(0, len(calls), step):
        results += await asyncio.gather(*(call() for call in calls[start : start + step]))
    return results


class CognifySteps:
    """The steps, bound to the process's tools."""

    def __init__(self, tools: Tools) -> None:
        self.tools = tools
        # Per run: the dataset's prompt, schema and chunking, checked against the embedder once.
        self._setups: dict[uuid.UUID, _Setup] = {}
        self._indexed_dimensions: set[int] = set()

    @property
    def embedder(self) -> Embedder:
        return self.tools.require_embedder()

    async def check_dataset(self, ctx: Context) -> None:
        """Refuse to mix vectors of two models in one dataset; load its prompt and schema.
        Done once per run (the first item's answer serves the others)."""
        setup = self._setups.get(ctx.run.id)
        if setup is None:
            setup = await self._check_dataset(ctx)
            self._setups[ctx.run.id] = setup
            while len(self._setups) > MAX_REMEMBERED_RUNS:
                self._setups.pop(next(iter(self._setups)))
        (
            ctx.state.custom_prompt,
            ctx.state.graph_schema,
            ctx.state.chunk_size,
            ctx.state.chunks_per_batch,
        ) = setup

    async def _check_dataset(self, ctx: Context) -> _Setup:
        embedder = self.embedder
        async with ctx.db.read() as session:
            config = await session.get(DatasetConfig, ctx.item.dataset_id)
        if embedder.dimension == 0:
            await embedder.embed(["dimension probe"])  # an endpoint's size shows on use
        if embedder.dimension not in self._indexed_dimensions:
            await graph_store.ensure_vector_index(ctx.db, embedder.dimension)
            self._indexed_dimensions.add(embedder.dimension)
        if (
            config is not None
            and config.embedding_model
            and (
                config.embedding_model != embedder.model
                or config.embedding_dimension != embedder.dimension
            )
        ):
            raise StepFailed(
                "embedding_model_mismatch",
                f"dataset {ctx.item.dataset_id} holds vectors of {config.embedding_model} "
                f"({config.embedding_dimension} dimensions) but the configured embedder is "
                f"{embedder.model} ({embedder.dimension} dimensions)",
            )
        if config is None:
            return None, None, None, None
        return (
            config.custom_prompt,
            config.graph_schema,
            config.chunk_size,
            config.chunks_per_batch,
        )

    async def load_text(self, ctx: Context) -> None:
        """The document's text, extracted once per content hash, loader and loader version."""
        item = ctx.item
        # The loader is part of the key: the same bytes as .txt and as .html read differently.
        loader = loaders.loader_for(item.extension, item.mime_type)
        version = f"{loaders.LOADER_VERSION}:{loader}"
        text = await cache.stored_text(ctx.db, item.content_hash, version)
        if text is None:
            data = await ctx.read_bytes()
            settings = ctx.settings
            loaded = await sandbox.load_bounded(
                data,
                item.extension,
                item.mime_type,
                settings.loader_timeout_seconds,
                settings.loader_memory_mb,
            )

            def keep(conn: Connection) -> None:
                cache.store_text(conn, item.content_hash, version, loaded.loader, loaded.text)

            ctx.on_commit(keep)
            text = loaded.text
        ctx.state.text = text

    async def chunk(self, ctx: Context) -> None:
        size = ctx.state.chunk_size or ctx.settings.chunk_size
        text = ctx.state.text
        work = partial(
            chunk_text, text, self.tools.counter, size, min(ctx.settings.chunk_overlap, size // 2)
        )
        # A small document chunks in less time than a hand-off to a thread and back.
        chunks = work() if len(text) <= INLINE_CHUNK_CHARS else await asyncio.to_thread(work)
        if not chunks:
            raise StepFailed("no_extractable_text", f"{ctx.item.name}: the text has no content")
        ctx.state.chunks = chunks

    async def extract(self, ctx: Context) -> None:
        """Entities, relations and summaries per chunk: offline, or by the LLM with every
        answer looked up first (one query per item) and paid for at most once."""
        state, chat = ctx.state, self.tools.chat
        texts = [c.text for c in state.chunks]
        if chat is None:
            state.extractions, state.chunk_summaries = await asyncio.to_thread(
                _extract_offline, texts
            )
            state.summary = (
                state.chunk_summaries[0]
                if len(texts) == 1
                else await asyncio.to_thread(offline.summarize, state.text)
            )
            return
        model: ChatModel = chat  # for the closures below
        tag = cache.cache_key(
            json.dumps(state.graph_schema, sort_keys=True), state.custom_prompt or ""
        )
        version = (chat.model, llm.PROMPT_VERSION)
        # Without a graph model, one call per chunk gives its graph and its summary.
        apart = bool(state.graph_schema)
        extract_keys = [
            cache.cache_key("extract" if apart else "chunk", *version, tag, t) for t in texts
        ]
        summary_keys = [cache.cache_key("chunk_summary", *version, t) for t in texts]
        known = await cache.cached_results(ctx.db, extract_keys + summary_keys * apart)

        async def answer(key: str, kind: str, work: Any) -> dict[str, Any]:
            found = known.get(key)
            if found is None:
                usage = LLMUsage()
                try:
                    found = await work(usage)
                finally:
                    ctx.usage.tokens_in += usage.tokens_in
                    ctx.usage.tokens_out += usage.tokens_out
                    ctx.usage.llm_calls += usage.calls
                known[key] = found
                if not state.paid:  # kept with the item, or at once should it fail
                    ctx.keep(partial(cache.keep_results, results=state.paid))
                state.paid.append((key, kind, found))
            return found

        async def extraction(usage: LLMUsage, text: str) -> dict[str, Any]:
            if apart:
                return _graph_dict(
                    await llm.extract_graph(
                        model, text, state.custom_prompt, state.graph_schema, usage
                    )
                )
            graph, text_summary = await llm.extract_and_summarize(
                model, text, state.custom_prompt, usage
            )
            return _graph_dict(graph) | {"summary": text_summary}

        async def summary(usage: LLMUsage, text: str) -> dict[str, Any]:
            return {"summary": await llm.summarize(model, text, usage)}

        extracted = await _in_batches(
            [
                partial(answer, k, "extraction", partial(extraction, text=t))
                for k, t in zip(extract_keys, texts, strict=True)
            ],
            state.chunks_per_batch,
        )
        summaries = extracted
        if apart:
            summaries = await _in_batches(
                [
                    partial(answer, k, "chunk_summary", partial(summary, text=t))
                    for k, t in zip(summary_keys, texts, strict=True)
                ],
                state.chunks_per_batch,
            )
        state.chunk_summaries = [str(s["summary"]) for s in summaries]
        if len(texts) == 1:
            state.summary = state.chunk_summaries[0]
        else:
            document = " ".join(state.chunk_summaries)
            key = cache.cache_key("doc", *version, document)
            known.update(await cache.cached_results(ctx.db, [key]))
            found = await answer(key, "doc", lambda u: summary(u, document))
            state.summary = str(found["summary"])
        state.extractions = [
            Extraction(
                [Entity(**e) for e in x["entities"]], [Relation(**r) for r in x["relations"]]
            )
            for x in extracted
        ]

    async def embed(self, ctx: Context) -> None:
        """Chunk vectors and entity-name vectors; then the item's graph is written on commit."""
        embedder, state, item = self.embedder, ctx.state, ctx.item
        entities, mentions, relations = _merge_entities(state.extractions)
        names = list(entities)
        vectors, fresh = await self._embed_cached(
            ctx, [c.text for c in state.chunks] + [entities[k].name for k in names]
        )
        chunk_vectors = vectors[: len(state.chunks)]
        item_graph = graph_store.ItemGraph(
            chunks=[
                (c.text, c.tokens, s)
                for c, s in zip(state.chunks, state.chunk_summaries, strict=True)
            ],
            chunk_vectors=chunk_vectors,
            entities=list(entities.values()),
            entity_mentions=dict(mentions),
            entity_vectors={k: vectors[len(state.chunks) + i] for i, k in enumerate(names)},
            relations=relations,
            summary=state.summary,
            embedding_model=embedder.model,
            embedding_dimension=embedder.dimension,
        )

        def write(conn: Connection) -> None:
            cache.store_vectors(conn, embedder.model, fresh)
            graph_store.record_embedding_model(
                conn, item.dataset_id, embedder.model, embedder.dimension
            )
            graph_store.write_item(
                conn, item.dataset_id, item.data_id, item.content_hash, item_graph
            )

        ctx.on_commit(write)

    async def _embed_cached(
        self, ctx: Context, texts: list[str]
    ) -> tuple[Vectors, dict[str, Vectors]]:
        """Vectors for texts, reusing any vector this model made for the same text before;
        and the new ones by text hash, to keep with the item."""
        embedder = self.embedder
        hashes = [cache.cache_key(t) for t in texts]
        found = await cache.cached_vectors(ctx.db, embedder.model, hashes)
        missing = list({h: i for i, h in enumerate(hashes) if h not in found}.values())
        fresh: dict[str, Vectors] = {}
        if missing:
            computed = await embedder.embed([texts[i] for i in missing])
            fresh = {hashes[i]: computed[row] for row, i in enumerate(missing)}
            found.update(fresh)
        if not hashes:
            return np.empty((0, embedder.dimension), dtype=np.float32), fresh
        return np.stack([np.asarray(found[h], dtype=np.float32) for h in hashes]), fresh


def _graph_dict(extraction: Extraction) -> dict[str, Any]:
    """An extraction as kept in the cache."""
    return {
        "entities": [e.__dict__ for e in extraction.entities],
        "relations": [r.__dict__ for r in extraction.relations],
    }


def _extract_offline(texts: list[str]) -> tuple[list[Extraction], list[str]]:
    return [offline.extract(t) for t in texts], [offline.summarize(t) for t in texts]


def _merge_entities(
    extractions: list[Extraction],
) -> tuple[dict[str, Entity], Counter[str], list[Relation]]:
    """An item's entities by node key (descriptions merged), their mentions, its relations."""
    entities: dict[str, Entity] = {}
    mentions: Counter[str] = Counter()
    relations: list[Relation] = []
    for extraction in extractions:
        for entity in extraction.entities:
            key = graph_store.node_key(entity.name, entity.type)
            mentions[key] += 1
            if key in entities:
                merged = graph_store.merge_descriptions(
                    [entities[key].description, entity.description]
                )
                entities[key] = Entity(entities[key].name, entities[key].type, merged)
            else:
                entities[key] = entity
        relations.extend(extraction.relations)
    return entities, mentions, relations


def pipeline(tools: Tools) -> Pipeline[CognifyState]:
    """The cognify pipeline bound to the process's tools."""
    steps = CognifySteps(tools)
    return Pipeline(
        [
            Step("check", steps.check_dataset),
            Step("load", steps.load_text),
            Step("chunk", steps.chunk),
            Step("extract", steps.extract),
            Step("embed", steps.embed),
        ],
        CognifyState,
    )
