"""The audit trail: who changed access, deleted or downloaded what, when, with which credential.

An event is written by `record` in the transaction of the change it records, so a refused or
failed change leaves none and a change that committed always has one. A tenant's owner and
admins see the tenant's events; anyone sees the events they caused in the tenant they work in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from graphmill.auth.users import UserInfo
from graphmill.db import Database
from graphmill.db.models import AuditAction, AuditEvent, Dataset, Tenant, User, utcnow
from graphmill.errors import InvalidInput

MAX_LIMIT = 1000
PRUNE_BATCH = 5000


@dataclass(frozen=True)
class AuditEventInfo:
    id: int
    at: datetime
    actor_id: uuid.UUID
    actor_email: str | None
    credential: str
    tenant_id: uuid.UUID | None
    action: str
    dataset_id: uuid.UUID | None
    data_id: uuid.UUID | None
    target_id: uuid.UUID | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class AuditQuery:
    """Filters of `GET /api/v1/audit`; all optional. `user_id` is the actor."""

    user_id: uuid.UUID | None = None
    dataset_id: uuid.UUID | None = None
    action: AuditAction | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    offset: int = 0


def record(
    session: AsyncSession | Connection,
    actor: UserInfo,
    action: AuditAction,
    *,
    dataset: Dataset | None = None,
    tenant_id: uuid.UUID | None = None,
    dataset_id: uuid.UUID | None = None,
    data_id: uuid.UUID | None = None,
    target_id: uuid.UUID | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add one event to the caller's transaction (an ORM session's, or a `Database.run`
    function's connection). Its tenant: the dataset's when one is given, else `tenant_id`
    (the tenant a membership or role belongs to), else the actor's."""
    if dataset is not None:
        tenant_id, dataset_id = dataset.tenant_id, dataset.id
    elif tenant_id is None:
        tenant_id = actor.tenant_id
    values = {
        "actor_id": actor.id,
        "credential": actor.credential,
        "tenant_id": tenant_id,
        "action": action,
        "dataset_id": dataset_id,
        "data_id": data_id,
        "target_id": target_id,
        "detail": detail or {},
    }
    if isinstance(session, Connection):
        session.execute(insert(AuditEvent).values(values))
    else:
        session.add(AuditEvent(**values))


async def list_events(db: Database, caller: UserInfo, query: AuditQuery) -> list[AuditEventInfo]:
    """Events of the tenant the caller works in, newest first: all of them to its owner and
    admins, the caller's own to anyone else (and in the tenant-less space)."""
    if not 1 <= query.limit <= MAX_LIMIT or query.offset < 0:
        raise InvalidInput(f"limit must be 1 to {MAX_LIMIT} and offset at least 0.")
    since, until = _utc(query.since), _utc(query.until)
    if since is not None and until is not None and since > until:
        raise InvalidInput("since must not be after until.")
    # teams records its changes here: imported on use, so neither module needs the other
    # to be loaded first.
    from graphmill.auth.teams import _is_manager

    async with db.read() as session:
        tenant = (
            await session.get(Tenant, caller.tenant_id) if caller.tenant_id is not None else None
        )
        manager = tenant is not None and await _is_manager(session, caller.id, tenant)
        stmt = (
            select(AuditEvent, User.email)
            .outerjoin(User, User.id == AuditEvent.actor_id)
            .where(AuditEvent.tenant_id.is_not_distinct_from(caller.tenant_id))
        )
        if not manager:
            stmt = stmt.where(AuditEvent.actor_id == caller.id)
        if query.user_id is not None:
            stmt = stmt.where(AuditEvent.actor_id == query.user_id)
        if query.dataset_id is not None:
            stmt = stmt.where(AuditEvent.dataset_id == query.dataset_id)
        if query.action is not None:
            stmt = stmt.where(AuditEvent.action == query.action)
        if since is not None:
            stmt = stmt.where(AuditEvent.at >= since)
        if until is not None:
            stmt = stmt.where(AuditEvent.at <= until)
        stmt = stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        rows = (await session.execute(stmt.limit(query.limit).offset(query.offset))).all()
    return [
        AuditEventInfo(
            e.id,
            e.at,
            e.actor_id,
            email,
            e.credential,
            e.tenant_id,
            e.action,
            e.dataset_id,
            e.data_id,
            e.target_id,
            e.detail or {},
        )
        for e, email in rows
    ]


def _utc(moment: datetime | None) -> datetime | None:
    """A time as given, in UTC when it names no zone."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


async def prune(db: Database, retention_days: int) -> int:
    """Delete events older than the retention (0 keeps them for ever); how many went. In
    batches, so that a long backlog never holds the store's writer for long."""
    if retention_days <= 0:
        return 0
    cutoff = utcnow() - timedelta(days=retention_days)
    expired = select(AuditEvent.id).where(AuditEvent.at < cutoff).limit(PRUNE_BATCH)
    total = 0
    while True:
        async with db.write() as session:
            result = await session.execute(delete(AuditEvent).where(AuditEvent.id.in_(expired)))
        deleted = int(result.rowcount or 0)  # type: ignore[attr-defined]
        total += deleted
        if deleted < PRUNE_BATCH:
            return total
