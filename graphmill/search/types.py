"""Search types (cognee's names) and what a search finds: passages, triplets, answers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

DEFAULT_SYSTEM_PROMPT = "Answer the question using the provided context. Be as brief as possible."


class SearchType(StrEnum):
    """cognee 1.5's SearchType values, all of them: unknown names are a validation error,
    known ones graphmill does not implement are refused by name (`UNSUPPORTED`)."""

    SUMMARIES = "SUMMARIES"
    CHUNKS = "CHUNKS"
    RAG_COMPLETION = "RAG_COMPLETION"
    HYBRID_COMPLETION = "HYBRID_COMPLETION"
    TRIPLET_COMPLETION = "TRIPLET_COMPLETION"
    GRAPH_COMPLETION = "GRAPH_COMPLETION"
    GRAPH_COMPLETION_DECOMPOSITION = "GRAPH_COMPLETION_DECOMPOSITION"
    GRAPH_SUMMARY_COMPLETION = "GRAPH_SUMMARY_COMPLETION"
    CYPHER = "CYPHER"
    NATURAL_LANGUAGE = "NATURAL_LANGUAGE"
    GRAPH_COMPLETION_COT = "GRAPH_COMPLETION_COT"
    GRAPH_COMPLETION_CONTEXT_EXTENSION = "GRAPH_COMPLETION_CONTEXT_EXTENSION"
    FEELING_LUCKY = "FEELING_LUCKY"
    TEMPORAL = "TEMPORAL"
    CODING_RULES = "CODING_RULES"
    CHUNKS_LEXICAL = "CHUNKS_LEXICAL"
    AGENTIC_COMPLETION = "AGENTIC_COMPLETION"
    CODE = "CODE"
    GRAPH_REPORT = "GRAPH_REPORT"


DEFAULT_TYPE = SearchType.HYBRID_COMPLETION

UNSUPPORTED = frozenset(
    {
        SearchType.CYPHER,
        SearchType.NATURAL_LANGUAGE,
        SearchType.CODE,
        SearchType.CODING_RULES,
        SearchType.AGENTIC_COMPLETION,
        SearchType.GRAPH_COMPLETION_DECOMPOSITION,
        SearchType.GRAPH_REPORT,
    }
)

# Types whose answer is generated from retrieved context: `["<answer>"]` on the wire.
COMPLETIONS = frozenset(
    {
        SearchType.RAG_COMPLETION,
        SearchType.HYBRID_COMPLETION,
        SearchType.TRIPLET_COMPLETION,
        SearchType.GRAPH_COMPLETION,
        SearchType.GRAPH_SUMMARY_COMPLETION,
        SearchType.GRAPH_COMPLETION_COT,
        SearchType.GRAPH_COMPLETION_CONTEXT_EXTENSION,
        SearchType.TEMPORAL,
    }
)


@dataclass
class Passage:
    """A chunk found by a search, with what traces it to the original file."""

    chunk_id: uuid.UUID
    data_id: uuid.UUID
    dataset_id: uuid.UUID
    index: int  # the chunk's position in its item
    text: str
    tokens: int
    document_name: str
    score: float
    start: int | None = None  # character span in the item's extracted text
    end: int | None = None
    summary: str | None = None
    document_summary: str | None = None

    def raw_url(self) -> str:
        return f"/api/v1/datasets/{self.dataset_id}/data/{self.data_id}/raw"

    def payload(self) -> dict[str, Any]:
        """cognee's DocumentChunk payload, plus the fields that trace it to its file."""
        return {
            "id": str(self.chunk_id),
            "type": "DocumentChunk",
            "text": self.text,
            "chunk_index": self.index,
            "chunk_size": self.tokens,
            "cut_type": "sentence_end",
            "document_id": str(self.data_id),
            "document_name": self.document_name,
            "data_id": str(self.data_id),
            "dataset_id": str(self.dataset_id),
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 6),
            "raw_url": self.raw_url(),
        }

    def summary_payload(self) -> dict[str, Any]:
        """cognee's TextSummary payload for SUMMARIES, traced like a chunk."""
        return {
            "id": str(self.chunk_id),
            "type": "TextSummary",
            "text": self.document_summary or self.summary or self.text,
            "chunk_summary": self.summary,
            "made_from": str(self.chunk_id),
            "document_id": str(self.data_id),
            "document_name": self.document_name,
            "data_id": str(self.data_id),
            "dataset_id": str(self.dataset_id),
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 6),
            "raw_url": self.raw_url(),
        }


@dataclass(frozen=True)
class Triplet:
    """A relation of the graph: source -[relation]-> target, with the items that state it."""

    source: str
    relation: str
    target: str
    description: str
    score: float
    sources: tuple[uuid.UUID, ...] = ()

    def text(self) -> str:
        line = f"{self.source} -[{self.relation}]-> {self.target}"
        return f"{line}: {self.description}" if self.description else line

    def payload(self) -> dict[str, Any]:
        return {
            "type": "Triplet",
            "source": self.source,
            "relation": self.relation,
            "target": self.target,
            "description": self.description,
            "score": round(self.score, 6),
            "source_data_ids": [str(s) for s in self.sources],
        }


@dataclass
class Retrieval:
    """What one search found in one dataset: ranked passages, and triplets for graph types."""

    passages: list[Passage] = field(default_factory=list)
    triplets: list[Triplet] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
