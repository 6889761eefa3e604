"""`/api/v1/users`: the caller, and user ids by email."""

from __future__ import annotations

from fastapi import APIRouter

from graphmill.api.deps import ServicesDep, UserDep
from graphmill.api.dto import UserEmailRequest, UserRead
from graphmill.auth.users import find_user_id
from graphmill.errors import UserNotFound

router = APIRouter()


@router.get("/me")
async def me(user: UserDep) -> UserRead:
    """The caller; with REQUIRE_AUTHENTICATION=false and no credential, the local user (so
    cognee's web frontend can be used without a login)."""
    return UserRead.of(user)


@router.post("/get-user-id")
async def get_user_id(
    payload: UserEmailRequest, services: ServicesDep, user: UserDep
) -> dict[str, str]:
    user_id = await find_user_id(services.db, payload.email)
    if user_id is None:
        raise UserNotFound()
    return {"user_id": str(user_id)}
