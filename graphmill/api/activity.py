"""`/api/v1/activity`: the caller's recent runs and searches, and the caller as an agent
(cognee's dashboard routes, scoped to what the caller may read)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from graphmill.api.deps import ServicesDep, UserDep
from graphmill.memory import activity

router = APIRouter()


@router.get("/pipeline-runs")
async def pipeline_runs(
    services: ServicesDep,
    user: UserDep,
    dataset_id: uuid.UUID | None = None,
    pipeline_name: Annotated[str | None, Query(max_length=64, pattern=r"^[\w.-]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    """Runs of readable datasets (one row each) and the caller's searches, newest first."""
    return await activity.activity_feed(services.db, user, dataset_id, pipeline_name, limit, offset)


@router.get("/agents")
async def agents(services: ServicesDep, user: UserDep) -> list[dict[str, Any]]:
    """The caller only: graphmill shows no other user."""
    return [await activity.caller_as_agent(services.db, user.id)]


@router.get("/users")
async def users(services: ServicesDep, user: UserDep) -> list[dict[str, Any]]:
    """The caller only (cognee: the members of the caller's tenant)."""
    agent = await activity.caller_as_agent(services.db, user.id)
    return [
        {
            "id": agent["id"],
            "email": agent["email"],
            "is_superuser": user.is_superuser,
            "created_at": agent["created_at"],
        }
    ]


@router.get("/spans")
async def spans(user: UserDep) -> list[dict[str, Any]]:
    """graphmill keeps no tracing spans (its logs carry the ids instead)."""
    return []
