"""Search: the caller's scope, one retrieval per dataset and search type, answers, history.

Retrieval per type (every list is of the dataset's chunks, best first):
- CHUNKS: nearest vectors. CHUNKS_LEXICAL: BM25 over the words. RAG_COMPLETION: CHUNKS, answered.
- GRAPH_COMPLETION, TRIPLET_COMPLETION, GRAPH_SUMMARY_COMPLETION: personalized PageRank over
  the entity graph from the query's entities and the best dense and full-text passages.
- HYBRID_COMPLETION (the default): dense, full-text and graph rankings fused by reciprocal
  rank, the graph's counting most (it already holds the other two as seeds).
- GRAPH_COMPLETION_COT, GRAPH_COMPLETION_CONTEXT_EXTENSION: a second graph round seeded by
  the first (the LLM's follow-up question or answer; without an LLM, the best passage).
- TEMPORAL: hybrid passages that state a year in the period the query names.
- SUMMARIES: the summaries of the items the hybrid passages come from.
- FEELING_LUCKY: the LLM picks one of the above; without an LLM, a rule on the query's form.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import bindparam, select
from sqlalchemy.types import Uuid

from graphmill.auth.permissions import readable_dataset_ids
from graphmill.auth.users import UserInfo
from graphmill.cognify.tools import Tools
from graphmill.config import Settings
from graphmill.db import Database
from graphmill.db.models import Data, Dataset, DatasetConfig
from graphmill.errors import DatasetNotFound, EmbeddingMismatch, UnsupportedSearchType
from graphmill.search import graph, history, lexical
from graphmill.search.answer import (
    NO_LLM_NOTE,
    Answerer,
    context_text,
    passages_answer,
)
from graphmill.search.dense import VectorSearch
from graphmill.search.fusion import fuse
from graphmill.search.passages import Passages
from graphmill.search.types import (
    COMPLETIONS,
    DEFAULT_SYSTEM_PROMPT,
    DEFAULT_TYPE,
    UNSUPPORTED,
    Passage,
    Retrieval,
    SearchType,
    Triplet,
)

log = logging.getLogger("graphmill.search")

Vector = npt.NDArray[np.float32]
Ranking = list[tuple[uuid.UUID, float]]

POOL = 50  # first-stage depth of dense and full-text rankings
GRAPH_SEEDS = 5  # passages that seed the graph walk
# Hybrid fusion (dense, full text, graph). Full text enters mainly through the graph's
# seeds: below its first hit, BM25's ranks are noise on multi-hop questions (measured in
# bench/RESULTS-search.md: each deeper full-text vote cost MuSiQue recall), while its first
# hit is the one that saves exact-word queries (names, codes) dense search misses.
HYBRID_WEIGHTS = (1.0, 0.5, 1.0)
LEXICAL_DEPTH = 1
MAX_QUERY_VECTORS = 1024
TEMPORAL_POOL = 200

_YEAR = re.compile(r"\b(1\d{3}|20\d{2})(s)?\b")
_QUESTION = re.compile(
    r"^\s*(who|whom|whose|what|which|when|where|why|how|is|are|was|were|did|does|do|can)\b", re.I
)


# The datasets a caller may read, built once with the caller as parameters (the access
# rule, `readable_dataset_ids`): a statement built per request costs more to build and to
# find in SQLAlchemy's cache than the read itself.
_SCOPE = (
    select(
        Dataset.id,
        Dataset.name,
        Dataset.owner_id,
        DatasetConfig.embedding_model,
        DatasetConfig.embedding_dimension,
        Dataset.tenant_id,
    )
    .outerjoin(DatasetConfig, DatasetConfig.dataset_id == Dataset.id)
    .where(
        Dataset.id.in_(
            readable_dataset_ids(
                bindparam("user_id", type_=Uuid()), bindparam("tenant_id", type_=Uuid())
            )
        )
    )
)
_SCOPE_BY_ID = _SCOPE.where(Dataset.id.in_(bindparam("ids", expanding=True, type_=Uuid())))
_SCOPE_BY_NAME = _SCOPE.where(Dataset.name.in_(bindparam("names", expanding=True))).order_by(
    Dataset.created_at
)
_SCOPE = _SCOPE.order_by(Dataset.created_at)


@dataclass(frozen=True)
class SearchRequest:
    query: str
    search_type: SearchType = DEFAULT_TYPE
    datasets: Sequence[str] | None = None
    dataset_ids: Sequence[uuid.UUID] | None = None
    top_k: int = 15
    system_prompt: str | None = None
    node_name: Sequence[str] | None = None
    only_context: bool = False
    include_references: bool = False


@dataclass(frozen=True)
class ScopedDataset:
    id: uuid.UUID
    name: str
    # The model that made its vectors (None before any), to check queries against.
    embedding_model: str | None = field(default=None, compare=False)
    embedding_dimension: int | None = field(default=None, compare=False)
    tenant_id: uuid.UUID | None = field(default=None, compare=False)


@dataclass
class DatasetAnswer:
    """One searched dataset's outcome, before it takes a wire shape."""

    dataset: ScopedDataset
    search_type: SearchType
    context: str
    objects: list[dict[str, Any]]
    completion: list[str] | None = None  # completion types
    notes: list[str] = field(default_factory=list)
    references: list[dict[str, Any]] = field(default_factory=list)
    only_context: bool = False

    @property
    def result(self) -> Any:
        """cognee's precedence: the context if asked for, else the completion, else the
        retrieved objects."""
        if self.only_context:
            return self.context
        if self.completion is not None:
            return self.completion
        return self.objects


