"""Answers from retrieved context: by the configured LLM, or, without one, the best
supporting passages themselves (never an answer made from no context)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from graphmill.cognify import cache
from graphmill.cognify.types import ChatModel, LLMUsage
from graphmill.db import Database
from graphmill.errors import AnswerUnavailable, StepError
from graphmill.search.types import Passage, Triplet

PROMPT_VERSION = "graphmill-search-1"  # bump when the prompts or schemas below change
MAX_CONTEXT_CHARS = 24_000
PASSAGES_WITHOUT_LLM = 3
NO_LLM_NOTE = (
    "No LLM is configured (LLM_MODEL, LLM_ENDPOINT, LLM_API_KEY): the answer is the best "
    "supporting passages, not a generated answer."
)

ANSWER_SCHEMA: dict[str, Any] = {
    "title": "answer",
    "type": "object",
    "properties": {"answer": {"type": "string", "description": "The answer"}},
    "required": ["answer"],
    "additionalProperties": False,
}
FOLLOW_UP_SCHEMA: dict[str, Any] = {
    "title": "follow_up",
    "type": "object",
    "properties": {
        "answer": {"type": "string", "description": "The best answer the context allows"},
        "follow_up": {
            "type": "string",
            "description": "A question whose answer is missing from the context and needed "
            "to answer fully; empty when nothing is missing",
        },
    },
    "required": ["answer", "follow_up"],
    "additionalProperties": False,
}
FOLLOW_UP_NOTE = (
    "\n\nThink step by step about what the context establishes. If a fact needed for the "
    "answer is missing, ask for it in `follow_up`."
)
TYPE_PROMPT = (
    "Choose the search type that best answers the user's query: CHUNKS_LEXICAL for exact "
    "words, names or codes; CHUNKS for passages similar in meaning; SUMMARIES for an overview "
    "of documents; TEMPORAL for questions about dates or periods; GRAPH_COMPLETION for "
    "questions that connect several facts or entities; HYBRID_COMPLETION otherwise."
)


def context_text(passages: list[Passage], triplets: list[Triplet] | None = None) -> str:
    """What the LLM reads: relations first, then numbered passages, within a size budget."""
    parts: list[str] = []
    if triplets:
        parts.append("Relations:\n" + "\n".join(t.text() for t in triplets))
    used = sum(len(p) for p in parts)
    for i, passage in enumerate(passages, start=1):
        entry = f"[{i}] {passage.document_name}: {passage.text}"
        if used + len(entry) > MAX_CONTEXT_CHARS and i > 1:
            break
        parts.append(entry)
        used += len(entry)
    return "\n\n".join(parts)


def passages_answer(passages: list[Passage]) -> str:
    """The answer without an LLM: the best passages, best first."""
    return "\n\n".join(p.text for p in passages[:PASSAGES_WITHOUT_LLM])


@dataclass
class Answerer:
    db: Database
    chat: ChatModel | None

    async def ask(
        self, system: str, query: str, context: str, schema: dict[str, Any] = ANSWER_SCHEMA
    ) -> dict[str, Any]:
        """The LLM's JSON answer to the query from the context, cached by everything it
        depends on (the same question over the same context is paid for once)."""
        assert self.chat is not None
        user = f"Context:\n{context}\n\nQuestion: {query}"
        key = cache.cache_key(
            "search", PROMPT_VERSION, self.chat.model, json.dumps(schema), system, user
        )
        found = await cache.cached_results(self.db, [key])
        if key in found:
            return found[key]
        try:
            value = await self.chat.complete_json(system, user, schema, LLMUsage())
        except StepError as exc:
            raise AnswerUnavailable(f"The LLM could not answer: {exc}") from exc
        await cache.store_results(self.db, [(key, "search_answer", value)])
        return value

    async def answer(self, system: str, query: str, context: str) -> str:
        return str((await self.ask(system, query, context))["answer"]).strip()

    async def answer_or_follow_up(self, system: str, query: str, context: str) -> tuple[str, str]:
        value = await self.ask(system + FOLLOW_UP_NOTE, query, context, FOLLOW_UP_SCHEMA)
        return str(value["answer"]).strip(), str(value["follow_up"]).strip()

    async def choose_type(self, query: str, choices: list[str]) -> str | None:
        schema = {
            "title": "search_type",
            "type": "object",
            "properties": {"search_type": {"type": "string", "enum": choices}},
            "required": ["search_type"],
            "additionalProperties": False,
        }
        value = await self.ask(TYPE_PROMPT, query, "", schema)
        choice = value.get("search_type")
        return choice if choice in choices else None
