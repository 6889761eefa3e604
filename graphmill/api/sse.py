"""Server-sent events from the event log, resumable by event id."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator

from fastapi import Request

from graphmill.db import Database
from graphmill.pipelines.events import events_after

POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 15.0


async def event_stream(
    request: Request, db: Database, dataset_id: uuid.UUID, after_id: int
) -> AsyncIterator[str]:
    """`id`/`event`/`data` frames for every event after `after_id`, then live ones."""
    last = after_id
    quiet_since = time.monotonic()
    yield "retry: 1000\n\n"
    while not await request.is_disconnected():
        events = await events_after(db, dataset_id, last)
        for event in events:
            last = event.id
            yield f"id: {event.id}\ndata: {json.dumps(event.as_json())}\n\n"
        if events:
            quiet_since = time.monotonic()
            continue
        if time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        await asyncio.sleep(POLL_SECONDS)
