"""Nearest-chunk search over stored vectors, and the embedding-model guard on queries."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from graphmill.cognify.embedders import LocalMiniLM
from graphmill.db import Database
from graphmill.errors import EmbeddingMismatch
from graphmill.graph.vectors import VectorIndex
from tests.support import Api, add_files


def test_nearest_chunks_rank_the_relevant_document_first(alice: Api, server: Any) -> None:
    files = [
        ("bees.txt", b"Honey bees communicate the location of flowers with a waggle dance."),
        ("rail.txt", b"The Shinkansen high-speed railway connects Tokyo and Osaka."),
        ("code.txt", b"Python lists are dynamic arrays that grow by over-allocating memory."),
    ]
    ds = add_files(alice, "vectors", files).json()["dataset_id"]
    result = alice.post("/api/v1/cognify", json={"datasetIds": [ds]}).json()[ds]
    assert result["status"] == "PipelineRunCompleted"

    async def search() -> list[Any]:
        db = Database(server.settings.sqlalchemy_url)
        embedder = LocalMiniLM()
        [query] = await embedder.embed(["trains between Japanese cities"])
        index = VectorIndex(db)
        hits = await index.nearest(uuid.UUID(ds), query, embedder.model, k=3)
        with pytest.raises(EmbeddingMismatch) as mismatch:
            await index.nearest(uuid.UUID(ds), query[:64].copy(), "other/model", k=3)
        await db.dispose()
        message = str(mismatch.value)
        assert "all-MiniLM-L6-v2" in message and "384" in message
        assert "other/model" in message and "64" in message
        return hits

    hits = asyncio.run(search())
    assert hits[0].text.split()[1] == "Shinkansen"
    assert len(hits) == 3
    assert hits[0].score > hits[1].score >= hits[2].score