@dataclass
class SearchOutcome:
    answers: list[DatasetAnswer]
    search_type: SearchType
    embed_seconds: float = 0.0
    total_seconds: float = 0.0


class SearchService:
    """Search in one process: the in-memory vector copies and span cache live here."""

    def __init__(self, db: Database, tools: Tools, settings: Settings) -> None:
        self.db = db
        self.tools = tools
        self.settings = settings
        self.vectors = VectorSearch(db, settings.search_cache_mb * 2**20)
        self.passages = Passages(db)
        self.answerer = Answerer(db, tools.chat)
        self._query_vectors: OrderedDict[str, Vector] = OrderedDict()
        self._recording: dict[uuid.UUID, set[asyncio.Task[None]]] = {}

    # --- entry points ------------------------------------------------------------------

    async def search(self, user: UserInfo, request: SearchRequest) -> SearchOutcome:
        """Search every dataset in the caller's scope; DatasetNotFound for any named
        dataset the caller cannot read, as for one that does not exist."""
        started = time.perf_counter()
        search_type = request.search_type
        if search_type in UNSUPPORTED:
            raise UnsupportedSearchType(
                f"graphmill does not implement {search_type.value} search; supported types: "
                + ", ".join(t.value for t in SearchType if t not in UNSUPPORTED)
            )
        datasets = await self.scope(user, request.dataset_ids, request.datasets)
        if search_type == SearchType.FEELING_LUCKY:
            search_type = await self.choose_type(request.query)
        outcome = SearchOutcome([], search_type)
        if not datasets:
            return outcome
        query_vector: Vector | None = None
        if search_type != SearchType.CHUNKS_LEXICAL:
            embed_started = time.perf_counter()
            query_vector = await self.embed(request.query)
            outcome.embed_seconds = time.perf_counter() - embed_started
            self._check_models(datasets)
        outcome.answers = list(
            await asyncio.gather(
                *(self._search_one(d, search_type, request, query_vector) for d in datasets)
            )
        )
        outcome.total_seconds = time.perf_counter() - started
        return outcome

    def record(self, user_id: uuid.UUID, query: str, outcome: SearchOutcome) -> None:
        """Keep the query and each dataset's answer in the user's history, after the
        answer: a search never waits for the writer. This process's history reads wait."""
        answers = [(a.dataset.id, a.result) for a in outcome.answers]
        task = asyncio.create_task(
            history.record(self.db, user_id, query, outcome.search_type.value, answers)
        )
        self._recording.setdefault(user_id, set()).add(task)
        task.add_done_callback(lambda done: self._recorded(user_id, done))

    def _recorded(self, user_id: uuid.UUID, task: asyncio.Task[None]) -> None:
        tasks = self._recording.get(user_id, set())
        tasks.discard(task)
        if not tasks:
            self._recording.pop(user_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "search history not recorded: %s",
                task.exception(),
                extra={"action": "search.history", "user_id": str(user_id)},
            )

    async def history(
        self, user_id: uuid.UUID, limit: int, offset: int
    ) -> list[history.HistoryEntry]:
        """The user's log, newest first, including searches this process is still writing."""
        pending = list(self._recording.get(user_id, ()))
        if pending:
            await asyncio.wait(pending)
        return await history.entries(self.db, user_id, limit, offset)

    async def close(self) -> None:
        """Let history writes in flight finish."""
        pending = [t for tasks in self._recording.values() for t in tasks]
        if pending:
            await asyncio.wait(pending)

    # --- scope -------------------------------------------------------------------------

    async def scope(
        self,
        user: UserInfo,
        dataset_ids: Sequence[uuid.UUID] | None,
        names: Sequence[str] | None,
    ) -> list[ScopedDataset]:
        """Ids win over names. A name means the caller's own dataset of that name, else the
        readable ones shared under it. Nothing named: every readable dataset."""
        caller = {"user_id": user.id, "tenant_id": user.tenant_id}
        if dataset_ids:
            wanted = list(dict.fromkeys(dataset_ids))
            rows = await self.db.read_rows(_SCOPE_BY_ID, {**caller, "ids": wanted}, inline=True)
            by_id = {row[0]: _scoped(row) for row in rows}
            if len(by_id) < len(wanted):
                raise DatasetNotFound()
            return [by_id[i] for i in wanted]
        if names:
            wanted_names = list(dict.fromkeys(names))
            rows = await self.db.read_rows(
                _SCOPE_BY_NAME, {**caller, "names": wanted_names}, inline=True
            )
            found: list[ScopedDataset] = []
            for name in wanted_names:
                named = [r for r in rows if r[1] == name]
                own = [r for r in named if r[2] == user.id]
                if not named:
                    raise DatasetNotFound()
                found += [_scoped(r) for r in own or named]
            return list(dict.fromkeys(found))
        rows = await self.db.read_rows(_SCOPE, caller, inline=True)
        return [_scoped(row) for row in rows]

    # --- models ------------------------------------------------------------------------

    async def embed(self, query: str) -> Vector:
        """The query's vector (kept for repeated queries); 503 when no embedder is installed."""
        embedder = self.tools.require_embedder()
        key = f"{embedder.model}\x1f{query}"
        vector = self._query_vectors.get(key)
        if vector is None:
            [vector] = await embedder.embed([query])
            vector = np.ascontiguousarray(vector, dtype=np.float32)
            self._query_vectors[key] = vector
            while len(self._query_vectors) > MAX_QUERY_VECTORS:
                self._query_vectors.popitem(last=False)
        return vector

    def _check_models(self, datasets: list[ScopedDataset]) -> None:
        embedder = self.tools.require_embedder()
        for d in datasets:
            model, dimension = d.embedding_model, d.embedding_dimension
            if model is not None and (model, dimension) != (embedder.model, embedder.dimension):
                raise EmbeddingMismatch(
                    f"dataset {d.id} was embedded with {model} ({dimension} dimensions); "
                    f"this server embeds queries with {embedder.model} "
                    f"({embedder.dimension} dimensions)"
                )

    async def choose_type(self, query: str) -> SearchType:
        """FEELING_LUCKY: the LLM's choice, or without one a rule on the query's form."""
        choices = [
            SearchType.CHUNKS_LEXICAL,
            SearchType.CHUNKS,
            SearchType.SUMMARIES,
            SearchType.TEMPORAL,
            SearchType.GRAPH_COMPLETION,
            SearchType.HYBRID_COMPLETION,
        ]
        if self.tools.chat is not None:
            choice = await self.answerer.choose_type(query, [c.value for c in choices])
            if choice is not None:
                return SearchType(choice)
        return rule_type(query)

    # --- one dataset -------------------------------------------------------------------

    async def _search_one(
        self,
        dataset: ScopedDataset,
        search_type: SearchType,
        request: SearchRequest,
        query_vector: Vector | None,
    ) -> DatasetAnswer:
        items = (
            await self._items_in_node_sets(dataset.id, request.node_name)
            if request.node_name
            else None
        )
        retrieval = await self.retrieve(dataset.id, search_type, request, query_vector, items)
        passages = retrieval.passages[: request.top_k]
        answer = DatasetAnswer(
            dataset,
            search_type,
            context=context_text(passages, retrieval.triplets or None),
            objects=[
                p.summary_payload() if search_type == SearchType.SUMMARIES else p.payload()
                for p in passages
            ]
            + [t.payload() for t in retrieval.triplets],
            notes=list(retrieval.notes),
            only_context=request.only_context,
        )
        if request.include_references:
            answer.references = [_reference(p) for p in passages]
        if search_type in COMPLETIONS and not request.only_context:
            answer.completion = await self._complete(
                search_type, request, passages, retrieval.triplets, answer, query_vector
            )
        return answer

    async def _complete(
        self,
        search_type: SearchType,
        request: SearchRequest,
        passages: list[Passage],
        triplets: list[Triplet],
        answer: DatasetAnswer,
        query_vector: Vector | None,
    ) -> list[str]:
        if not passages and not triplets:
            return []  # never an answer made from no context
        if self.tools.chat is None:
            answer.notes.append(NO_LLM_NOTE)
            return [passages_answer(passages)] if passages else [answer.context]
        system = request.system_prompt or DEFAULT_SYSTEM_PROMPT
        return [await self.answerer.answer(system, request.query, answer.context)]

    async def retrieve(
        self,
        dataset_id: uuid.UUID,
        search_type: SearchType,
        request: SearchRequest,
        query_vector: Vector | None,
        items: Collection[uuid.UUID] | None = None,
    ) -> Retrieval:
        """The ranked passages (and triplets) of one dataset for one search type."""
        k, query = request.top_k, request.query
        if search_type == SearchType.CHUNKS_LEXICAL:
            ranking = await lexical.search(self.db, dataset_id, query, k, items)
            return Retrieval(await self.passages.load(ranking))
        assert query_vector is not None
        if search_type in (SearchType.CHUNKS, SearchType.RAG_COMPLETION):
            ranking = await self.vectors.nearest_chunks(dataset_id, query_vector, k, items)
            return Retrieval(await self.passages.load(ranking))
        if search_type in (
            SearchType.GRAPH_COMPLETION_COT,
            SearchType.GRAPH_COMPLETION_CONTEXT_EXTENSION,
        ):
            return await self._two_rounds(dataset_id, search_type, request, query_vector, items)
        dense, words = await self._first_stage(dataset_id, query, query_vector, max(POOL, k), items)
        if search_type == SearchType.TEMPORAL:
            return await self._temporal(dataset_id, request, query_vector, dense, words, items)
        found = await self._graph(dataset_id, query, query_vector, dense, words, k, items)
        if search_type == SearchType.SUMMARIES:
            ranking = _hybrid(dense, words, found.passages)
            return Retrieval(_one_per_item(await self.passages.load(ranking[: 4 * k], True)))
        if search_type in (SearchType.GRAPH_COMPLETION, SearchType.TRIPLET_COMPLETION):
            ranking = found.passages or fuse([dense, words])
            return Retrieval(await self.passages.load(ranking[:k]), found.triplets)
        if search_type == SearchType.GRAPH_SUMMARY_COMPLETION:
            ranking = found.passages or fuse([dense, words])
            passages = await self.passages.load(ranking[:k], summaries=True)
            return Retrieval(_one_per_item(passages), found.triplets)
        ranking = fuse(
            [dense, words[:LEXICAL_DEPTH], found.passages], HYBRID_WEIGHTS
        )  # HYBRID_COMPLETION
        return Retrieval(await self.passages.load(ranking[:k]), found.triplets)

    async def _first_stage(
        self,
        dataset_id: uuid.UUID,
        query: str,
        query_vector: Vector,
        n: int,
        items: Collection[uuid.UUID] | None,
    ) -> tuple[Ranking, Ranking]:
        dense, words = await asyncio.gather(
            self.vectors.nearest_chunks(dataset_id, query_vector, n, items),
            lexical.search(self.db, dataset_id, query, n, items),
        )
        return dense, words

    async def _graph(
        self,
        dataset_id: uuid.UUID,
        query: str,
        query_vector: Vector,
        dense: Ranking,
        words: Ranking,
        k: int,
        items: Collection[uuid.UUID] | None,
    ) -> graph.GraphResult:
        seeds = fuse([dense[:GRAPH_SEEDS], words[:GRAPH_SEEDS]])[:GRAPH_SEEDS]
        return await graph.rank(
            self.db, self.vectors, dataset_id, query, query_vector, seeds, max(k, POOL), items
        )

    async def _two_rounds(
        self,
        dataset_id: uuid.UUID,
        search_type: SearchType,
        request: SearchRequest,
        query_vector: Vector,
        items: Collection[uuid.UUID] | None,
    ) -> Retrieval:
        """A graph round, then a second one from what it found: the LLM's follow-up
        question (COT) or answer (context extension); without an LLM, the best passage."""
        k, query = request.top_k, request.query
        dense, words = await self._first_stage(dataset_id, query, query_vector, max(POOL, k), items)
        first = await self._graph(dataset_id, query, query_vector, dense, words, k, items)
        passages = await self.passages.load(first.passages[:k] or fuse([dense, words])[:k])
        if not passages:
            return Retrieval()
        notes: list[str] = []
        follow_up = ""
        if self.tools.chat is not None:
            system = request.system_prompt or DEFAULT_SYSTEM_PROMPT
            context = context_text(passages, first.triplets)
            if search_type == SearchType.GRAPH_COMPLETION_COT:
                _, follow_up = await self.answerer.answer_or_follow_up(system, query, context)
            else:
                follow_up = await self.answerer.answer(system, query, context)
        else:
            follow_up = passages[0].text
        if not follow_up:
            return Retrieval(passages, first.triplets, notes)
        second_query = f"{query} {follow_up}"
        second_vector = await self.embed(second_query)
        dense2, words2 = await self._first_stage(
            dataset_id, second_query, second_vector, max(POOL, k), items
        )
        seeds = fuse([first.passages[:GRAPH_SEEDS], dense2[:GRAPH_SEEDS], words2[:GRAPH_SEEDS]])
        second = await graph.rank(
            self.db,
            self.vectors,
            dataset_id,
            second_query,
            second_vector,
            seeds[:GRAPH_SEEDS],
            max(k, POOL),
            items,
        )
        ranking = fuse([first.passages, second.passages], (2.0, 1.0))
        triplets = list({t.text(): t for t in [*first.triplets, *second.triplets]}.values())
        notes.append(f"second round query: {follow_up[:300]}")
        return Retrieval(await self.passages.load(ranking[:k]), triplets, notes)

    async def _temporal(
        self,
        dataset_id: uuid.UUID,
        request: SearchRequest,
        query_vector: Vector,
        dense: Ranking,
        words: Ranking,
        items: Collection[uuid.UUID] | None,
    ) -> Retrieval:
        """Hybrid passages that state a year in the query's period (all of them when the
        query names no year)."""
        k, query = request.top_k, request.query
        found = await self._graph(dataset_id, query, query_vector, dense, words, k, items)
        ranking = _hybrid(dense, words, found.passages)
        period = query_period(query)
        if period is None:
            retrieval = Retrieval(await self.passages.load(ranking[:k]), found.triplets)
            retrieval.notes.append("no year in the query: passages are not filtered by date")
            return retrieval
        low, high = period
        if high - low < 40:  # a closed period: its years are words to look for too
            years = [str(y) for y in range(low, high + 1)]
            by_year = await lexical.search(
                self.db, dataset_id, " ".join(years), TEMPORAL_POOL, items
            )
            ranking = fuse([ranking, by_year], (2.0, 1.0))
        candidates = await self.passages.load(ranking[:TEMPORAL_POOL])
        kept = [p for p in candidates if _states_year_in(p.text, low, high)][:k]
        retrieval = Retrieval(kept, found.triplets)
        retrieval.notes.append(f"passages stating a year from {low} to {high}")
        return retrieval

    async def _items_in_node_sets(
        self, dataset_id: uuid.UUID, node_sets: Sequence[str]
    ) -> set[uuid.UUID]:
        wanted = set(node_sets)
        rows = await self.db.read_rows(
            select(Data.id, Data.node_set).where(
                Data.dataset_id == dataset_id, Data.node_set.is_not(None)
            )
        )
        return {data_id for data_id, sets in rows if wanted.intersection(_node_sets(sets))}


