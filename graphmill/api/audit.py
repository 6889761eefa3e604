"""`/api/v1/audit`: the audit trail of the tenant the caller works in (graphmill's own)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from graphmill.api.deps import ServicesDep, UserDep
from graphmill.api.dto import BIGINT_MAX, AuditEventDTO
from graphmill.auth import audit
from graphmill.db.models import AuditAction

router = APIRouter()


@router.get("", response_model=list[AuditEventDTO])
@router.get("/", response_model=list[AuditEventDTO], include_in_schema=False)
async def list_events(
    services: ServicesDep,
    user: UserDep,
    user_id: uuid.UUID | None = None,
    dataset_id: uuid.UUID | None = None,
    action: AuditAction | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=audit.MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=BIGINT_MAX)] = 0,
) -> list[AuditEventDTO]:
    """Newest first: the tenant's events to its owner and admins, the caller's own to anyone
    else. `user_id` is the actor; `since` and `until` are ISO times (UTC when no zone)."""
    query = audit.AuditQuery(user_id, dataset_id, action, since, until, limit, offset)
    return [AuditEventDTO.of(e) for e in await audit.list_events(services.db, user, query)]
