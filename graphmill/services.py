"""The services one graphmill process opens: store, blobs, secrets, pipeline runtime."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from dataclasses import dataclass, field
from functools import partial

from graphmill.auth import audit
from graphmill.auth.tokens import TokenReader, load_jwt_secret
from graphmill.auth.users import UserCache, UserInfo, ensure_local_user
from graphmill.blobs import BlobStore, open_blob_store
from graphmill.blobs.base import sweep_staging
from graphmill.catalog.data import sweep_unused_blobs
from graphmill.cognify.tools import Tools, open_tools
from graphmill.config import Settings
from graphmill.db import Database, migrate, reserve
from graphmill.pipelines.engine import load_pipeline
from graphmill.pipelines.executors import PipelineChild, Runtime, every
from graphmill.pipelines.ledger import COGNIFY_PIPELINE, MEMIFY_PIPELINE

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
    tools: Tools
    tokens: TokenReader
    janitor: asyncio.Task[None] | None = field(default=None, repr=False)

    def require_embedder(self) -> None:
        """EmbeddingModelMissing (naming the install command) when this process executes
        runs and the default embedding model is not installed; workers check their own."""
        if self.runtime.runs_here:
            self.tools.require_embedder()

    @property
    def backends(self) -> dict[str, str]:
        return {
            "database": self.db.backend,
            "blobs": self.blobs.name,
            "executor": self.runtime.mode,
        }


async def open_services(
    settings: Settings, role: str = "api", *, pipeline_process: bool = False
) -> Services:
    """Create the data folder, migrate the store, check every backend; fail loudly.

    An API process executes runs itself when embedded, or has its pipeline process do it
    (`pipeline_process`: for `graphmill serve` with GRAPHMILL_PIPELINE_PROCESS on); a
    worker always executes them; a "client" (a CLI command or Python API call that only reads
    or adds) never does. A missing default embedding model does not stop start-up: cognify
    and search name the fix.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.sqlalchemy_url, settings.sqlite_max_bytes)
    tools = open_tools(settings)
    try:
        await db.ping()
        await migrate(db, settings.data_dir)
        await reserve.keep(db, settings.store_reserve_bytes)
        blobs = open_blob_store(settings)
        await blobs.check()
        local_user = None if settings.require_authentication else await ensure_local_user(db)
        # Embedded: this process executes runs, or its pipeline process does. Distributed:
        # workers do; we only enqueue.
        embedded = role == "api" and settings.executor == "local"
        child = PipelineChild(settings) if embedded and pipeline_process else None
        executes = role == "worker" or (embedded and child is None)
        pipelines = (
            {
                COGNIFY_PIPELINE: load_pipeline(settings.cognify_steps)(tools),
                MEMIFY_PIPELINE: load_pipeline(settings.improve_steps)(tools),
            }
            if executes
            else None
        )
        runtime = Runtime(db, blobs, settings, pipelines, child)
        await runtime.start()
    except BaseException:
        await tools.aclose()
        await db.dispose()
        raise
    secret = load_jwt_secret(settings)
    services = Services(
        settings,
        db,
        blobs,
        secret,
        local_user,
        runtime,
        UserCache(db),
        tools,
        TokenReader(secret),
    )
    services.janitor = asyncio.create_task(
        every(lambda: SWEEP_SECONDS, partial(sweep, services), "sweep")
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


# How often a process looks for leftovers of killed processes (after start-up, at once).
SWEEP_SECONDS = 600.0


async def sweep(services: Services) -> None:
    """One pass of the janitor: remove what killed processes left (staged uploads cut off
    mid-body, objects whose add or delete never finished: recorded, used by no item), take
    the store's reserve again if a run's end gave it up, and delete audit events past their
    retention. Failures are logged and retried at the next pass; a pass never stops the
    process, and one part failing does not skip the others."""
    db, blobs = services.db, services.blobs
    try:
        await asyncio.to_thread(sweep_staging, blobs.staging_root)
        found = await sweep_unused_blobs(db, blobs)
        if found:
            log.warning(
                "collected %d objects no data item uses (an add or delete cut off)",
                found,
                extra={"action": "blob.sweep"},
            )
    except Exception:
        log.exception("sweep failed; retried later", extra={"action": "blob.sweep"})
    try:
        await reserve.keep(db, services.settings.store_reserve_bytes)  # given up meanwhile
    except Exception:
        log.exception("store reserve not taken; retried later", extra={"action": "reserve"})
    try:
        pruned = await audit.prune(db, services.settings.audit_retention_days)
        if pruned:
            log.info("deleted %d expired audit events", pruned, extra={"action": "audit.prune"})
    except Exception:
        log.exception("audit pruning failed; retried later", extra={"action": "audit.prune"})


def freeze_startup_heap() -> None:
    """For a server process once its services are open: collect what start-up left as
    garbage, then move every object still alive (modules, models, compiled statements: ~175k
    objects) out of the garbage collector's sight. A full collection then walks only what
    the work creates (~0.1 ms instead of tens of ms, every so often, holding the event loop
    and every request behind it). Those objects live as long as the process anyway."""
    gc.collect()
    gc.freeze()


async def close_services(services: Services) -> None:
    if services.janitor is not None:
        services.janitor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await services.janitor
    await services.runtime.stop()
    await services.tools.aclose()
    await services.db.dispose()
    services.blobs.close()
