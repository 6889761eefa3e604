"""One HTTP client for OpenAI-compatible endpoints (chat completions and embeddings).

The policy lives here once: one timeout, the process's shared rate limiter (Retry-After
honoured), and one table from an answer's status to the step error it becomes. It never
retries: the pipeline engine is the only place that does. Calls go through aiohttp: on a
local fake it spends a quarter or less of the CPU per call that httpx did.

- timeouts, unreachable hosts, dropped connections, 408/409/429 (but an exhausted quota)/5xx:
  `TransientError`;
- 401/403: `StepFailed("<kind>_auth")`; 402 and 429 `insufficient_quota`:
  `StepFailed("<kind>_payment_required")`; any other refusal: `StepFailed("<kind>_error")`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from graphmill.cognify.ratelimit import RateLimiter, retry_after_seconds
from graphmill.cognify.types import LLMUsage
from graphmill.errors import StepFailed, TransientError

log = logging.getLogger("graphmill.cognify.client")

OPENAI_BASE_URL = "https://api.openai.com/v1"
OLLAMA_BASE_URL = "http://localhost:11434/v1"
OPENAI_COMPATIBLE_PROVIDERS = frozenset({"openai", "custom", "ollama", "openai_compatible"})
# cognee hands model names to litellm, which reads a leading "<route>/" as the route and sends
# the rest as the model name; these routes all end at an OpenAI-compatible API.
ROUTE_PREFIXES = OPENAI_COMPATIBLE_PROVIDERS | {
    *("custom_openai", "ollama_chat", "hosted_vllm", "lm_studio", "openrouter", "together_ai"),
}
TRANSIENT_STATUSES = frozenset({408, 409, 429})
# Per kind of endpoint: its name in messages and the settings a message points to.
NAMES = {"llm": "LLM", "embedding": "embedding"}
SETTINGS = {"llm": "LLM_", "embedding": "EMBEDDING_"}


def api_model_name(model: str, provider: str) -> str:
    """The model name to send: cognee's litellm-style `openai/gpt-5-mini` loses its route."""
    route, sep, rest = model.partition("/")
    if sep and rest and route.lower() in ROUTE_PREFIXES | {provider.lower()}:
        return rest
    return model


def api_base_url(endpoint: str | None, provider: str, kind: str = "llm") -> str:
    """The base URL that `/chat/completions` or `/embeddings` is appended to.

    Unset: OpenAI's API (Ollama's local one for `ollama`). A URL without a path, such as
    cognee users' `http://localhost:11434`, gets `/v1`, where OpenAI-compatible servers
    (Ollama, vLLM, LM Studio, llama.cpp) serve; a pasted `.../chat/completions` is trimmed.
    """
    provider = provider.lower()
    if not endpoint or not endpoint.strip():
        if provider == "ollama":
            return OLLAMA_BASE_URL
        if provider in OPENAI_COMPATIBLE_PROVIDERS:
            return OPENAI_BASE_URL
        prefix = SETTINGS[kind]
        raise ValueError(
            f"{prefix}PROVIDER={provider} is not OpenAI-compatible: set {prefix}ENDPOINT to an "
            "OpenAI-compatible URL, or use openai, custom, ollama or openai_compatible"
        )
    url = endpoint.strip().rstrip("/")
    url = url.removesuffix("/chat/completions").removesuffix("/embeddings")
    if urlsplit(url).path in ("", "/"):
        url += "/v1"
    return url


class Refused(Exception):
    """A 4xx answer the caller may handle itself (e.g. an unsupported response_format)."""

    def __init__(self, status: int, message: str, text: str) -> None:
        self.status = status
        self.text = text
        super().__init__(message)


