"""Chunking: token limits, overlap, sentence and paragraph boundaries."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from graphmill.cognify.chunking import chunk_text, split_sentences


class Words:
    """Counts whitespace-separated words: a simple, exact stand-in for a tokenizer."""

    def count(self, text: str) -> int:
        return len(text.split())

    def count_many(self, texts: Sequence[str]) -> list[int]:
        return [self.count(text) for text in texts]


def test_sentences_split_but_not_at_abbreviations() -> None:
    text = "Dr. Smith met Mr. Jones in the U.S. capital. They talked! Then? They left."
    assert split_sentences(text) == [
        "Dr. Smith met Mr. Jones in the U.S. capital.",
        "They talked!",
        "Then?",
        "They left.",
    ]


def test_chunks_never_exceed_the_size_and_keep_sentences_whole() -> None:
    sentences = [f"Sentence number {i} has exactly seven words." for i in range(40)]
    chunks = chunk_text(" ".join(sentences), Words(), size=30, overlap=0)
    assert all(c.tokens <= 30 for c in chunks)
    for chunk in chunks:
        assert chunk.text.endswith(".")
        assert chunk.tokens == len(chunk.text.split())
    assert " ".join(c.text for c in chunks) == " ".join(sentences)


def test_overlap_repeats_the_last_sentences() -> None:
    sentences = [f"Alpha {i} beta gamma delta." for i in range(12)]
    chunks = chunk_text(" ".join(sentences), Words(), size=20, overlap=5)
    assert len(chunks) > 2
    for previous, following in itertools.pairwise(chunks):
        last_sentence = previous.text.rsplit(". ", 1)[-1]
        assert following.text.startswith(last_sentence.rstrip("."))


def test_paragraphs_that_fit_start_a_new_chunk() -> None:
    first = "One two three four five. Six seven eight nine ten."
    second = "Eleven twelve thirteen fourteen fifteen. Sixteen seventeen eighteen nineteen twenty."
    chunks = chunk_text(f"{first}\n\n{second}", Words(), size=15, overlap=0)
    assert [c.text for c in chunks] == [first, second]


def test_paragraphs_inside_a_chunk_stay_apart() -> None:
    text = "Marta Lindqvist\n\nMarta Lindqvist is an engineer. She founded Velden Optics."
    [chunk] = chunk_text(text, Words(), size=50, overlap=0)
    assert chunk.text == text
    assert chunk.tokens == len(text.split())


def test_a_sentence_longer_than_a_chunk_is_cut_between_words() -> None:
    long = " ".join(f"w{i}" for i in range(100)) + "."
    chunks = chunk_text(long, Words(), size=30, overlap=0)
    assert [c.tokens for c in chunks] == [30, 30, 30, 10]
    assert " ".join(c.text for c in chunks) == long


def test_empty_text_has_no_chunks() -> None:
    assert chunk_text("  \n\n ", Words(), size=10, overlap=0) == []
