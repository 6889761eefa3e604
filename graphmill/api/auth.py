"""`/api/v1/auth`: register, login, logout, me, API keys."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from starlette.responses import JSONResponse

from graphmill.api import errors
from graphmill.api.deps import ServicesDep, UserDep
from graphmill.api.dto import ApiKeyCreationPayload, ApiKeyRead, UserCreate, UserRead
from graphmill.auth import logins, tokens, users
from graphmill.errors import BadCredentials

router = APIRouter()


@router.post("/register", status_code=status.HTTP_201_CREATED)
async def register(payload: UserCreate, services: ServicesDep) -> UserRead:
    return UserRead.of(await users.register_user(services.db, payload.email, payload.password))


@router.post("/login", responses=errors.responses(429))
async def login(
    request: Request,
    services: ServicesDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    grant_type: Annotated[str | None, Form()] = None,
) -> JSONResponse:
    if grant_type not in (None, "", "password"):
        raise BadCredentials()
    address = request.client.host if request.client is not None else ""
    user = await logins.log_in(services.db, username, password, address, services.settings)
    token = tokens.issue_token(user.id, services.jwt_secret, services.settings.jwt_lifetime_seconds)
    response = JSONResponse({"access_token": token, "token_type": "bearer"})
    response.set_cookie(services.settings.auth_cookie_name, token, httponly=True, samesite="lax")
    return response


@router.post("/logout")
async def logout(services: ServicesDep, user: UserDep) -> JSONResponse:
    response = JSONResponse({})
    response.delete_cookie(services.settings.auth_cookie_name, httponly=True, samesite="lax")
    return response


@router.get("/me")
async def me(user: UserDep) -> dict[str, str]:
    return {"email": user.email}


@router.get("/api-keys")
async def list_api_keys(services: ServicesDep, user: UserDep) -> list[ApiKeyRead]:
    """The caller's keys. Keys are stored hashed, so the raw key is never shown again."""
    keys = await users.list_api_keys(services.db, user.id)
    return [ApiKeyRead.of(k) for k in keys]


@router.post("/api-keys")
async def create_api_key(
    payload: ApiKeyCreationPayload, services: ServicesDep, user: UserDep
) -> ApiKeyRead:
    key = await users.create_api_key(
        services.db, user.id, payload.name, services.settings.max_api_keys
    )
    return ApiKeyRead.of(key)


@router.delete("/api-keys/{api_key_id}")
async def delete_api_key(api_key_id: uuid.UUID, services: ServicesDep, user: UserDep) -> None:
    await users.delete_api_key(services.db, user.id, api_key_id)
