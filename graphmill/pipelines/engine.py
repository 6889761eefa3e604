"""Executing one run: items in parallel, steps with timeouts and bounded retries.

The same code runs in the API process (embedded) and in `graphmill worker` processes
(distributed); only how a run reaches `execute_run` differs (see `executors`).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import random
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

from graphmill.blobs import BlobStore
from graphmill.config import Settings
from graphmill.db import Database
from graphmill.db.models import RunState
from graphmill.errors import StoreFull, TransientError
from graphmill.logs import bind_log_context, log_context
from graphmill.pipelines import ledger
from graphmill.pipelines.ledger import ItemRef, RunInfo, Usage, Writer

log = logging.getLogger("graphmill.pipelines")

MAX_BACKOFF_SECONDS = 60.0
STAGE_FLUSH_SECONDS = 0.25

# A dropped connection, a deadlock or a serialisation failure in the store is worth a retry.
TRANSIENT = (TransientError, TimeoutError, ConnectionError, OperationalError, DBAPIError)

S = TypeVar("S")


@dataclass
class ItemContext(Generic[S]):
    """What a step sees: the item, the store, and the pipeline's typed per-item state."""

    item: ItemRef
    run: RunInfo
    db: Database
    blobs: BlobStore
    settings: Settings
    attempt: int
    state: S
    usage: Usage = field(default_factory=Usage)
    writers: list[Writer] = field(default_factory=list)
    kept: list[Writer] = field(default_factory=list)
    stage: str | None = None

    def on_commit(self, writer: Writer) -> None:
        """Write outputs in the transaction that marks the item completed."""
        self.writers.append(writer)

    def keep(self, writer: Writer) -> None:
        """Write work already paid for (LLM answers) in the transaction that completes the
        item, or on its own as soon as the attempt ends any other way (a later step fails,
        a retry, a shutdown): one hand-off to the writer fewer per item, nothing lost."""
        self.kept.append(writer)

    async def read_bytes(self) -> bytes:
        chunks = [c async for c in self.blobs.read(self.item.content_hash, 0, self.item.size - 1)]
        return b"".join(chunks)


@dataclass(frozen=True)
class Step(Generic[S]):
    name: str
    run: Callable[[ItemContext[S]], Awaitable[None]]


@dataclass(frozen=True)
class Pipeline(Generic[S]):
    """A pipeline's steps and the empty per-item state they start from (one per attempt)."""

    steps: Sequence[Step[S]]
    new_state: Callable[[], S]


PipelineFactory = Callable[[Any], Pipeline[Any]]


def load_pipeline(path: str) -> PipelineFactory:
    """The pipeline factory at an import path `module:attribute`; it is called with the
    process's tools (whatever the pipeline's module needs, opened once by the services)."""
    module_name, _, attribute = path.partition(":")
    factory = getattr(importlib.import_module(module_name), attribute or "pipeline")
    if not callable(factory):
        raise TypeError(f"{path} is not a function returning a graphmill Pipeline")
    return factory


def error_class_of(exc: BaseException) -> str:
    explicit = getattr(exc, "error_class", None)
    if isinstance(explicit, str) and explicit:
        return explicit
    if isinstance(exc, TimeoutError):
        return "timeout"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


def error_message_of(exc: BaseException) -> str:
    """Never empty: the message, else the class's docstring, else its name."""
    text = str(exc).strip()
    if text:
        return text[:4000]
    doc = (type(exc).__doc__ or "").strip().splitlines()
    return doc[0] if doc else type(exc).__name__


def _cause(exc: BaseException) -> BaseException:
    """What to report for a run that broke: a full store among a task group's errors (every
    item stopped for it), else the first of them."""
    if isinstance(exc, BaseExceptionGroup):
        full = exc.subgroup(StoreFull)
        return _cause((full or exc).exceptions[0])
    return exc


def backoff(attempt: int, base: float) -> float:
    """Exponential backoff with full jitter, capped."""
    return random.uniform(0, min(MAX_BACKOFF_SECONDS, base * 2 ** (attempt - 1)))


