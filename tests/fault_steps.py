"""Pipeline steps that misbehave on demand, for engine tests (GRAPHMILL_COGNIFY_STEPS,
GRAPHMILL_IMPROVE_STEPS).

Directives in an item's text: `@sleep=S` waits S seconds; `@fail` raises a permanent error;
`@transient=N` raises a connection error on the first N attempts; `@hang` never returns;
`@crash` kills the process on the spot; `@waitfor=PATH` waits until the file PATH exists;
`@fillstore` takes all the room left in the store of record (once per item); `@storefull`
raises the store's StoreFull, as a commit refused for room does.
Then the item's text becomes one chunk, written in the transaction that completes the item
(the engine's contract, without model costs).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert

from graphmill.db.models import Chunk, Event, utcnow
from graphmill.errors import StoreFull
from graphmill.memory import improve
from graphmill.pipelines.engine import ItemContext, Pipeline, Step


@dataclass
class State:
    text: str = ""


async def misbehave(ctx: ItemContext[State]) -> None:
    text = (await ctx.read_bytes()).decode("utf-8", errors="replace")
    for name, value in re.findall(r"@(sleep|fail|transient|hang|crash)(?:=([\d.]+))?", text):
        if name == "sleep":
            await asyncio.sleep(float(value))
        elif name == "fail":
            raise ValueError(f"planted failure in {ctx.item.name}")
        elif name == "transient" and ctx.attempt <= int(value):
            raise ConnectionError(f"planted transient failure, attempt {ctx.attempt}")
        elif name == "hang":
            await asyncio.sleep(3600)
        elif name == "crash":
            os._exit(17)
    if "@storefull" in text:
        raise StoreFull()
    if "@fillstore" in text and ctx.item.data_id not in _FILLED:
        _FILLED.add(ctx.item.data_id)
        await fill_store(ctx)
    for path in re.findall(r"@waitfor=(\S+)", text):
        while not await asyncio.to_thread(os.path.exists, path):  # noqa: ASYNC110 (a file, no event)
            await asyncio.sleep(0.02)
    ctx.state.text = text


_FILLED: set[uuid.UUID] = set()


async def fill_store(ctx: ItemContext[State]) -> None:
    """Take every byte of room the store has left, as a concurrent writer could: rows of
    decreasing size until even an empty one is refused. They are events, the rows the
    ledger records a state change with, so that no completion or failure fits either."""
    for size in (65536, 8192, 1024, 128, 0):
        row = {
            "dataset_id": ctx.item.dataset_id,
            "run_id": uuid.uuid4(),
            "kind": "padding",
            "state": "padding",
            "body": {"pad": secrets.token_hex(size // 2)} if size else {},
            "created_at": utcnow(),
        }
        while True:
            try:
                await ctx.db.run(lambda conn, row=row: conn.execute(insert(Event).values(row)))
            except StoreFull:
                break


async def one_chunk(ctx: ItemContext[State]) -> None:
    item, text = ctx.item, ctx.state.text

    def write(conn: Connection) -> None:
        conn.execute(delete(Chunk).where(Chunk.data_id == item.data_id))
        conn.execute(
            insert(Chunk).values(
                dataset_id=item.dataset_id,
                data_id=item.data_id,
                content_hash=item.content_hash,
                idx=0,
                text=text,
                token_count=len(text.split()),
            )
        )

    ctx.on_commit(write)


def pipeline(tools: Any) -> Pipeline[State]:
    return Pipeline([Step("misbehave", misbehave), Step("chunk", one_chunk)], State)


def improve_pipeline(tools: Any) -> Pipeline[State]:
    """improve's memify_pipeline behind the same directives (GRAPHMILL_IMPROVE_STEPS)."""
    merge = improve.pipeline(tools).steps
    return Pipeline([Step("misbehave", misbehave), *merge], State)
