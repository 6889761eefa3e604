"""Token-aware chunking that respects paragraph and sentence boundaries."""

from __future__ import annotations

import re
from dataclasses import dataclass

from graphmill.cognify.types import TokenCounter

CHUNKER_VERSION = "1"

_PARAGRAPHS = re.compile(r"\n\s*\n")
# A sentence ends at . ! ? (and closing quotes/brackets) followed by space and a capital,
# digit or quote; common abbreviations are not ends.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_ABBREVIATIONS = re.compile(
    r"\b(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Mt|vs|etc|e\.g|i\.e|Inc|Ltd|Co|Corp|No|Fig|U\.S|U\.K)\.$"
)


@dataclass(frozen=True)
class Chunk:
    text: str
    tokens: int


def split_sentences(paragraph: str) -> list[str]:
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(paragraph):
        candidate = paragraph[start : match.start()].rstrip()
        if _ABBREVIATIONS.search(candidate):
            continue
        pieces.append(paragraph[start : match.end()].strip())
        start = match.end()
    tail = paragraph[start:].strip()
    if tail:
        pieces.append(tail)
    return [p for p in pieces if p]


def _split_long(sentence: str, counter: TokenCounter, size: int) -> list[tuple[str, int]]:
    """A sentence longer than a chunk, cut between words. Word pieces never cross
    whitespace, so a run of words costs the sum of its words' tokens (linear, not a recount
    per word)."""
    out: list[tuple[str, int]] = []
    current: list[str] = []
    used = 0
    words = sentence.split()
    for word, tokens in zip(words, counter.count_many(words), strict=True):
        if current and used + tokens > size:
            out.append((" ".join(current), used))
            current, used = [], 0
        current.append(word)
        used += tokens
    if current:
        out.append((" ".join(current), used))
    return out


def chunk_text(text: str, counter: TokenCounter, size: int, overlap: int) -> list[Chunk]:
    """Pack whole sentences into chunks of at most `size` tokens; a paragraph boundary
    closes a chunk when the next paragraph would not fit; the last sentences of a chunk,
    up to `overlap` tokens, open the next one. Inside a chunk, paragraphs stay separated
    by a blank line."""
    sentences: list[tuple[str, bool]] = []  # (sentence, starts a paragraph)
    for paragraph in _PARAGRAPHS.split(text):
        paragraph = " ".join(paragraph.split())
        sentences += [(s, i == 0) for i, s in enumerate(split_sentences(paragraph))]
    units: list[tuple[str, int, bool]] = []  # (sentence, tokens, starts a paragraph)
    counts = counter.count_many([sentence for sentence, _ in sentences])
    for (sentence, first), tokens in zip(sentences, counts, strict=True):
        if tokens <= size:
            units.append((sentence, tokens, first))
            continue
        for index, (part, part_tokens) in enumerate(_split_long(sentence, counter, size)):
            units.append((part, part_tokens, first and index == 0))

    # Tokens from each unit to the end of its paragraph, in one backward pass (linear).
    to_paragraph_end = [0] * len(units)
    running = 0
    for index in range(len(units) - 1, -1, -1):
        running += units[index][1]
        to_paragraph_end[index] = running
        if units[index][2]:
            running = 0
    chunks: list[Chunk] = []
    current: list[tuple[str, int, bool]] = []
    used = 0
    for index, (sentence, tokens, new_paragraph) in enumerate(units):
        paragraph_fits = not new_paragraph or used + to_paragraph_end[index] <= size
        if current and (used + tokens > size or not paragraph_fits):
            chunks.append(_join(current))
            current, used = _overlap(current, overlap)
            if used + tokens > size:
                current, used = [], 0
        current.append((sentence, tokens, new_paragraph))
        used += tokens
    if current:  # it always holds at least the last sentence, which is new
        chunks.append(_join(current))
    return chunks


def _join(parts: list[tuple[str, int, bool]]) -> Chunk:
    """Sentences of a paragraph joined by a space, paragraphs by a blank line: a heading
    stays apart from the sentence after it (extraction would read "Title Title starts ..."
    as one long name otherwise)."""
    text = parts[0][0]
    for sentence, _, new_paragraph in parts[1:]:
        text += ("\n\n" if new_paragraph else " ") + sentence
    return Chunk(text, sum(t for _, t, _ in parts))


def _overlap(
    parts: list[tuple[str, int, bool]], overlap: int
) -> tuple[list[tuple[str, int, bool]], int]:
    kept: list[tuple[str, int, bool]] = []
    used = 0
    for sentence, tokens, new_paragraph in reversed(parts):
        if used + tokens > overlap:
            break
        kept.insert(0, (sentence, tokens, new_paragraph))
        used += tokens
    return kept, used