class Endpoint:
    """POST JSON to one OpenAI-compatible base URL under the shared limiter and timeout.

    `kind` ("llm" or "embedding") names the error classes and the settings in messages.
    One connection pool (aiohttp session) per event loop, made on the loop's first call and
    kept, so calls reuse connections rather than shake hands each time (a pool belongs to the
    loop that made it); whoever ends a loop's use calls `aclose` in that loop.
    """

    def __init__(
        self,
        kind: str,
        base_url: str,
        api_key: str | None,
        limiter: RateLimiter,
        timeout_seconds: float,
    ) -> None:
        self.kind = kind
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter
        self.timeout_seconds = timeout_seconds
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}

    async def post(
        self,
        path: str,
        body: dict[str, Any],
        estimated_tokens: int,
        usage: LLMUsage | None = None,
        refusable: bool = False,
    ) -> Any:
        """The JSON body of a 200 answer; `usage` counts every answer's call and tokens.
        With `refusable`, a 400/422 raises `Refused` instead of failing the step."""
        url, name = f"{self.base_url}{path}", NAMES[self.kind]
        session = self._sessions.get(asyncio.get_running_loop())
        if session is None:
            session = await self._open()
        async with self.limiter.reserve(estimated_tokens) as reservation:
            try:
                async with (
                    asyncio.timeout(self.timeout_seconds),
                    session.post(url, json=body) as response,
                ):
                    status, content = response.status, await response.read()
            except TimeoutError as exc:
                reservation.settle(0)
                raise TransientError(
                    f"{name} call to {url} timed out after {self.timeout_seconds:g} s"
                ) from exc
            except (aiohttp.ClientError, OSError) as exc:
                reservation.settle(0)
                raise TransientError(
                    f"{name} endpoint {self.base_url} unreachable: {type(exc).__name__}: {exc}"
                ) from exc
            try:
                payload = json.loads(content)
            except ValueError:
                payload = None
            tokens_in, tokens_out = _usage_of(payload)
            if usage is not None:
                usage.calls += 1
                usage.tokens_in += tokens_in
                usage.tokens_out += tokens_out
            if tokens_in or tokens_out or status != 200:
                reservation.settle(tokens_in + tokens_out)
            if status != 200:
                text = content.decode("utf-8", errors="replace")
                self._raise_for_status(status, response.headers, payload, text, refusable)
            return payload

    async def aclose(self) -> None:
        """Close the running loop's pool, and the pools of loops that have ended."""
        loop = asyncio.get_running_loop()
        for owner in [o for o in self._sessions if o is loop or o.is_closed()]:
            await self._sessions.pop(owner).close()

    async def _open(self) -> aiohttp.ClientSession:
        session = aiohttp.ClientSession(
            # No pool limit: the limiter's concurrency (and the steps' own bounds) decide how
            # many calls are in flight; a pool limit would make admitted calls queue for a
            # connection with their timeout running.
            connector=aiohttp.TCPConnector(limit=0),
            headers=self._headers,
            # asyncio.timeout in `post` is the one timeout: aiohttp's own are all off.
            timeout=aiohttp.ClientTimeout(),
        )
        # Stored before any await, so concurrent first calls share it.
        self._sessions[asyncio.get_running_loop()] = session
        for owner in [o for o in self._sessions if o.is_closed()]:
            await self._sessions.pop(owner).close()  # an ended loop's: only marked closed
        return session

    def _raise_for_status(
        self,
        status: int,
        headers: Mapping[str, str],
        payload: Any,
        text: str,
        refusable: bool,
    ) -> None:
        message = _error_message(payload, text)
        detail = f"{NAMES[self.kind]} endpoint answered {status}: {message}"
        prefix = SETTINGS[self.kind]
        if status == 429 and _error_code(payload) == "insufficient_quota":
            raise StepFailed(f"{self.kind}_payment_required", detail)
        if status in (429, 503):
            pause = retry_after_seconds(headers)
            if pause is not None:
                self.limiter.pause(pause)
                log.warning(
                    "%s endpoint asked for a %.1f s pause",
                    NAMES[self.kind],
                    pause,
                    extra={"action": f"{self.kind}.pause", "status": status, "seconds": pause},
                )
        if status in TRANSIENT_STATUSES or status >= 500:
            raise TransientError(detail)
        if status in (401, 403):
            raise StepFailed(f"{self.kind}_auth", f"{detail} (check {prefix}API_KEY)")
        if status == 402:
            raise StepFailed(f"{self.kind}_payment_required", detail)
        if refusable and status in (400, 422):
            raise Refused(status, message, text)
        if status == 404:
            detail += f" (check {prefix}ENDPOINT {self.base_url} and {prefix}MODEL)"
        raise StepFailed(f"{self.kind}_error", detail)


def _usage_of(payload: Any) -> tuple[int, int]:
    usage = payload.get("usage") if isinstance(payload, dict) else None
    if not isinstance(usage, dict):
        return 0, 0
    tokens_in, tokens_out = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return (
        tokens_in if isinstance(tokens_in, int) else 0,
        tokens_out if isinstance(tokens_out, int) else 0,
    )


def _error_message(payload: Any, text: str) -> str:
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"][:1000]
        if isinstance(error, str):
            return error[:1000]
        if isinstance(payload.get("detail"), str):
            return str(payload["detail"])[:1000]
    return text.strip()[:1000] or "(empty body)"


def _error_code(payload: Any) -> str | None:
    error = payload.get("error") if isinstance(payload, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None
