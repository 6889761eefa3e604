"""The event log: every run and item state change, readable in commit order per dataset."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from graphmill.db import Database
from graphmill.db.models import Event, utcnow


@dataclass(frozen=True)
class EventInfo:
    id: int
    dataset_id: uuid.UUID
    run_id: uuid.UUID
    data_id: uuid.UUID | None
    kind: str
    state: str
    body: dict[str, Any]
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "dataset_id": str(self.dataset_id),
            "run_id": str(self.run_id),
            "data_id": str(self.data_id) if self.data_id else None,
            "at": self.created_at.isoformat(),
            **self.body,
        }


_INSERT = insert(Event)  # one statement shape, its values bound per call


def _event(
    dataset_id: uuid.UUID,
    run_id: uuid.UUID,
    kind: str,
    state: str,
    data_id: uuid.UUID | None = None,
    *,
    body: dict[str, Any],
) -> dict[str, Any]:
    return {
        "dataset_id": dataset_id,
        "run_id": run_id,
        "data_id": data_id,
        "kind": kind,
        "state": str(state),
        "body": body,
        "created_at": utcnow(),
    }


async def emit(
    session: AsyncSession,
    dataset_id: uuid.UUID,
    run_id: uuid.UUID,
    kind: str,
    state: str,
    data_id: uuid.UUID | None = None,
    **body: Any,
) -> None:
    """Record a state change in the caller's transaction (which holds the dataset's lock:
    every ledger write takes it first)."""
    await session.execute(_INSERT, _event(dataset_id, run_id, kind, state, data_id, body=body))


def emit_in(conn: Connection, *event: Any, **body: Any) -> None:
    """`emit` (same arguments after the first) in a transaction run by `Database.run`."""
    conn.execute(_INSERT, _event(*event, body=body))


async def events_after(
    db: Database, dataset_id: uuid.UUID, after_id: int, limit: int = 500
) -> list[EventInfo]:
    """Events of a dataset with ids above `after_id`, oldest first."""
    async with db.read() as session:
        rows = await session.scalars(
            select(Event)
            .where(Event.dataset_id == dataset_id, Event.id > after_id)
            .order_by(Event.id)
            .limit(limit)
        )
        return [
            EventInfo(
                r.id, r.dataset_id, r.run_id, r.data_id, r.kind, r.state, r.body, r.created_at
            )
            for r in rows
        ]
