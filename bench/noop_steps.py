"""Cognify step lists that do (almost) nothing, to measure the pipeline engine's own cost.

Select one with GRAPHMILL_COGNIFY_STEPS (the server and every worker need PYTHONPATH to
include the repository root, so that `bench.noop_steps` imports):

* `bench.noop_steps:noop`: one step that returns at once. What remains is the engine:
  claiming the run, listing pending items, and per item the `processing`, stage and
  `completed` transactions with their events and run counters.
* `bench.noop_steps:commit`: one step that writes one tiny chunk through
  `ctx.on_commit`, so the item's commit also replaces its outputs (delete + insert), as the
  real chunk step does.
* `bench.noop_steps:read`: reads the item's bytes from the blob store, then writes one
  tiny chunk: the real pipeline's I/O shape without its text processing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert

from graphmill.db.models import Chunk
from graphmill.pipelines.engine import ItemContext, Pipeline, Step


@dataclass
class State:
    size: int = 0


async def nothing(ctx: ItemContext[State]) -> None:
    """Nothing at all."""


async def write_one_chunk(ctx: ItemContext[State]) -> None:
    """Replace the item's chunks with one tiny chunk, in the item's completing transaction."""
    item = ctx.item

    def write(conn: Connection) -> None:
        conn.execute(delete(Chunk).where(Chunk.data_id == item.data_id))
        conn.execute(
            insert(Chunk).values(
                dataset_id=item.dataset_id,
                data_id=item.data_id,
                content_hash=item.content_hash,
                idx=0,
                text="noop",
                token_count=1,
            )
        )

    ctx.on_commit(write)


async def read_bytes(ctx: ItemContext[State]) -> None:
    ctx.state.size = len(await ctx.read_bytes())


def noop(tools: Any) -> Pipeline[State]:
    return Pipeline([Step("noop", nothing)], State)


def commit(tools: Any) -> Pipeline[State]:
    return Pipeline([Step("noop_commit", write_one_chunk)], State)


def read(tools: Any) -> Pipeline[State]:
    return Pipeline([Step("read", read_bytes), Step("noop_commit", write_one_chunk)], State)
