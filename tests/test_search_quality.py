"""Search quality, measured: recall of the labelled supporting passages per retrieval, over
HTTP, with the defaults (offline extractor, local embedder, no LLM).

The two labelled sets (`tests/data/search_*.json`, see `tests/search_quality.py`) are
uploaded and cognified; every question is asked with BM25-only, dense-only, graph and
hybrid search; hybrid must beat the best of BM25 and dense on two-hop questions and lose
nothing on single-hop ones. One backend: retrieval is the same code on both, and cognifying
250 passages twice would double the suite's longest test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import LiveServer
from tests.search_quality import DEFAULT, Report, evaluate, load_set, upload
from tests.support import Api, sign_up

pytestmark = pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)

TYPES = ("CHUNKS_LEXICAL", "CHUNKS", "GRAPH_COMPLETION", "HYBRID_COMPLETION", DEFAULT)


@pytest.fixture
def api(server: LiveServer) -> Iterator[Api]:
    client = sign_up(server.base_url)
    client.timeout = 600
    yield client
    client.close()


def measured(api: Api, name: str) -> tuple[dict[str, float], dict[str, float]]:
    labelled = load_set(name)
    report: Report = evaluate(api, labelled, upload(api, labelled), TYPES)
    assert report.errors() == dict.fromkeys(TYPES, 0)
    at5, at1 = report.table(5), report.table(1)
    print(f"\n{name}: " + ", ".join(f"{t} @5 {at5[t]:.3f} @1 {at1[t]:.3f}" for t in TYPES))
    return at5, at1


def test_hybrid_beats_bm25_and_dense_on_two_hop_and_loses_nothing_on_single_hop(
    api: Api,
) -> None:
    two_hop, _ = measured(api, "two-hop")
    best_single_retriever = max(two_hop["CHUNKS_LEXICAL"], two_hop["CHUNKS"])
    assert two_hop["HYBRID_COMPLETION"] > best_single_retriever + 0.05, two_hop
    assert two_hop["GRAPH_COMPLETION"] > best_single_retriever, two_hop
    assert two_hop[DEFAULT] == two_hop["HYBRID_COMPLETION"]  # hybrid is the default

    single, single_at1 = measured(api, "single")
    assert single["HYBRID_COMPLETION"] >= 0.95, single
    assert single["HYBRID_COMPLETION"] >= max(single["CHUNKS_LEXICAL"], single["CHUNKS"])
    best_at1 = max(single_at1["CHUNKS_LEXICAL"], single_at1["CHUNKS"])
    assert single_at1["HYBRID_COMPLETION"] >= best_at1 - 0.05, single_at1
