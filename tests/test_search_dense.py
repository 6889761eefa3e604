"""Dense search's sign-code prefilter: on real text, embedded with the local model, the
rows it scores exactly hold the exact top k for (nearly) every question.

The rows a query needs scored grow slower than the copy: for 99 % of questions' exact top
10, ~200 of these ~1,000 sentence vectors (20 %), ~560 of 4,471 (12.5 %, with MuSiQue's
paragraphs; bench/RESULTS-search.md). A large copy scores max(50 k, 2,000, 10 %) rows.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from pathlib import Path

import numpy as np
import pytest

from graphmill.cognify.embedders import LocalMiniLM
from graphmill.search.dense import _Copy

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def sentences_and_questions() -> tuple[np.ndarray, np.ndarray]:
    """The labelled sets' passages as sentences (~1,000 vectors), and their questions."""
    texts: list[str] = []
    questions: list[str] = []
    for name in ("search_single_hop.json", "search_two_hop.json"):
        labelled = json.loads((DATA / name).read_text())
        for passage in labelled["corpus"].values():
            texts += [s for s in re.split(r"(?<=[.!?])\s+", passage["text"]) if len(s) > 20]
        questions += [q["question"] for q in labelled["questions"]]
    embedder = LocalMiniLM()
    vectors = asyncio.run(embedder.embed(texts + questions))  # a thread per core
    embedder.close()
    return vectors[: len(texts)], vectors[len(texts) :]


def test_codes_first_finds_the_exact_top_k(
    sentences_and_questions: tuple[np.ndarray, np.ndarray],
) -> None:
    rows, questions = sentences_and_questions
    copy = _Copy(rows.shape[1])
    copy.rows = np.empty((0, rows.shape[1]), np.float32)
    copy.codes = np.empty((6, 0), np.uint64)
    group = uuid.uuid4()
    copy.append([(uuid.uuid4(), group, row) for row in rows])
    share = copy.size // 5
    for k in (5, 10):
        same = 0
        for question in questions:
            exact = copy.top(question, k, None, candidates=copy.size)
            fast = copy.top(question, k, None, candidates=share)
            assert len(fast) == k
            # Exact scores, each at most the exact ranking's at that place.
            assert all(f <= e + 1e-6 for (_, f), (_, e) in zip(fast, exact, strict=True))
            same += [i for i, _ in fast] == [i for i, _ in exact]
        # Measured: 76 of 76 for k 5, 75 of 76 for k 10.
        assert same >= len(questions) - 2, (k, same)

    # Rows the store no longer has leave the codes with the rows.
    question = questions[0]
    gone = [i for i, _ in copy.top(question, 3, None, candidates=copy.size)]
    copy.drop(gone)
    after = copy.top(question, 10, None, candidates=share)
    assert not set(gone) & {i for i, _ in after}
    assert after == copy.top(question, 10, None, candidates=copy.size)

    # A restriction to some items applies before the codes rank.
    other = uuid.uuid4()
    copy.append([(uuid.uuid4(), other, row) for row in rows[:50]])
    only = copy.top(question, 10, {other}, candidates=share)
    assert only and {copy.groups[copy.position[i]] for i, _ in only} == {other}
