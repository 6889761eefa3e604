"""The models cognify (and search) use in one process, opened once by the services and
carried explicitly: the embedder, the LLM, the token counter and their rate limiters."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from graphmill.cognify.client import api_base_url
from graphmill.cognify.embedders import (
    INSTALL_HINT,
    ApproximateTokenCounter,
    LocalTokenCounter,
    is_local,
    open_embedder,
)
from graphmill.cognify.llm import OpenAIChat, open_chat
from graphmill.cognify.ratelimit import RateLimiter
from graphmill.cognify.types import ChatModel, Embedder, TokenCounter
from graphmill.config import Settings
from graphmill.errors import EmbeddingModelMissing

log = logging.getLogger("graphmill.cognify")


@dataclass
class Tools:
    """What cognify uses. `embedder` is None when the default local model is not
    installed: the server still starts, and cognify or search say how to install it."""

    embedder: Embedder | None
    chat: ChatModel | None
    counter: TokenCounter
    missing: EmbeddingModelMissing | None = None
    limiters: dict[str, RateLimiter] = field(default_factory=dict)

    def require_embedder(self) -> Embedder:
        """The embedder, or EmbeddingModelMissing naming the command that installs it."""
        if self.embedder is None:
            raise self.missing or EmbeddingModelMissing()
        return self.embedder

    @property
    def embedder_status(self) -> dict[str, str]:
        """For /health: the embedder in effect, or that it is missing and the fix."""
        if self.embedder is None:
            return {"status": "missing", "fix": INSTALL_HINT}
        return {"status": "ready", "model": self.embedder.model}

    async def aclose(self) -> None:
        for tool in (self.chat, self.embedder):
            closer = getattr(tool, "aclose", None)
            if closer is not None:
                await closer()
            elif (close := getattr(tool, "close", None)) is not None:
                close()


def open_tools(settings: Settings) -> Tools:
    """The configured models. One rate limiter per endpoint base URL: an embedding endpoint
    on the LLM's server shares its limits and its Retry-After pauses.

    Raises ValueError for a provider that is not OpenAI-compatible without an endpoint.
    """
    limiters: dict[str, RateLimiter] = {}
    chat: OpenAIChat | None = None
    if settings.llm_configured:
        provider = settings.llm_provider.strip().lower() or "openai"
        base_url = api_base_url(settings.llm_endpoint, provider)
        limiters[base_url] = RateLimiter(
            requests=settings.llm_rate_limit_requests,
            tokens=settings.llm_rate_limit_tokens,
            concurrency=settings.llm_max_concurrency,
            window_seconds=settings.llm_rate_limit_interval,
        )
        chat = open_chat(settings, limiters[base_url])
    embedder: Embedder | None = None
    missing: EmbeddingModelMissing | None = None
    if is_local(settings):
        try:
            embedder = open_embedder(settings)
        except EmbeddingModelMissing as exc:
            missing = exc
            log.warning(
                "the default embedding model is not installed; cognify and search need it: %s",
                INSTALL_HINT,
                extra={"action": "embedder.missing"},
            )
    else:
        provider = settings.embedding_provider.strip().lower()
        base_url = api_base_url(settings.embedding_endpoint, provider, "embedding")
        limiter = limiters.setdefault(base_url, RateLimiter())
        embedder = open_embedder(settings, limiter)
    return Tools(embedder, chat, open_token_counter(), missing, limiters)


def open_token_counter() -> TokenCounter:
    """The local model's tokenizer where that model is installed (chunk sizes then fit it
    exactly), else an estimate: a remote embedder needs nothing local."""
    try:
        return LocalTokenCounter()
    except EmbeddingModelMissing:
        return ApproximateTokenCounter()
