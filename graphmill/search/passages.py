"""Ranked chunk ids become passages: text, data item, document name, and the chunk's
character span in the item's extracted text, so every hit leads back to its bytes.

Chunks do not store spans: the chunker rejoins words with its own spacing, so a chunk is
found in its document's words (whitespace-insensitively); the chunks of one document found
together are sought in order, each from where the one before it starts, as the chunker went
(a chunk found alone: its first occurrence). A chunk id's span never changes (a rewrite
makes new chunks), so spans are kept per process, a bounded number of them.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
from sqlalchemy import bindparam, or_, select
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
        Chunk.content_hash,
        Data.name,
        Data.extension,
    )
    .join(Data, Data.id == Chunk.data_id)
    .where(Chunk.id.in_(_IDS))
)
# The current loaders' texts ("1", or "1:<loader>" since a document's text is kept per loader).
_TEXTS = select(ExtractedText.content_hash, ExtractedText.text).where(
    ExtractedText.content_hash.in_(bindparam("hashes", expanding=True)),
    or_(
        ExtractedText.loader_version == LOADER_VERSION,
        ExtractedText.loader_version.startswith(f"{LOADER_VERSION}:"),
    ),
)
_SUMMARIES = select(DocumentSummary.data_id, DocumentSummary.text).where(
    DocumentSummary.data_id.in_(_IDS)
)

Span = tuple[int, int] | None
# Whether a code point is what str.split() splits on (all such are below U+3001): one
# lookup per character; the last entry stands for every code point above.
_IS_SPACE = np.array([chr(c).isspace() for c in range(0x3002)], dtype=bool)
_IS_SPACE[-1] = False


def chunk_spans(document: str, chunks: Sequence[str]) -> list[Span]:
    """Each chunk's (start, end) in `document`, chunks in order; None where not found."""
    # The document with every run of whitespace made one space, and where each of its
    # characters came from: vectorised, a long document costs microseconds, not a loop.
    codes = np.frombuffer(document.encode("utf-32-le"), dtype=np.uint32)
    space = _IS_SPACE[np.minimum(codes, _IS_SPACE.shape[0] - 1)]
    keep = ~space
    keep[1:] |= space[1:] & ~space[:-1]  # the first character of a whitespace run
    origin = np.flatnonzero(keep)
    spaced_codes = codes[origin]
    spaced_codes[space[origin]] = 32
    spaced = spaced_codes.tobytes().decode("utf-32-le")
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
        spans.append((int(origin[found]), int(origin[found + len(chunk) - 1]) + 1))
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
        # A few rows by primary key: on the event loop (see Database.run_read).
        rows = await self.db.read_rows(_PASSAGES, {"ids": [c for c, _ in ranking]}, inline=True)
        found = {row[0]: row for row in rows}
        hashes: dict[uuid.UUID, str] = {}
        passages = []
        for chunk_id, score in ranking:
            row = found.get(chunk_id)
            if row is None:
                continue
            _, data_id, dataset_id, idx, chunk, tokens, summary, content_hash, name, extension = row
            hashes[chunk_id] = content_hash
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
        await self._add_spans(passages, hashes)
        if summaries and passages:
            ids = {"ids": list({p.data_id for p in passages})}
            rows = await self.db.read_rows(_SUMMARIES, ids, inline=True)
            by_item = dict(rows)
            for p in passages:
                p.document_summary = by_item.get(p.data_id)
        return passages

    async def _add_spans(self, passages: list[Passage], hashes: dict[uuid.UUID, str]) -> None:
        unknown = sorted(
            (p for p in passages if p.chunk_id not in self._spans), key=lambda p: p.index
        )
        if unknown:
            by_document: dict[str, list[Passage]] = {}
            for p in unknown:
                by_document.setdefault(hashes[p.chunk_id], []).append(p)
            texts: dict[str, list[str]] = {}
            for content_hash, document in await self.db.read_rows(
                _TEXTS, {"hashes": list(by_document)}, inline=True
            ):
                texts.setdefault(content_hash, []).append(document)
            for content_hash, chunks in by_document.items():
                # The same bytes read by two loaders (two file names) have two texts: the
                # chunks' is the one they are found in.
                best: list[Span] = [None] * len(chunks)
                for document in texts.get(content_hash, []):
                    spans = chunk_spans(document, [p.text for p in chunks])
                    if sum(s is not None for s in spans) > sum(s is not None for s in best):
                        best = spans
                for p, span in zip(chunks, best, strict=True):
                    self._spans[p.chunk_id] = span
            while len(self._spans) > MAX_KEPT_SPANS:
                self._spans.popitem(last=False)
        for p in passages:
            span = self._spans.get(p.chunk_id)
            if span is not None:
                p.start, p.end = span
