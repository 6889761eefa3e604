"""The cognify pipeline: text → chunks → entities and relations → vectors → graph.

Each step reuses derived work keyed by content: a document's text by its bytes' hash,
extractions and summaries by chunk text + model + prompt version, vectors by text + model.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from graphmill.cognify import graph as graph_store
from graphmill.cognify import llm, offline
from graphmill.cognify.chunking import chunk_text
from graphmill.cognify.embedders import LocalTokenCounter, open_embedder
from graphmill.cognify.types import (
    ChatModel,
    Embedder,
    Entity,
    Extraction,
    LLMUsage,
    Relation,
    TokenCounter,
)
from graphmill.config import Settings
from graphmill.db import Database, dialect_insert
from graphmill.db.models import DatasetConfig, DerivedCache, EmbeddingCache, ExtractedText
from graphmill.ingest import loaders
from graphmill.pipelines.engine import ItemContext, Step, StepFailed

OFFLINE_MODEL = "offline"


@dataclass
class Tools:
    """What cognify uses in one process, opened once: embedder, LLM, token counter."""

    embedder: Embedder
    chat: ChatModel | None
    counter: TokenCounter


_tools: dict[int, Tools] = {}


def tools_for(settings: Settings) -> Tools:
    found = _tools.get(id(settings))
    if found is None:
        found = _tools[id(settings)] = Tools(
            open_embedder(settings), llm.open_chat(settings), LocalTokenCounter()
        )
    return found


def cache_key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


async def _cached(db: Database, key: str) -> dict[str, Any] | None:
    async with db.read() as session:
        row = await session.get(DerivedCache, key)
        return row.value if row is not None else None


async def _remember(db: Database, results: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Keep paid-for results in one transaction of their own, outside the item's: work
    paid for is never lost, even if the item fails later."""
    if not results:
        return
    async with db.write() as session:
        await session.execute(
            dialect_insert(session)(DerivedCache)
            .values(
                [
                    {"key": k, "kind": kind, "value": v}
                    for k, (kind, v) in {k: (kind, v) for k, kind, v in results}.items()
                ]
            )
            .on_conflict_do_nothing(index_elements=["key"])
        )


async def check_dataset(ctx: ItemContext) -> None:
    """Refuse to mix vectors of two models in one dataset; load its prompt and schema."""
    tools = tools_for(ctx.settings)
    async with ctx.db.read() as session:
        config = await session.get(DatasetConfig, ctx.item.dataset_id)
    if tools.embedder.dimension == 0:
        await tools.embedder.embed(["dimension probe"])  # an endpoint's size shows on use
    await graph_store.ensure_vector_index(ctx.db, tools.embedder.dimension)
    if (
        config is not None
        and config.embedding_model
        and (
            config.embedding_model != tools.embedder.model
            or config.embedding_dimension != tools.embedder.dimension
        )
    ):
        raise StepFailed(
            "embedding_model_mismatch",
            f"dataset {ctx.item.dataset_id} holds vectors of {config.embedding_model} "
            f"({config.embedding_dimension} dimensions) but the configured embedder is "
            f"{tools.embedder.model} ({tools.embedder.dimension} dimensions)",
        )
    ctx.state["custom_prompt"] = config.custom_prompt if config else None
    ctx.state["graph_schema"] = config.graph_schema if config else None


async def load_text(ctx: ItemContext) -> None:
    """The document's text, extracted once per content hash and loader version."""
    item = ctx.item
    async with ctx.db.read() as session:
        stored = await session.get(ExtractedText, (item.content_hash, loaders.LOADER_VERSION))
    if stored is not None:
        ctx.state["text"] = stored.text
        return
    data = await ctx.read_bytes()
    loaded = await asyncio.to_thread(loaders.load, data, item.extension, item.mime_type)
    async with ctx.db.write() as session:
        insert = dialect_insert(session)
        await session.execute(
            insert(ExtractedText)
            .values(
                content_hash=item.content_hash,
                loader_version=loaders.LOADER_VERSION,
                loader=loaded.loader,
                text=loaded.text,
            )
            .on_conflict_do_nothing()
        )
    ctx.state["text"] = loaded.text


async def chunk(ctx: ItemContext) -> None:
    counter = tools_for(ctx.settings).counter
    chunks = await asyncio.to_thread(
        chunk_text,
        ctx.state["text"],
        counter,
        ctx.settings.chunk_size,
        ctx.settings.chunk_overlap,
    )
    if not chunks:
        raise StepFailed("no_extractable_text", f"{ctx.item.name}: the text has no content")
    ctx.state["chunks"] = chunks


def _schema_tag(ctx: ItemContext) -> str:
    return cache_key(
        json.dumps(ctx.state.get("graph_schema"), sort_keys=True),
        ctx.state.get("custom_prompt") or "",
    )