def _scoped(row: Any) -> ScopedDataset:
    return ScopedDataset(row[0], row[1], row[3], row[4], row[5])


def _node_sets(stored: Any) -> set[str]:
    """An item's node sets. cognee stores a form value verbatim, and its MCP server sends a
    list as one JSON string ('["a", "b"]'): such a value also names each of its elements."""
    found: set[str] = set()
    for value in stored if isinstance(stored, list) else []:
        if not isinstance(value, str):
            continue
        found.add(value)
        if value.startswith("["):
            try:
                parsed = json.loads(value)
            except ValueError:
                continue
            if isinstance(parsed, list):
                found.update(v for v in parsed if isinstance(v, str))
    return found


def _hybrid(dense: Ranking, words: Ranking, graph_ranking: Ranking) -> Ranking:
    return fuse([dense, words[:LEXICAL_DEPTH], graph_ranking], HYBRID_WEIGHTS)


def _reference(passage: Passage) -> dict[str, Any]:
    return {
        "data_id": str(passage.data_id),
        "dataset_id": str(passage.dataset_id),
        "document_name": passage.document_name,
        "chunk_id": str(passage.chunk_id),
        "start": passage.start,
        "end": passage.end,
        "raw_url": passage.raw_url(),
    }


def _one_per_item(passages: list[Passage]) -> list[Passage]:
    seen: set[uuid.UUID] = set()
    kept = []
    for passage in passages:
        if passage.data_id not in seen:
            seen.add(passage.data_id)
            kept.append(passage)
    return kept


