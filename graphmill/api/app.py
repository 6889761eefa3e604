"""The FastAPI application: built from Settings, services opened in the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from graphmill import __version__
from graphmill.api import errors
from graphmill.api.middleware import RequestId, UploadLimit
from graphmill.auth.tokens import load_jwt_secret
from graphmill.auth.users import UserInfo, ensure_local_user
from graphmill.blobs import BlobStore, open_blob_store
from graphmill.config import Settings
from graphmill.db import Database, migrate
from graphmill.pipelines.executors import Runtime

log = logging.getLogger("graphmill")


@dataclass
class Services:
    """Everything a request handler may use, opened once per process."""

    settings: Settings
    db: Database
    blobs: BlobStore
    jwt_secret: str
    local_user: UserInfo | None
    runtime: Runtime

    @property
    def backends(self) -> dict[str, str]:
        return {
            "database": self.db.backend,
            "blobs": self.blobs.name,
            "executor": self.runtime.mode,
        }


async def open_services(settings: Settings) -> Services:
    """Create the data folder, migrate the store, check every backend; fail loudly."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.sqlalchemy_url)
    try:
        await db.ping()
        await migrate(db, settings.data_dir)
        blobs = open_blob_store(settings)
        await blobs.check()
        local_user = None if settings.require_authentication else await ensure_local_user(db)
        # Embedded: this process executes runs. Distributed: workers do; we only enqueue.
        runtime = Runtime(db, blobs, settings, execute=settings.executor == "local")
        await runtime.start()
    except BaseException:
        await db.dispose()
        raise
    services = Services(settings, db, blobs, load_jwt_secret(settings), local_user, runtime)
    log.info(
        "graphmill ready: database=%s blobs=%s executor=%s auth=%s data_dir=%s",
        db.backend,
        blobs.name,
        runtime.mode,
        "required" if settings.require_authentication else "optional",
        settings.data_dir,
        extra={"action": "startup", **services.backends},
    )
    return services


def create_app(settings: Settings) -> FastAPI:
    """The REST API, cognee-compatible under /api/v1."""
    from graphmill.api import add, auth, cognify, datasets, health, permissions, runs, users

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = await open_services(settings)
        try:
            yield
        finally:
            await app.state.services.runtime.stop()
            await app.state.services.db.dispose()

    app = FastAPI(title="graphmill", version=__version__, lifespan=lifespan)
    errors.install(app)
    app.add_middleware(UploadLimit, max_bytes=settings.max_upload_bytes)
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
    return app
