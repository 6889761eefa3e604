"""The FastAPI application: built from Settings, services opened in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.staticfiles import StaticFiles

from graphmill import __version__
from graphmill.api import errors
from graphmill.api.middleware import BodyLimit, RequestId
from graphmill.config import Settings
from graphmill.search.service import SearchService
from graphmill.services import close_services, open_services

UI = Path(__file__).parent / "ui"  # the web app's build (webapp/), committed


def create_app(settings: Settings) -> FastAPI:
    """The REST API, cognee-compatible under /api/v1."""
    from graphmill.api import (
        add,
        auth,
        cognify,
        datasets,
        health,
        permissions,
        runs,
        search,
        users,
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
        allow_methods=["OPTIONS", "GET", "PUT", "POST", "DELETE"],
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
    app.mount("/ui", StaticFiles(directory=UI, html=True, check_dir=False), name="ui")
    return app
