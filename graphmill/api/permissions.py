"""`/api/v1/permissions`: grant and revoke dataset permissions (cognee's shape)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query

from graphmill.api.deps import ServicesDep, UserDep
from graphmill.auth.permissions import set_permission

router = APIRouter()

DatasetIds = Annotated[list[uuid.UUID], Body(max_length=10_000)]
PermissionName = Annotated[str, Query(max_length=32)]


@router.post("/datasets/{principal_id}")
async def grant(
    principal_id: uuid.UUID,
    permission_name: PermissionName,
    dataset_ids: DatasetIds,
    services: ServicesDep,
    user: UserDep,
) -> dict[str, str]:
    await set_permission(
        services.db, user, principal_id, dataset_ids, permission_name, granted=True
    )
    return {"message": "Permission assigned to principal"}


@router.delete("/datasets/{principal_id}")
async def revoke(
    principal_id: uuid.UUID,
    permission_name: PermissionName,
    dataset_ids: DatasetIds,
    services: ServicesDep,
    user: UserDep,
) -> dict[str, str]:
    await set_permission(
        services.db, user, principal_id, dataset_ids, permission_name, granted=False
    )
    return {"message": "Permission revoked from principal"}
