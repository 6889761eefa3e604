"""The services one graphmill process opens: store, blobs, secrets, pipeline runtime."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from graphmill.auth.tokens import load_jwt_secret
from graphmill.auth.users import UserCache, UserInfo, ensure_local_user
from graphmill.blobs import BlobStore, open_blob_store
from graphmill.cognify.embedders import find_model_dir, open_embedder
from graphmill.config import Settings
from graphmill.db import Database, migrate
from graphmill.errors import EmbeddingModelMissing
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
    users: UserCache

    @property
    def backends(self) -> dict[str, str]:
        return {
            "database": self.db.backend,
            "blobs": self.blobs.name,
            "executor": self.runtime.mode,
        }


async def open_services(settings: Settings, role: str = "api") -> Services:
    """Create the data folder, migrate the store, check every backend; fail loudly.

    An API process executes runs itself when embedded; a worker always does.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.sqlalchemy_url)
    try:
        await db.ping()
        await migrate(db, settings.data_dir)
        blobs = open_blob_store(settings)
        await blobs.check()
        if role == "worker" or settings.executor == "local":
            # Cognify needs the local model's tokenizer (and, by default, its weights):
            # refuse to start without it, naming the fix, rather than fail every item later.
            open_embedder(settings)
            if find_model_dir() is None:
                raise EmbeddingModelMissing()
        local_user = None if settings.require_authentication else await ensure_local_user(db)
        # Embedded: this process executes runs. Distributed: workers do; we only enqueue.
        runtime = Runtime(
            db, blobs, settings, execute=role == "worker" or settings.executor == "local"
        )
        await runtime.start()
    except BaseException:
        await db.dispose()
        raise
    services = Services(
        settings, db, blobs, load_jwt_secret(settings), local_user, runtime, UserCache(db)
    )
    log.info(
        "graphmill %s ready: database=%s blobs=%s executor=%s auth=%s data_dir=%s",
        role,
        db.backend,
        blobs.name,
        runtime.mode,
        "required" if settings.require_authentication else "optional",
        settings.data_dir,
        extra={"action": "startup", **services.backends},
    )
    return services


async def close_services(services: Services) -> None:
    await services.runtime.stop()
    await services.db.dispose()
