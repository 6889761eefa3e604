"""The FastAPI application: built from Settings, services opened in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from graphmill import __version__
from graphmill.api import errors
from graphmill.api.middleware import BodyLimit, RequestId
from graphmill.config import Settings
from graphmill.search.service import SearchService
from graphmill.services import close_services, open_services


def create_app(settings: Settings) -> FastAPI:
    """The REST API, cognee-compatible under /api/v1."""
    from graphmill.api import (
        add,
        auth,
        cognify,
        datasets,
        health,
        memory,
        permissions,
        runs,
        search,
        sessions,
        users,
        visualize,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = app.state.services = await open_services(settings)
        app.state.search = SearchService(services.db, services.tools, settings)
        try:
            yield
        finally:
            await app.state.search.close()
            await close_services(app.state.services)

    app = FastAPI(title="graphmill", version=__version__, lifespan=lifespan)
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[o.strip() for o in settings.cors_allowed_origins.split(",") if o.strip()],
        allow_credentials=True,
        allow_methods=["OPTIONS", "GET", "PUT", "PATCH", "POST", "DELETE"],
        allow_headers=["*"],
    )
    app.add_middleware(RequestId)
    app.include_router(health.router)
    app.include_router(auth.router, prefix="/api/v1/auth", tags=["auth"])
    app.include_router(users.router, prefix="/api/v1/users", tags=["users"])
    app.include_router(add.router, prefix="/api/v1/add", tags=["add"])
    app.include_router(cognify.router, prefix="/api/v1/cognify", tags=["cognify"])
    app.include_router(datasets.router, prefix="/api/v1/datasets", tags=["datasets"])
    app.include_router(runs.router, prefix="/api/v1/runs", tags=["runs"])
    app.include_router(permissions.router, prefix="/api/v1/permissions", tags=["permissions"])
    app.include_router(search.router, prefix="/api/v1/search", tags=["search"])
    app.include_router(memory.router, prefix="/api/v1", tags=["memory"])
    app.include_router(sessions.router, prefix="/api/v1/sessions", tags=["sessions"])
    app.include_router(visualize.router, prefix="/api/v1/visualize", tags=["visualize"])
    return app
