"""`/api/v1/configuration`: named configurations each user stores (cognee's routes; the web
frontend keeps its graph models, prompts and pipeline settings in them)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from pydantic import Field

from graphmill.api.deps import ServicesDep, UserDep
from graphmill.api.dto import InDTO
from graphmill.catalog import configurations

router = APIRouter()


class StoreConfigurationDTO(InDTO):
    name: str = Field(min_length=1, max_length=255)
    config: dict[str, Any]


@router.post("/store_user_configuration")
async def store_user_configuration(
    payload: StoreConfigurationDTO, services: ServicesDep, user: UserDep
) -> None:
    """Create or replace the caller's configuration of that name; answers `null`."""
    await configurations.store_configuration(services.db, user.id, payload.name, payload.config)


@router.get("/get_user_configuration/")
async def list_user_configurations(services: ServicesDep, user: UserDep) -> list[dict[str, Any]]:
    """The caller's configurations: `{id, ownerId, name, configuration, createdAt,
    updatedAt}`."""
    return [c.to_json() for c in await configurations.list_configurations(services.db, user.id)]


@router.get("/get_user_configuration/{config_id}")
async def get_user_configuration(
    config_id: uuid.UUID, services: ServicesDep, user: UserDep
) -> dict[str, Any]:
    """One configuration's content; `{}` when the caller has none with that id (cognee's
    answer, the same for another user's)."""
    found = await configurations.get_configuration(services.db, user.id, config_id)
    return found.configuration if found else {}