async def _extract_chunk(ctx: ItemContext, chat: ChatModel | None, text: str) -> Extraction:
    if chat is None:
        return await asyncio.to_thread(offline.extract, text)
    key = cache_key("extract", chat.model, llm.PROMPT_VERSION, _schema_tag(ctx), text)
    cached = await _cached(ctx.db, key)
    if cached is None:
        usage = LLMUsage()
        try:
            extraction = await llm.extract_graph(
                chat, text, ctx.state.get("custom_prompt"), ctx.state.get("graph_schema"), usage
            )
        finally:
            _count(ctx, usage)
        cached = {
            "entities": [e.__dict__ for e in extraction.entities],
            "relations": [r.__dict__ for r in extraction.relations],
        }
        ctx.state.setdefault("paid", []).append((key, "extraction", cached))
    return Extraction(
        [Entity(**e) for e in cached["entities"]], [Relation(**r) for r in cached["relations"]]
    )


async def _summarize(ctx: ItemContext, chat: ChatModel | None, text: str, kind: str) -> str:
    if chat is None:
        return await asyncio.to_thread(offline.summarize, text)
    key = cache_key(kind, chat.model, llm.PROMPT_VERSION, text)
    cached = await _cached(ctx.db, key)
    if cached is None:
        usage = LLMUsage()
        try:
            cached = {"summary": await llm.summarize(chat, text, usage)}
        finally:
            _count(ctx, usage)
        ctx.state.setdefault("paid", []).append((key, kind, cached))
    return str(cached["summary"])


def _count(ctx: ItemContext, usage: LLMUsage) -> None:
    ctx.usage.tokens_in += usage.tokens_in
    ctx.usage.tokens_out += usage.tokens_out
    ctx.usage.llm_calls += usage.calls


async def extract(ctx: ItemContext) -> None:
    """Entities, relations and summaries per chunk (LLM calls run concurrently, limited
    globally by the LLM rate limiter)."""
    chat = tools_for(ctx.settings).chat
    texts = [c.text for c in ctx.state["chunks"]]
    try:
        extractions = await asyncio.gather(*(_extract_chunk(ctx, chat, t) for t in texts))
        summaries = await asyncio.gather(
            *(_summarize(ctx, chat, t, "chunk_summary") for t in texts)
        )
        document = " ".join(summaries) if chat is not None else ctx.state["text"]
        ctx.state["summary"] = (
            summaries[0] if len(summaries) == 1 else await _summarize(ctx, chat, document, "doc")
        )
    finally:
        await _remember(ctx.db, ctx.state.pop("paid", []))
    ctx.state["chunk_summaries"] = summaries
    ctx.state["extractions"] = extractions


async def _embed_cached(ctx: ItemContext, texts: list[str]) -> Any:
    """Vectors for texts, reusing any vector this model made for the same text before."""
    embedder = tools_for(ctx.settings).embedder
    hashes = [cache_key(t) for t in texts]
    found: dict[str, Any] = {}
    async with ctx.db.read() as session:
        for start in range(0, len(hashes), 500):
            rows = await session.execute(
                select(EmbeddingCache.text_hash, EmbeddingCache.embedding).where(
                    EmbeddingCache.model == embedder.model,
                    EmbeddingCache.text_hash.in_(hashes[start : start + 500]),
                )
            )
            found.update(dict(rows.all()))
    missing = list({hashes[i]: i for i, h in enumerate(hashes) if h not in found}.values())
    if missing:
        vectors = await embedder.embed([texts[i] for i in missing])
        for row, i in enumerate(missing):
            found[hashes[i]] = vectors[row]
        async with ctx.db.write() as session:
            await session.execute(
                dialect_insert(session)(EmbeddingCache)
                .values(
                    [
                        {"text_hash": hashes[i], "model": embedder.model, "embedding": vectors[row]}
                        for row, i in enumerate(missing)
                    ]
                )
                .on_conflict_do_nothing()
            )
    return np.stack([np.asarray(found[h], dtype=np.float32) for h in hashes])


async def embed(ctx: ItemContext) -> None:
    """Chunk vectors and entity-name vectors; then the item's graph is written on commit."""
    embedder = tools_for(ctx.settings).embedder
    chunks = ctx.state["chunks"]
    entities: dict[str, Entity] = {}
    mentions: Counter[str] = Counter()
    relations: list[Relation] = []
    for extraction in ctx.state["extractions"]:
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
    chunk_vectors = await _embed_cached(ctx, [c.text for c in chunks])
    names = list(entities)
    entity_vectors = await _embed_cached(ctx, [entities[k].name for k in names]) if names else []
    item_graph = graph_store.ItemGraph(
        chunks=[
            (c.text, c.tokens, s) for c, s in zip(chunks, ctx.state["chunk_summaries"], strict=True)
        ],
        chunk_vectors=chunk_vectors,
        entities=list(entities.values()),
        entity_mentions=dict(mentions),
        entity_vectors={k: entity_vectors[i] for i, k in enumerate(names)},
        relations=relations,
        summary=ctx.state["summary"],
        embedding_model=embedder.model,
        embedding_dimension=embedder.dimension,
    )
    item = ctx.item

    async def write(session: AsyncSession) -> None:
        await graph_store.record_embedding_model(
            session, item.dataset_id, embedder.model, embedder.dimension
        )
        await graph_store.write_item(
            session, item.dataset_id, item.data_id, item.content_hash, item_graph
        )

    ctx.on_commit(write)


STEPS = [
    Step("check", check_dataset),
    Step("load", load_text),
    Step("chunk", chunk),
    Step("extract", extract),
    Step("embed", embed),
]
