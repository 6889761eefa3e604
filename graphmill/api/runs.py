"""`/api/v1/runs`: one run's state, and cancelling it (graphmill extensions)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from graphmill.api.deps import ServicesDep, UserDep
from graphmill.api.dto import RunDTO
from graphmill.pipelines import service

router = APIRouter()


@router.get("/{run_id}")
async def get_run(run_id: uuid.UUID, services: ServicesDep, user: UserDep) -> RunDTO:
    return RunDTO.of(await service.get_run(services.db, user, run_id))


@router.post("/{run_id}/cancel")
async def cancel_run(run_id: uuid.UUID, services: ServicesDep, user: UserDep) -> RunDTO:
    """Stop new work at once; in-flight items finish or roll back; completed ones stay."""
    return RunDTO.of(await service.cancel(services.db, user, run_id))
