"""Typed dependencies: the services, and the caller, each resolved once per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from graphmill.auth.users import UserInfo, user_for_api_key
from graphmill.errors import Unauthorized
from graphmill.services import Services


async def get_services(request: Request) -> Services:
    # async: FastAPI runs a plain `def` dependency in a worker thread, a hop per request.
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def _credentialed_user(request: Request, services: Services) -> UserInfo | None:
    """The user named by an API key, a Bearer token or the login cookie, in that order."""
    api_key = request.headers.get("x-api-key")
    if api_key:
        user = await user_for_api_key(services.db, api_key)
        if user is not None:
            return user
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    bearer = credential.strip() if scheme.lower() == "bearer" else None
    # Each is tried in turn, as cognee's backends: a stale Bearer does not hide a valid cookie.
    for token in (bearer, request.cookies.get(services.settings.auth_cookie_name)):
        user_id = services.tokens.read(token) if token else None
        user = await services.users.get(user_id) if user_id is not None else None
        if user is not None:
            return user
    return None


async def current_user(request: Request, services: ServicesDep) -> UserInfo:
    """The caller; the local user when authentication is off and no credential is valid."""
    user = await _credentialed_user(request, services)
    if user is not None:
        return user
    if services.local_user is not None:
        return services.local_user
    raise Unauthorized()


async def credentialed_user(request: Request, services: ServicesDep) -> UserInfo:
    """The caller, who must present a valid credential even when authentication is off."""
    user = await _credentialed_user(request, services)
    if user is None:
        raise Unauthorized()
    return user


UserDep = Annotated[UserInfo, Depends(current_user)]
CredentialedUserDep = Annotated[UserInfo, Depends(credentialed_user)]
