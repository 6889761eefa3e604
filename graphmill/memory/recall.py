"""recall: search with cognee's memory shape (a flat list of items with a `source`),
plus the caller's session entries."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from graphmill.auth.users import UserInfo
from graphmill.db import Database
from graphmill.errors import UnknownRecallScope, UnsupportedOption
from graphmill.memory import sessions
from graphmill.search.service import DatasetAnswer, SearchOutcome, SearchRequest, SearchService
from graphmill.search.types import SearchType

SCOPES = ("graph", "session", "trace", "session_context", "tools", "code", "all", "auto")
UNSUPPORTED_SCOPES = ("session_context", "tools", "code")

# cognee's SearchResultKind per search type (normalize_search_payload.py).
KINDS: dict[SearchType, str] = {
    SearchType.GRAPH_COMPLETION: "graph_completion",
    SearchType.GRAPH_COMPLETION_COT: "graph_completion",
    SearchType.GRAPH_COMPLETION_CONTEXT_EXTENSION: "graph_completion",
    SearchType.GRAPH_SUMMARY_COMPLETION: "graph_completion",
    SearchType.HYBRID_COMPLETION: "graph_completion",
    SearchType.RAG_COMPLETION: "rag_completion",
    SearchType.TRIPLET_COMPLETION: "triplet_completion",
    SearchType.TEMPORAL: "temporal",
    SearchType.CHUNKS: "chunk",
    SearchType.CHUNKS_LEXICAL: "chunk",
    SearchType.SUMMARIES: "summary",
}


@dataclass(frozen=True)
class RecallRequest:
    search: SearchRequest  # search_type FEELING_LUCKY when the caller sent null
    session_id: str | None = None
    scope: str | Sequence[str] | None = None
    verbose: bool = False


def sources(scope: str | Sequence[str] | None, session_id: str | None) -> tuple[set[str], bool]:
    """The sources to read, and whether they were chosen automatically ("auto")."""
    names = [scope] if isinstance(scope, str) else list(scope or ["auto"])
    unknown = [n for n in names if n not in SCOPES]
    if unknown:
        raise UnknownRecallScope(
            f"Unknown recall scope {', '.join(map(repr, unknown))}; valid: {', '.join(SCOPES)}"
        )
    refused = [n for n in names if n in UNSUPPORTED_SCOPES]
    if refused:
        raise UnsupportedOption(
            f"graphmill does not implement the recall scope {refused[0]!r}; "
            "supported: graph, session, trace, all, auto"
        )
    chosen: set[str] = set()
    auto = False
    for name in names:
        if name == "all":
            chosen |= {"graph", "session", "trace"}
        elif name == "auto":
            auto = True
            chosen |= {"graph", "session"} if session_id else {"graph"}
        else:
            chosen.add(name)
    return chosen, auto


@dataclass
class RecallOutcome:
    items: list[dict[str, Any]]
    search: SearchOutcome | None  # None when the graph was not searched


async def recall(
    search: SearchService, db: Database, user: UserInfo, request: RecallRequest
) -> RecallOutcome:
    """Session entries first (when asked for and a session is named), then the graph's
    items per searched dataset. Auto with a chosen type, no datasets and session hits:
    the session answers alone, as cognee does."""
    chosen, auto = sources(request.scope, request.session_id)
    items: list[dict[str, Any]] = []
    if request.session_id and chosen & {"session", "trace"}:
        found = await sessions.entries(db, user.id, [request.session_id])
        for entry, score in sessions.rank(found, request.search.query, request.search.top_k):
            if entry.entry_type == sessions.QA and "session" in chosen:
                items.append(_session_item(entry, score))
            elif entry.entry_type == sessions.TRACE and "trace" in chosen:
                items.append({**entry.trace(), "source": "trace", "score": score})
    unscoped = not request.search.datasets and not request.search.dataset_ids
    auto_type = request.search.search_type == SearchType.FEELING_LUCKY
    if "graph" not in chosen or (auto and auto_type and unscoped and items):
        return RecallOutcome(items, None)
    outcome = await search.search(user, request.search)
    for answer in outcome.answers:
        items += graph_items(answer, request.verbose)
    return RecallOutcome(items, outcome)


def _session_item(entry: sessions.EntryInfo, score: float) -> dict[str, Any]:
    return {
        **entry.qa(),
        "source": "session",
        # graphmill: the fields every other item has
        "text": entry.answer,
        "score": score,
        "session_id": entry.session_id,
        "dataset_id": str(entry.dataset_id) if entry.dataset_id else None,
    }


def graph_items(answer: DatasetAnswer, verbose: bool = False) -> list[dict[str, Any]]:
    """One dataset's answer as cognee's SearchResultItems: one item per completion, per
    passage or summary, or the context when only the context was asked for."""
    result = answer.result
    entries = result if isinstance(result, list) else [result]
    kind = KINDS.get(answer.search_type, "unknown")
    items = []
    for entry in entries:
        item: dict[str, Any] = {
            "source": "graph",
            "kind": kind,
            "search_type": answer.search_type.value,
            "dataset_id": str(answer.dataset.id),
            "dataset_name": answer.dataset.name,
            "structured": None,
        }
        if isinstance(entry, dict):
            text = next(
                (entry[k] for k in ("text", "summary", "name") if isinstance(entry.get(k), str)),
                json.dumps(entry, default=str),
            )
            score = entry.get("score")
            item |= {
                "text": text,
                "score": float(score) if isinstance(score, int | float) else None,
                "metadata": _provenance(entry),
                "raw": entry,
            }
            if entry.get("data_id"):  # a passage: graphmill's trace to the file
                item |= {"data_id": str(entry["data_id"]), "raw_url": entry.get("raw_url")}
        else:
            item |= {"text": str(entry), "score": None, "metadata": {}, "raw": {"value": entry}}
            if answer.references:
                item["metadata"]["references"] = answer.references
        if answer.notes:
            item["metadata"]["notes"] = answer.notes
        if verbose:
            item["metadata"]["context"] = answer.context
        items.append(item)
    return items


def _provenance(raw: dict[str, Any]) -> dict[str, Any]:
    found = {
        "data_id": raw.get("document_id") or raw.get("data_id"),
        "chunk_id": raw.get("id"),
        "chunk_index": raw.get("chunk_index"),
        "document_name": raw.get("document_name"),
    }
    return {k: (str(v) if k != "chunk_index" else v) for k, v in found.items() if v is not None}


def with_type(request: SearchRequest, search_type: SearchType | None) -> SearchRequest:
    """null means "choose for me": FEELING_LUCKY (the LLM, or graphmill's rule)."""
    return replace(request, search_type=search_type or SearchType.FEELING_LUCKY)