def rule_type(query: str) -> SearchType:
    """FEELING_LUCKY without an LLM: a year with a time word → TEMPORAL; "summarize ..." →
    SUMMARIES; a few words that are not a question → CHUNKS_LEXICAL; else HYBRID."""
    words = query.split()
    lowered = query.casefold()
    if _YEAR.search(query) and re.search(
        r"\b(when|before|after|since|during|between|until|year|years|period|decade)\b", lowered
    ):
        return SearchType.TEMPORAL
    if re.match(r"\s*(summar|overview|outline)", lowered):
        return SearchType.SUMMARIES
    if len(words) <= 3 and not _QUESTION.match(query) and "?" not in query:
        return SearchType.CHUNKS_LEXICAL
    return SearchType.HYBRID_COMPLETION


def query_period(query: str) -> tuple[int, int] | None:
    """The years a query asks about: "between 1900 and 1910", "before 1850", "in the
    1990s", "in 1903"; None when it names no year."""
    found = [(int(m.group(1)), bool(m.group(2)), m.start()) for m in _YEAR.finditer(query)]
    if not found:
        return None
    lowered = query.casefold()
    years = [y for y, _, _ in found]
    if len(found) >= 2:
        return min(years), max(years)
    year, decade, at = found[0]
    before = lowered[:at]
    if decade:
        return year, year + 9
    if re.search(r"\b(before|until|prior to|earlier than)\s+(the\s+)?$", before):
        return 0, year - 1
    if re.search(r"\b(after|since|later than)\s+(the\s+)?$", before):
        return year + 1, 9999
    return year, year


def _states_year_in(text: str, low: int, high: int) -> bool:
    return any(low <= int(m.group(1)) <= high for m in _YEAR.finditer(text))
