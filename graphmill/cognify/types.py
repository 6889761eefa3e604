"""The contracts of cognify's models: embedder, LLM, token counter, usage counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt


@dataclass
class LLMUsage:
    tokens_in: int = 0
    tokens_out: int = 0
    calls: int = 0


class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors."""

    model: str  # recorded per dataset, e.g. "all-MiniLM-L6-v2" or "openai/text-embedding-3-small"
    dimension: int

    async def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """One row per text, L2-normalised, shape (len(texts), dimension)."""
        ...


class TokenCounter(Protocol):
    def count(self, text: str) -> int: ...

    def count_many(self, texts: Sequence[str]) -> list[int]:
        """`count` of each text (one call for a document's sentences)."""
        ...


class ChatModel(Protocol):
    """An LLM that answers with JSON matching a schema."""

    model: str

    async def complete_json(
        self, system: str, user: str, schema: dict[str, Any], usage: LLMUsage
    ) -> dict[str, Any]:
        """A JSON object valid against `schema`; usage is incremented by the call(s) made."""
        ...
