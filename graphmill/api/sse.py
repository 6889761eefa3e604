"""Server-sent events from the event log, resumable by event id."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator

from fastapi import Request

from graphmill.api.deps import current_user
from graphmill.catalog.datasets import get_dataset
from graphmill.errors import NotFound, PermissionDenied, Unauthorized
from graphmill.pipelines.events import events_after
from graphmill.services import Services

log = logging.getLogger("graphmill.api")

POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 15.0


async def may_still_read(
    request: Request, services: Services, user_id: uuid.UUID, dataset_id: uuid.UUID
) -> bool:
    """Whether the stream's credential still names `user_id` and that user may read."""
    try:
        user = await current_user(request, services)
        if user.id != user_id:
            return False
        await get_dataset(services.db, user, dataset_id)
    except (Unauthorized, NotFound, PermissionDenied):
        return False
    return True


async def event_stream(
    request: Request,
    services: Services,
    user_id: uuid.UUID,
    dataset_id: uuid.UUID,
    after_id: int,
) -> AsyncIterator[str]:
    """`id`/`data` frames for every event after `after_id`, then live ones.

    Access is checked again every `events_recheck_seconds`, before events are read: a
    revoked permission or an expired or deleted credential closes the stream.
    """
    last = after_id
    quiet_since = checked_at = time.monotonic()
    yield "retry: 1000\n\n"
    while not await request.is_disconnected():
        if time.monotonic() - checked_at >= services.settings.events_recheck_seconds:
            if not await may_still_read(request, services, user_id, dataset_id):
                log.info(
                    "event stream closed: access gone",
                    extra={"action": "events.close", "dataset_id": str(dataset_id)},
                )
                return
            checked_at = time.monotonic()
        events = await events_after(services.db, dataset_id, last)
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
