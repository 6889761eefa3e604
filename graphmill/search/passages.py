"""Ranked chunk ids become passages: text, data item, document name, and the chunk's
character span in the item's extracted text, so every hit leads back to its bytes.

Chunks do not store spans: the chunker rejoins words with its own spacing, so a chunk is
found in its document's words (whitespace-insensitively), searching on from the previous chunk's
start as the chunker went. A chunk id's span never changes (a rewrite makes new chunks), so
spans are kept per process, a bounded number of them.
"""

from __future__ import annotations

import bisect
import re
import uuid
from collections import OrderedDict
from collections.abc import Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.types import Uuid

from graphmill.db import Database
from graphmill.db.models import Chunk, Data, DocumentSummary, ExtractedText
from graphmill.ingest.loaders import LOADER_VERSION
from graphmill.search.types import Passage

MAX_KEPT_SPANS = 200_000

_IDS = bindparam("ids", expanding=True, type_=Uuid())
_PASSAGES = (
    select(
        Chunk.id,
        Chunk.data_id,
        Chunk.dataset_id,
        Chunk.idx,
        Chunk.text,
        Chunk.token_count,
        Chunk.summary,
        Data.name,
        Data.extension,
    )
    .join(Data, Data.id == Chunk.data_id)
    .where(Chunk.id.in_(_IDS))
)
_ITEM_CHUNKS = (
    select(Chunk.id, Chunk.data_id, Chunk.content_hash, Chunk.text)
    .where(Chunk.data_id.in_(_IDS))
    .order_by(Chunk.data_id, Chunk.idx)
)
_TEXTS = select(ExtractedText.content_hash, ExtractedText.text).where(
    ExtractedText.content_hash.in_(bindparam("hashes", expanding=True)),
    ExtractedText.loader_version == LOADER_VERSION,
)
_SUMMARIES = select(DocumentSummary.data_id, DocumentSummary.text).where(
    DocumentSummary.data_id.in_(_IDS)
)

Span = tuple[int, int] | None


def chunk_spans(document: str, chunks: Sequence[str]) -> list[Span]:
    """Each chunk's (start, end) in `document`, chunks in order; None where not found."""
    words = list(re.finditer(r"\S+", document))
    starts: list[int] = []  # of each word in the single-spaced text
    at = 0
    for word in words:
        starts.append(at)
        at += len(word.group()) + 1
    spaced = " ".join(w.group() for w in words)

    def original(position: int) -> int:
        i = bisect.bisect_right(starts, position) - 1
        return words[i].start() + (position - starts[i])

    spans: list[Span] = []
    hint = 0
    for chunk in chunks:
        chunk = " ".join(chunk.split())
        found = spaced.find(chunk, hint)
        if found < 0:
            found = spaced.find(chunk)
        if found < 0 or not chunk:
            spans.append(None)
            continue
        hint = found
        spans.append((original(found), original(found + len(chunk) - 1) + 1))
    return spans


class Passages:
    """Loads passages; remembers spans."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._spans: OrderedDict[uuid.UUID, Span] = OrderedDict()

    async def load(
        self, ranking: Sequence[tuple[uuid.UUID, float]], summaries: bool = False
    ) -> list[Passage]:
        """The ranked chunks that still exist, in ranking order."""
        if not ranking:
            return []
        rows = await self.db.read_rows(_PASSAGES, {"ids": [c for c, _ in ranking]})
        found = {row[0]: row for row in rows}
        passages = []
        for chunk_id, score in ranking:
            row = found.get(chunk_id)
            if row is None:
                continue
            _, data_id, dataset_id, idx, chunk, tokens, summary, name, extension = row
            passages.append(
                Passage(
                    chunk_id,
                    data_id,
                    dataset_id,
                    idx,
                    chunk,
                    tokens,
                    f"{name}.{extension}" if extension else name,
                    score,
                    summary=summary,
                )
            )
        await self._add_spans(passages)
        if summaries and passages:
            rows = await self.db.read_rows(_SUMMARIES, {"ids": list({p.data_id for p in passages})})
            by_item = dict(rows)
            for p in passages:
                p.document_summary = by_item.get(p.data_id)
        return passages

    async def _add_spans(self, passages: list[Passage]) -> None:
        unknown = list({p.data_id for p in passages if p.chunk_id not in self._spans})
        if unknown:
            rows = await self.db.read_rows(_ITEM_CHUNKS, {"ids": unknown})
            items: dict[uuid.UUID, tuple[str, list[tuple[uuid.UUID, str]]]] = {}
            for chunk_id, data_id, content_hash, chunk in rows:
                items.setdefault(data_id, (content_hash, []))[1].append((chunk_id, chunk))
            hashes = list({h for h, _ in items.values()})
            texts = dict(await self.db.read_rows(_TEXTS, {"hashes": hashes})) if hashes else {}
            for content_hash, chunks in items.values():
                document = texts.get(content_hash)
                spans = (
                    chunk_spans(document, [c for _, c in chunks])
                    if document is not None
                    else [None] * len(chunks)
                )
                for (chunk_id, _), span in zip(chunks, spans, strict=True):
                    self._spans[chunk_id] = span
            while len(self._spans) > MAX_KEPT_SPANS:
                self._spans.popitem(last=False)
        for p in passages:
            span = self._spans.get(p.chunk_id)
            if span is not None:
                p.start, p.end = span
