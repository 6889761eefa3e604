"""An OpenAI-compatible server for tests: real HTTP, deterministic answers, scriptable faults.

POST /v1/chat/completions answers from the schema it is asked for (the `json_schema`
response_format, or in `json_object` mode the first ```json block of the system message):
arrays of objects with a `name` become the capitalised words of the first user message,
arrays of source/target objects link consecutive ones, a `summary` is its first sentence.
POST /v1/embeddings answers hash-seeded unit vectors. Both report token usage.

Use the `fake_llm` fixture (a session-wide server, reset for each test):

    pytest_plugins = ["tests.fake_openai"]   # in conftest.py, or in a test module

    def test_x(fake_llm: FakeOpenAI) -> None:
        fake_llm.configure(reject_json_schema=True)
        ... Settings(llm_endpoint=fake_llm.base_url, llm_api_key=fake_llm.api_key) ...
        assert fake_llm.calls["chat"] == 2
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import itertools
import json
import math
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.support import free_port

API_KEY = "sk-fake-graphmill"


@dataclass
class Modes:
    """What the server does; `configure` sets these, `reset` restores the defaults."""

    reject_json_schema: bool = False  # 400 for response_format json_schema (forces the fallback)
    reject_json_object: bool = False  # 400 for response_format json_object
    invalid_answers: int = 0  # the next N chat answers are invalid; -1 = all of them
    invalid_kind: str = "syntax"  # "syntax" (not JSON) or "schema" (JSON of the wrong shape)
    latency: float = 0.0  # seconds before each answer
    fail_next: list[int] = field(default_factory=list)  # statuses for the next requests
    fail_always: int | None = None  # status for every request (e.g. 401, 500)
    retry_after: str | None = None  # Retry-After header sent with fail_next/fail_always
    fail_code: str | None = None  # error.code sent with them, e.g. "insufficient_quota"
    rate_limit: int | None = None  # most requests accepted per window; beyond: 429
    window: float = 60.0  # seconds of the rate-limit window (sliding)
    require_key: str | None = API_KEY  # Bearer key the server accepts; None = any
    embedding_dimension: int = 1536  # when the request does not ask for `dimensions`
    reject_base64: bool = False  # 400 for embeddings asked with encoding_format base64


@dataclass(frozen=True)
class Recorded:
    endpoint: str  # "chat" or "embeddings"
    body: dict[str, Any]
    status: int
    at: float  # time.monotonic() on arrival
    prompt_tokens: int = 0
    completion_tokens: int = 0


class FakeOpenAI:
    """The server, its modes and what it saw; thread-safe (uvicorn runs in its own thread)."""

    api_key = API_KEY

    def __init__(self) -> None:
        self.port = free_port()
        self.root_url = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.root_url}/v1"
        self._lock = threading.Lock()
        self.modes = Modes()
        self.requests: list[Recorded] = []
        self.limit_exceeded = False  # a request arrived while the window was full
        self._accepted: deque[float] = deque()
        config = uvicorn.Config(self._app(), host="127.0.0.1", port=self.port, log_level="error")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("fake OpenAI server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def configure(self, **changes: Any) -> None:
        if "fail_next" in changes:
            changes["fail_next"] = list(changes["fail_next"])
        with self._lock:
            self.modes = dataclasses.replace(self.modes, **changes)

    def reset(self) -> None:
        with self._lock:
            self.modes = Modes()
            self.requests = []
            self.limit_exceeded = False
            self._accepted.clear()

    @property
    def calls(self) -> Counter[str]:
        """Requests received per endpoint ("chat", "embeddings"), whatever their answer."""
        with self._lock:
            return Counter(r.endpoint for r in self.requests)

    @property
    def chat_bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.body for r in self.requests if r.endpoint == "chat"]

    @property
    def usage(self) -> tuple[int, int]:
        """(prompt, completion) tokens reported over all answers."""
        with self._lock:
            return (
                sum(r.prompt_tokens for r in self.requests),
                sum(r.completion_tokens for r in self.requests),
            )

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> JSONResponse:
            return await self._handle("chat", request)

        @app.post("/v1/embeddings")
        async def embeddings(request: Request) -> JSONResponse:
            return await self._handle("embeddings", request)

        return app

    async def _handle(self, endpoint: str, request: Request) -> JSONResponse:
        arrived = time.monotonic()
        body = await request.json()
        status, payload, headers = self._decide(endpoint, body, request, arrived)
        usage = payload.get("usage", {}) if status == 200 else {}
        with self._lock:
            # Recorded on arrival, so a slow answer never lands in a later test's record.
            self.requests.append(
                Recorded(
                    endpoint,
                    body,
                    status,
                    arrived,
                    usage.get("prompt_tokens", 0),
                    usage.get("completion_tokens", 0),
                )
            )
            latency = self.modes.latency
        if latency:
            await asyncio.sleep(latency)
        return JSONResponse(payload, status_code=status, headers=headers)

    def _decide(
        self, endpoint: str, body: dict[str, Any], request: Request, arrived: float
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            modes = self.modes
            auth = request.headers.get("authorization", "")
            if modes.require_key is not None and auth != f"Bearer {modes.require_key}":
                return 401, _error("Incorrect API key provided.", "invalid_api_key"), {}
            if modes.rate_limit is not None:
                while self._accepted and self._accepted[0] <= arrived - modes.window:
                    self._accepted.popleft()
                if len(self._accepted) >= modes.rate_limit:
                    self.limit_exceeded = True
                    wait = self._accepted[0] + modes.window - arrived
                    headers = {
                        "retry-after": str(max(1, math.ceil(wait))),
                        "retry-after-ms": str(max(1, math.ceil(wait * 1000))),
                    }
                    return 429, _error("Rate limit reached.", "rate_limit_exceeded"), headers
                self._accepted.append(arrived)
            failure = modes.fail_next.pop(0) if modes.fail_next else modes.fail_always
            if failure is not None:
                headers = {"retry-after": modes.retry_after} if modes.retry_after else {}
                return failure, _error(f"Simulated {failure}.", modes.fail_code), headers
            if endpoint == "embeddings":
                if modes.reject_base64 and body.get("encoding_format") == "base64":
                    message = "Invalid value for 'encoding_format': only 'float' is supported."
                    return 400, _error(message, None), {}
                return 200, _embeddings(body, modes.embedding_dimension), {}
            response_format = body.get("response_format") or {}
            kind = response_format.get("type")
            if (kind == "json_schema" and modes.reject_json_schema) or (
                kind == "json_object" and modes.reject_json_object
            ):
                message = f"Invalid parameter: 'response_format' of type '{kind}' is not supported."
                return 400, _error(message, None), {}
            messages = body.get("messages") or []
            text = " ".join(str(m.get("content", "")) for m in messages)
            if kind == "json_object" and "json" not in text.lower():
                message = "'messages' must contain the word 'json' in some form"
                return 400, _error(message, None), {}
            invalid = modes.invalid_answers != 0
            if modes.invalid_answers > 0:
                self.modes = dataclasses.replace(modes, invalid_answers=modes.invalid_answers - 1)
        return 200, _chat_answer(body, invalid, modes.invalid_kind), {}


def _error(message: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": code}}


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def _chat_answer(body: dict[str, Any], invalid: bool, kind: str) -> dict[str, Any]:
    messages = body.get("messages") or []
    user = next((str(m.get("content", "")) for m in messages if m.get("role") == "user"), "")
    system = next((str(m.get("content", "")) for m in messages if m.get("role") == "system"), "")
    if invalid:
        content = '{"unexpected": true}' if kind == "schema" else 'Sure! {"entities": ['
    else:
        content = json.dumps(_answer_for(_schema_of(body, system), user))
    prompt = " ".join(str(m.get("content", "")) for m in messages)
    prompt_tokens, completion_tokens = _tokens(prompt), _tokens(content)
    return {
        "id": f"chatcmpl-{hashlib.sha1(prompt.encode()).hexdigest()[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", ""),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _schema_of(body: dict[str, Any], system: str) -> dict[str, Any]:
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return dict(response_format["json_schema"]["schema"])
    block = re.search(r"```json\s*(.*?)\s*```", system, flags=re.DOTALL)
    if block:
        return dict(json.loads(block.group(1)))
    return {}


def capitalised_words(text: str) -> list[str]:
    """The entities the fake finds: capitalised words, first occurrence order, no repeats."""
    return list(dict.fromkeys(re.findall(r"\b[A-Z][A-Za-z]+\b", text)))


def first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s+", text.strip(), maxsplit=1)[0]


_SOURCES = {"source", "source_node_id", "source_id", "from"}
_TARGETS = {"target", "target_node_id", "target_id", "to"}


def _answer_for(schema: dict[str, Any], text: str) -> Any:
    words = capitalised_words(text)
    pairs = list(itertools.pairwise(words))

    def resolve(node: Any) -> dict[str, Any]:
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            target: Any = schema
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target.get(part, {})
            node = target
        if isinstance(node, dict) and (options := node.get("anyOf") or node.get("oneOf")):
            node = next((o for o in map(resolve, options) if o.get("type") != "null"), {})
        return node if isinstance(node, dict) else {}

    def make(node: Any, key: str, ctx: dict[str, str], depth: int) -> Any:
        node = resolve(node)
        kind = node.get("type")
        kind = next((k for k in kind if k != "null"), None) if isinstance(kind, list) else kind
        if "enum" in node:
            return node["enum"][0]
        if kind == "object" or "properties" in node:
            return {
                name: make(sub, name, ctx, depth + 1)
                for name, sub in node.get("properties", {}).items()
            }
        if kind == "array":
            items = resolve(node.get("items", {}))
            fields = set(items.get("properties", {}))
            if depth > 4:
                return []
            if fields & _SOURCES and fields & _TARGETS:
                return [make(items, key, {"source": a, "target": b}, depth + 1) for a, b in pairs]
            if "name" in fields or "id" in fields:
                return [make(items, key, {"name": w}, depth + 1) for w in words]
            return []
        if kind == "string":
            if key in ("name", "id"):
                return ctx.get("name", "")
            if key in _SOURCES:
                return ctx.get("source", "")
            if key in _TARGETS:
                return ctx.get("target", "")
            if key in ("relation", "relationship_name", "relationship"):
                return "related_to"
            if key == "type":
                return "Concept"
            if key == "summary":
                return first_sentence(text)
            if key == "description":
                return f"{ctx['name']} is mentioned in the text." if "name" in ctx else ""
            return ""
        if kind in ("integer", "number"):
            return 0
        if kind == "boolean":
            return False
        return None

    return make(schema, "", {}, 0) if schema else {"entities": [], "relations": []}


def _embeddings(body: dict[str, Any], default_dimension: int) -> dict[str, Any]:
    inputs = body.get("input")
    texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
    dimension = int(body.get("dimensions") or default_dimension)
    data = []
    for i, text in enumerate(texts):
        vector = fake_embedding(str(text), dimension)
        embedding: Any = vector.tolist()
        if body.get("encoding_format") == "base64":
            embedding = base64.b64encode(vector.astype("<f4").tobytes()).decode()
        data.append({"object": "embedding", "index": i, "embedding": embedding})
    tokens = sum(_tokens(str(t)) for t in texts)
    return {
        "object": "list",
        "data": data,
        "model": body.get("model", ""),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def fake_embedding(text: str, dimension: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    """The unit vector the fake returns for `text`: the same for the same text and dimension."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dimension).astype(np.float32)
    return vector / np.linalg.norm(vector)


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def fake_llm(fake_openai_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """The session's fake OpenAI server, with default modes and no recorded requests."""
    fake_openai_server.reset()
    yield fake_openai_server
    fake_openai_server.reset()
