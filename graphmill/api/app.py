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
from graphmill.services import close_services, freeze_startup_heap, open_services

UI = Path(__file__).parent / "ui"  # the web app's build (webapp/), committed


def create_app(settings: Settings, *, standalone: bool = False) -> FastAPI:
    """The REST API, cognee-compatible under /api/v1. `standalone`: for a process that
    serves only this app (`graphmill serve`): `services.freeze_startup_heap` once open, and
    its pipelines in a process of their own when GRAPHMILL_PIPELINE_PROCESS is on (local
    executor)."""
    from graphmill.api import (
        activity,
        add,
        audit,
        auth,
        cognify,
        configuration,
        datasets,
        health,
        memory,
        ontologies,
        permissions,
        runs,
        schema,
        search,
        sessions,
        users,
        visualize,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = app.state.services = await open_services(
            settings, pipeline_process=standalone and settings.pipeline_process
        )
        app.state.search = SearchService(services.db, services.tools, settings)
        if standalone:
            freeze_startup_heap()
        try:
            yield
        finally:
            await app.state.search.close()
            await close_services(app.state.services)

    app = FastAPI(title="graphmill", version=__version__, lifespan=lifespan)
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    origins = [o.strip() for o in settings.cors_allowed_origins.split(",") if o.strip()]
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        # With "*" Starlette would echo any origin back with credentials allowed: any site
        # could then call the API with a visitor's login cookie. "*" means without cookies.
        allow_credentials="*" not in origins,
        allow_methods=["OPTIONS", "GET", "PUT", "PATCH", "POST", "DELETE"],
        allow_headers=["*"],
    )
    app.add_middleware(RequestId)
    app.include_router(health.router)
    routers = [
        (auth.router, "/api/v1/auth", "auth", (409,)),
        (users.router, "/api/v1/users", "users", ()),
        (add.router, "/api/v1/add", "add", (409, 415)),
        (cognify.router, "/api/v1/cognify", "cognify", (409, 503)),
        (datasets.router, "/api/v1/datasets", "datasets", (409, 416)),
        (runs.router, "/api/v1/runs", "runs", (409,)),
        (permissions.router, "/api/v1/permissions", "permissions", (409,)),
        (search.router, "/api/v1/search", "search", (502, 503)),
        (memory.router, "/api/v1", "memory", (409, 415, 422, 502, 503)),
        (sessions.router, "/api/v1/sessions", "sessions", ()),
        (visualize.router, "/api/v1/visualize", "visualize", ()),
        (schema.router, "/api/v1/schema", "schema", ()),
        (configuration.router, "/api/v1/configuration", "configuration", ()),
        (ontologies.router, "/api/v1/ontologies", "ontologies", ()),
        (activity.router, "/api/v1/activity", "activity", ()),
        (audit.router, "/api/v1/audit", "audit", ()),
    ]
    for router, prefix, tag, statuses in routers:
        app.include_router(router, prefix=prefix, tags=[tag], responses=errors.responses(*statuses))
    app.mount("/ui", StaticFiles(directory=UI, html=True, check_dir=False), name="ui")
    return app