class RunExecutor:
    """Executes runs claimed under this process's lease owner id."""

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        settings: Settings,
        pipelines: dict[str, Pipeline[Any]],
        owner: str,
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.settings = settings
        self.pipelines = pipelines
        self.owner = owner
        self.running: dict[uuid.UUID, asyncio.Task[None]] = {}
        # Items' current steps, written in batches (STAGE_FLUSH_SECONDS): a transaction per
        # step per item would cost more than the steps themselves on a single writer.
        self._stages: dict[tuple[uuid.UUID, uuid.UUID], tuple[RunInfo, uuid.UUID, str]] = {}
        self.item_slots = asyncio.Semaphore(settings.item_concurrency)
        # Runs an item of which found the store full: they start no more items (each would
        # do, and pay for, all its work only to fail at its commit) and end failed with it.
        self._store_full: dict[uuid.UUID, StoreFull] = {}

    async def execute_run(self, run_id: uuid.UUID) -> None:
        """Claim the run if it is free and process its pending items; a no-op otherwise."""
        try:
            run = await ledger.claim_run(self.db, run_id, self.owner, self.settings.lease_seconds)
        except StoreFull as exc:
            # Its items cannot even be listed: end it explained, rather than leave it queued
            # and claimed again at every janitor pass. Should not even that fit, it stays
            # queued and ends at the first pass that can record it.
            log.error("run could not start", extra={"action": "run.fail", "run_id": str(run_id)})
            await ledger.fail_unclaimed_run(
                self.db, run_id, error_class_of(exc), error_message_of(exc)
            )
            return
        if run is None:
            return
        task = asyncio.current_task()
        assert task is not None
        self.running[run.id] = task
        # Every line about this run carries its ids; not the id of the request that queued it.
        with log_context(
            run_id=run.id,
            dataset_id=run.dataset_id,
            pipeline=run.pipeline_name,
            request_id=None,
        ):
            log.info("run started", extra={"action": "run.start"})
            try:
                await self._run_items(run)
            except asyncio.CancelledError:
                # Shutting down (or the lease was lost): hand the run back at once rather
                # than let its lease run out; a no-op when it is no longer ours.
                await asyncio.shield(ledger.release_run(self.db, run.id, self.owner))
                raise
            except Exception as exc:
                # Not an item's failure (those are recorded per item): the engine or the store
                # broke. Fail the run with the reason rather than leave it to be retried forever.
                log.exception("run failed", extra={"action": "run.fail"})
                await self._fail_run(run, _cause(exc))
            finally:
                self.running.pop(run.id, None)
                self._store_full.pop(run.id, None)

    async def _fail_run(self, run: RunInfo, exc: BaseException) -> None:
        """Record the run's failure. On a store so full that not even that fits, try again
        every heartbeat, still holding the lease: the run ends explained as soon as one row
        can be changed (or, the lease lost, whoever took the run over ends it)."""
        while True:
            try:
                await ledger.fail_run(
                    self.db, run, self.owner, error_class_of(exc), error_message_of(exc)
                )
                return
            except StoreFull:
                log.warning(
                    "run failure not recorded yet: the store is full",
                    extra={"action": "run.fail_deferred"},
                )
                await asyncio.sleep(self.settings.heartbeat_seconds)

    async def _flush_stages(self) -> None:
        while True:
            await asyncio.sleep(STAGE_FLUSH_SECONDS)
            pending, self._stages = list(self._stages.values()), {}
            try:
                await ledger.set_stages(self.db, pending)
            except Exception:
                # Progress display only; the item's real state is written by its own steps.
                log.warning("stage update failed", exc_info=True, extra={"action": "stage"})

    async def _run_items(self, run: RunInfo) -> None:
        pipeline = self.pipelines[run.pipeline_name]
        flusher = asyncio.create_task(self._flush_stages())
        try:
            await self._run_item_batches(run, pipeline)
        finally:
            flusher.cancel()

    async def _run_item_batches(self, run: RunInfo, pipeline: Pipeline[Any]) -> None:
        # cognee's data_per_batch: a batch of that many items, all finished before the next.
        batch = run.data_per_batch or 200
        while True:
            while items := await ledger.pending_items(self.db, run.id, limit=batch):
                async with asyncio.TaskGroup() as group:
                    for item in items:
                        group.create_task(self._process(run, pipeline, item))
                if (full := self._store_full.pop(run.id, None)) is not None:
                    raise full  # the run ends failed with it; unstarted items stay pending
                if not await self._still_ours(run):
                    break  # cancelled or lease lost: stop taking new items
            finished = await ledger.finish_run(self.db, run, self.owner)
            if finished is not None:
                log.info("run finished", extra={"action": "run.finish", "state": finished.state})
                return
            # Not finished: either no longer ours, or data added meanwhile became this run's
            # pending work (finish_run took it in), which the next round processes.
            if not await self._still_ours(run) or not await ledger.pending_items(
                self.db, run.id, limit=1
            ):
                return

    async def _still_ours(self, run: RunInfo) -> bool:
        current = await ledger.get_run(self.db, run.id)
        return (
            current is not None
            and current.state == RunState.RUNNING
            and current.lease_owner == self.owner
        )

    async def _process(self, run: RunInfo, pipeline: Pipeline[Any], item: ItemRef) -> None:
        with log_context(data_id=item.data_id):
            await self._process_item(run, pipeline, item)

    async def _process_item(self, run: RunInfo, pipeline: Pipeline[Any], item: ItemRef) -> None:
        async with self.item_slots:
            if run.id in self._store_full:
                return  # left pending for the next run, once there is room
            attempt = await ledger.start_item(self.db, run, self.owner, item.data_id)
            if attempt is None:
                return  # cancelled, taken over, or no longer ours
            try:
                await self._attempts(run, pipeline, item, attempt)
                self._stages.pop((run.id, item.data_id), None)
            except asyncio.CancelledError:
                # Shutting down or lease lost: the item is unfinished, not failed.
                await asyncio.shield(ledger.release_item(self.db, run, item.data_id))
                raise

    async def _attempts(
        self, run: RunInfo, pipeline: Pipeline[Any], item: ItemRef, attempt: int
    ) -> None:
        usage = Usage()  # over all attempts: a retried attempt's calls were paid for too
        while True:
            ctx = ItemContext(
                item, run, self.db, self.blobs, self.settings, attempt, pipeline.new_state(), usage
            )
            try:
                for step in pipeline.steps:
                    ctx.stage = step.name
                    # Bound, not scoped: a failure's line still names the step it failed in.
                    bind_log_context(stage=step.name)
                    self._stages[(run.id, item.data_id)] = (run, item.data_id, step.name)
                    async with asyncio.timeout(self.settings.step_timeout_seconds):
                        await step.run(ctx)
                    # A step that did not wait held the event loop for all its work: let the
                    # requests that arrived meanwhile be answered before the next one.
                    await asyncio.sleep(0)
                writers = [*ctx.kept, *ctx.writers]
                if await ledger.complete_item(self.db, run, item.data_id, ctx.usage, writers):
                    ctx.kept.clear()
            except TRANSIENT as exc:
                await self._write_kept(ctx)
                if attempt >= self.settings.max_attempts:
                    await self._fail(ctx, exc)
                    return
                await asyncio.sleep(backoff(attempt, self.settings.retry_base_seconds))
                attempt += 1
                await ledger.set_stage(self.db, run, item.data_id, "retrying", attempt)
                continue
            except asyncio.CancelledError:
                await asyncio.shield(self._write_kept(ctx))
                raise
            except Exception as exc:
                if isinstance(exc, StoreFull):
                    self._store_full.setdefault(run.id, exc)
                await self._write_kept(ctx)
                await self._fail(ctx, exc)
                return
            await self._write_kept(ctx)  # not completed by us: no longer this run's item
            return

    async def _write_kept(self, ctx: ItemContext[Any]) -> None:
        """An attempt's paid work, when its completion did not write it."""
        writers, ctx.kept = ctx.kept, []
        if not writers:
            return
        try:
            await self.db.run(lambda conn: [write(conn) for write in writers])
        except Exception:
            log.warning("paid work not kept", exc_info=True, extra={"action": "item.keep"})

    async def _fail(self, ctx: ItemContext[Any], exc: Exception) -> None:
        error_class, message = error_class_of(exc), error_message_of(exc)
        log.warning(
            "item failed: %s: %s",
            error_class,
            message,
            extra={"action": "item.fail", "error_class": error_class},
        )
        await ledger.fail_item(
            self.db, ctx.run, ctx.item.data_id, error_class, message, ctx.usage, ctx.stage
        )

    def cancel_lost(self, kept: set[uuid.UUID]) -> None:
        """Stop working on runs whose lease this process no longer holds."""
        for run_id, task in list(self.running.items()):
            if run_id not in kept:
                log.warning("lease lost", extra={"action": "run.lease_lost", "run_id": str(run_id)})
                task.cancel()
