"""Typed dependencies: the services, and the caller, each resolved once per request."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Request

from graphmill.auth.teams import member_tenant
from graphmill.auth.users import UserInfo, user_for_api_key
from graphmill.errors import Unauthorized
from graphmill.services import Services


async def get_services(request: Request) -> Services:
    # async: FastAPI runs a plain `def` dependency in a worker thread, a hop per request.
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def _credentialed_user(request: Request, services: Services) -> UserInfo | None:
    """The user named by an API key, a Bearer token or the login cookie, in that order.

    None when no credential is presented; Unauthorized when some are and none is valid.
    """
    api_key = request.headers.get("x-api-key")
    if api_key:
        user = await user_for_api_key(services.db, api_key)
        if user is not None:
            return user
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    bearer = credential.strip() if scheme.lower() == "bearer" else None
    cookie = request.cookies.get(services.settings.auth_cookie_name)
    # Each is tried in turn, as cognee's backends: a stale Bearer does not hide a valid cookie.
    for token, credential in ((bearer, "token"), (cookie, "cookie")):
        user_id = services.tokens.read(token) if token else None
        user = await services.users.get(user_id) if user_id is not None else None
        if user is not None:
            return replace(user, credential=credential)
    if api_key or bearer or cookie:
        raise Unauthorized()
    return None


async def current_user(request: Request, services: ServicesDep) -> UserInfo:
    """The caller; the local user when authentication is off and no credential is presented.

    A presented credential that is invalid or expired is refused even then: falling back
    would let an expired token write as the local user, whose data every caller sees.
    `X-Tenant-Id` makes the request work in another of the caller's tenants (404 if the
    caller is not a member); without it, the caller works in the tenant they selected.
    """
    user = await _credentialed_user(request, services)
    if user is None and services.local_user is not None:
        user = await services.users.get(services.local_user.id)
    if user is None:
        raise Unauthorized()
    tenant_header = request.headers.get("x-tenant-id")
    if tenant_header is not None:
        user = replace(user, tenant_id=await member_tenant(services.db, user.id, tenant_header))
    return user


UserDep = Annotated[UserInfo, Depends(current_user)]
