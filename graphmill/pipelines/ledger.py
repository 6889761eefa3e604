"""The pipeline ledger: runs, per-item states, and the compatible status view.

Every state change takes the dataset's lock first and is retried whole when the store
reports a deadlock or serialisation failure (`db.retrying`)."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    String,
    Text,
    Uuid,
    and_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from graphmill.db import Database, reserve, retrying
from graphmill.db.engine import bind_ids, dialect_insert, in_ids, lock_dataset, lock_dataset_in
from graphmill.db.models import (
    ACTIVE_RUN_STATES,
    Data,
    ItemState,
    ItemStatus,
    PipelineRun,
    RunState,
    utcnow,
)
from graphmill.errors import RunNotFound, StoreFull
from graphmill.pipelines.events import emit, emit_in

ADD_PIPELINE = "add_pipeline"
COGNIFY_PIPELINE = "cognify_pipeline"
# improve's run over a dataset's items (cognee names its improve runs so).
MEMIFY_PIPELINE = "memify_pipeline"
PIPELINES = (ADD_PIPELINE, COGNIFY_PIPELINE, MEMIFY_PIPELINE)


async def record_completed_run(
    session: AsyncSession,
    dataset_id: uuid.UUID,
    pipeline_name: str,
    requested_by: uuid.UUID,
    *,
    completed: Sequence[uuid.UUID],
    skipped: Sequence[uuid.UUID],
) -> PipelineRun:
    """Log a run that finished inside the caller's transaction, with its items' states."""
    now = utcnow()
    run = PipelineRun(
        dataset_id=dataset_id,
        pipeline_name=pipeline_name,
        state=RunState.COMPLETED,
        created_at=now,
        started_at=now,
        updated_at=now,
        finished_at=now,
        total=len(completed) + len(skipped),
        completed=len(completed),
        skipped=len(skipped),
        requested_by=requested_by,
    )
    session.add(run)
    await session.flush()
    if completed:
        # Items are new rows of this request (their data rows were just inserted): one
        # executemany of one compiled statement. (A multi-row VALUES is compiled anew for
        # every row count: 35 ms of the event loop for 100 rows.)
        await session.execute(
            dialect_insert(session)(ItemStatus).on_conflict_do_nothing(),
            [
                {
                    "data_id": data_id,
                    "pipeline_name": pipeline_name,
                    "run_id": run.id,
                    "state": ItemState.COMPLETED,
                    "stage": "stored",
                    "attempts": 1,
                    "updated_at": now,
                }
                for data_id in completed
            ],
        )
    return run


async def mark_pending(session: AsyncSession, dataset_id: uuid.UUID, pipeline_name: str) -> None:
    """Queue a run marker when the pipeline has run on the dataset and none is active now.

    cognee shows `DATASET_PROCESSING_INITIATED` for cognify after new data is added; a
    queued run is that marker, and the next cognify request picks it up.
    """
    latest = await session.scalar(select(latest_run(dataset_id, pipeline_name)))
    if latest is None or latest in ACTIVE_RUN_STATES:
        return
    now = utcnow()
    session.add(
        PipelineRun(
            dataset_id=dataset_id,
            pipeline_name=pipeline_name,
            state=RunState.QUEUED,
            created_at=now,
            updated_at=now,
        )
    )


async def _lock_run_dataset(session: AsyncSession, run_id: uuid.UUID) -> None:
    """The run's dataset lock, taken before any row of it (one lock order everywhere)."""
    if session.get_bind().dialect.name == "postgresql":
        dataset_id = await session.scalar(
            select(PipelineRun.dataset_id).where(PipelineRun.id == run_id)
        )
        if dataset_id is not None:
            await lock_dataset(session, dataset_id)


def latest_run(
    dataset_id: uuid.UUID | ColumnElement[Any],
    pipeline_name: str,
    column: Any = PipelineRun.state,
) -> Any:
    """A column of the latest run of a pipeline on a dataset (or on each dataset a correlated
    query names): the one definition of "latest", one probe of ix_pipeline_runs_latest."""
    return (
        select(column)
        .where(PipelineRun.dataset_id == dataset_id, PipelineRun.pipeline_name == pipeline_name)
        .order_by(PipelineRun.created_at.desc())
        .limit(1)
        .scalar_subquery()
    )


@dataclass(frozen=True)
class RunInfo:
    id: uuid.UUID
    dataset_id: uuid.UUID
    pipeline_name: str
    state: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    total: int
    completed: int
    failed: int
    skipped: int
    tokens_in: int
    tokens_out: int
    llm_calls: int
    error_class: str | None
    error_message: str | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    data_per_batch: int | None = None

    @classmethod
    def of(cls, r: PipelineRun) -> RunInfo:
        return cls(
            r.id,
            r.dataset_id,
            r.pipeline_name,
            r.state,
            r.created_at,
            r.started_at,
            r.finished_at,
            r.updated_at,
            r.total,
            r.completed,
            r.failed,
            r.skipped,
            r.tokens_in,
            r.tokens_out,
            r.llm_calls,
            r.error_class,
            r.error_message,
            r.lease_owner,
            r.lease_expires_at,
            r.data_per_batch,
        )

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_RUN_STATES


@dataclass(frozen=True)
class ItemRef:
    """A data item as a pipeline step sees it."""

    data_id: uuid.UUID
    dataset_id: uuid.UUID
    content_hash: str
    name: str
    extension: str
    mime_type: str
    size: int


@dataclass
class Usage:
    tokens_in: int = 0
    tokens_out: int = 0
    llm_calls: int = 0


def _active(dataset_id: uuid.UUID, pipeline_name: str) -> Any:
    return (
        PipelineRun.dataset_id == dataset_id,
        PipelineRun.pipeline_name == pipeline_name,
        PipelineRun.state.in_(ACTIVE_RUN_STATES),
    )


@retrying()
async def request_run(
    db: Database,
    dataset_id: uuid.UUID,
    pipeline_name: str,
    user_id: uuid.UUID,
    data_per_batch: int | None = None,
) -> tuple[RunInfo, bool]:
    """The dataset's active run of the pipeline, or a new queued one; (run, created).

    The database allows one queued-or-running run per (dataset, pipeline), so concurrent
    requests from any number of processes end up sharing one run. `data_per_batch` (items
    taken at a time) is the run's; a request joining a queued run sets it, a started run
    keeps its own.
    """
    now = utcnow()
    for _ in range(5):
        async with db.write() as session:
            await lock_dataset(session, dataset_id)
            # add's "new data waiting" marker becomes a real request.
            await session.execute(
                update(PipelineRun)
                .where(*_active(dataset_id, pipeline_name), PipelineRun.requested_at.is_(None))
                .values(requested_at=now, requested_by=user_id, updated_at=now)
            )
            if data_per_batch is not None:  # an executor reads it when it claims the run
                await session.execute(
                    update(PipelineRun)
                    .where(*_active(dataset_id, pipeline_name))
                    .where(PipelineRun.state == RunState.QUEUED)
                    .values(data_per_batch=data_per_batch)
                )
            active = await session.scalar(
                select(PipelineRun).where(*_active(dataset_id, pipeline_name))
            )
            if active is not None:
                return RunInfo.of(active), False
            run = PipelineRun(
                dataset_id=dataset_id,
                pipeline_name=pipeline_name,
                state=RunState.QUEUED,
                created_at=now,
                updated_at=now,
                requested_at=now,
                requested_by=user_id,
                data_per_batch=data_per_batch,
            )
            try:
                async with session.begin_nested():
                    session.add(run)
                    await session.flush()
            except IntegrityError:
                continue  # another process queued one first: join it
            await emit(session, dataset_id, run.id, "run", RunState.QUEUED)
            return RunInfo.of(run), True
    raise RuntimeError("could not queue or join a run")  # pragma: no cover


async def get_run(db: Database, run_id: uuid.UUID) -> RunInfo | None:
    async with db.read() as session:
        run = await session.get(PipelineRun, run_id)
        return RunInfo.of(run) if run is not None else None


async def list_runs(db: Database, dataset_id: uuid.UUID, limit: int = 100) -> list[RunInfo]:
    async with db.read() as session:
        rows = await session.scalars(
            select(PipelineRun)
            .where(PipelineRun.dataset_id == dataset_id)
            .order_by(PipelineRun.created_at.desc())
            .limit(limit)
        )
        return [RunInfo.of(r) for r in rows]


@retrying()
async def claim_run(
    db: Database, run_id: uuid.UUID, owner: str, lease_seconds: float
) -> RunInfo | None:
    """Take a queued, requested run under a lease and enumerate its items; None if taken.

    Items completed for their current content are skipped; every other item is pending.
    """
    now = utcnow()
    async with db.write() as session:
        await _lock_run_dataset(session, run_id)
        run = await session.scalar(
            update(PipelineRun)
            .where(
                PipelineRun.id == run_id,
                PipelineRun.state == RunState.QUEUED,
                PipelineRun.requested_at.is_not(None),
            )
            .values(
                state=RunState.RUNNING,
                lease_owner=owner,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                started_at=func.coalesce(PipelineRun.started_at, now),
                updated_at=now,
            )
            .returning(PipelineRun)
        )
        if run is None:
            return None
        await _enumerate_items(session, run, now)
        await emit(session, run.dataset_id, run.id, "run", RunState.RUNNING, owner=owner)
        return RunInfo.of(run)


@dataclass(frozen=True)
class _ItemSets:
    """Which items of a run's dataset are its work: the predicates claim and finish share."""

    dataset_items: Select[Any]
    has_state: ColumnElement[bool]
    current_hash: Any
    outstanding: ColumnElement[bool]

    @classmethod
    def of(cls, run: PipelineRun | RunInfo) -> _ItemSets:
        pipeline = run.pipeline_name
        has_state = exists().where(
            ItemStatus.data_id == Data.id, ItemStatus.pipeline_name == pipeline
        )
        current_hash = (
            select(Data.content_hash).where(Data.id == ItemStatus.data_id).scalar_subquery()
        )
        done_for_content = and_(
            ItemStatus.state == ItemState.COMPLETED,
            func.coalesce(ItemStatus.content_hash, "") == current_hash,
        )
        failed_here = and_(ItemStatus.run_id == run.id, ItemStatus.state == ItemState.FAILED)
        dataset_items = select(Data.id).where(Data.dataset_id == run.dataset_id)
        return cls(
            dataset_items=dataset_items,
            has_state=has_state,
            current_hash=current_hash,
            outstanding=and_(
                ItemStatus.pipeline_name == pipeline,
                ItemStatus.data_id.in_(dataset_items),
                ~done_for_content,
                ~failed_here,
            ),
        )

    def new_work(self, run: PipelineRun | RunInfo) -> Select[Any]:
        """Whether the dataset holds work this run has not taken: items added (or replaced)
        since it enumerated its items."""
        never_seen = exists().where(Data.dataset_id == run.dataset_id, ~self.has_state)
        not_taken = exists().where(
            self.outstanding,
            ItemStatus.state.not_in((ItemState.PENDING, ItemState.PROCESSING)),
        )
        return select(or_(never_seen, not_taken))


async def _enumerate_items(session: AsyncSession, run: PipelineRun, now: datetime) -> None:
    """Make every item of the dataset this run's pending work, but those completed for their
    current content (skipped) and those that failed in this very run before it was recovered
    (they stay failed); then set the run's counts. Three set-based statements."""
    pipeline = run.pipeline_name
    items = _ItemSets.of(run)
    dataset_items, has_state = items.dataset_items, items.has_state
    await session.execute(
        insert(ItemStatus).from_select(
            [
                "data_id",
                "pipeline_name",
                "run_id",
                "state",
                "content_hash",
                "attempts",
                "updated_at",
            ],
            select(
                Data.id,
                literal(pipeline),
                literal(run.id),
                literal(ItemState.PENDING.value),
                Data.content_hash,
                literal(0),
                literal(now),
            ).where(Data.dataset_id == run.dataset_id, ~has_state),
        )
    )
    current_hash = items.current_hash
    await session.execute(
        update(ItemStatus)
        .where(items.outstanding)
        .values(
            attempts=case((ItemStatus.run_id == run.id, ItemStatus.attempts), else_=0),
            run_id=run.id,
            state=ItemState.PENDING,
            content_hash=current_hash,
            stage=None,
            error_class=None,
            error_message=None,
            changes=None,  # what an earlier run's completion changed is that run's
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    this_run = ItemStatus.run_id == run.id
    completed = ItemStatus.state == ItemState.COMPLETED
    counts = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(completed, this_run),
                func.count().filter(completed, ~this_run),
                func.count().filter(ItemStatus.state == ItemState.FAILED, this_run),
            ).where(ItemStatus.pipeline_name == pipeline, ItemStatus.data_id.in_(dataset_items))
        )
    ).one()
    run.total, run.completed, run.skipped, run.failed = counts
    await session.execute(
        update(PipelineRun)
        .where(PipelineRun.id == run.id)
        .values(total=counts[0], completed=counts[1], skipped=counts[2], failed=counts[3])
        .execution_options(synchronize_session=False)
    )


_PENDING = (
    select(
        Data.id,
        Data.dataset_id,
        Data.content_hash,
        Data.name,
        Data.extension,
        Data.mime_type,
        Data.size,
    )
    .join(ItemStatus, ItemStatus.data_id == Data.id)
    .where(
        ItemStatus.run_id == bindparam("b_run_id", type_=Uuid),
        ItemStatus.state == ItemState.PENDING,
    )
    .order_by(Data.created_at, Data.id)
    .limit(bindparam("b_limit"))
)


async def pending_items(db: Database, run_id: uuid.UUID, limit: int) -> list[ItemRef]:
    rows = await db.read_rows(_PENDING, {"b_run_id": run_id, "b_limit": limit})
    return [ItemRef(*row) for row in rows]


def _item(run: RunInfo, data_id: uuid.UUID) -> Any:
    return (
        ItemStatus.data_id == data_id,
        ItemStatus.pipeline_name == run.pipeline_name,
        ItemStatus.run_id == run.id,
    )


# The per-item state changes run thousands of times per run: built once, with parameters
# (building a statement costs more than executing it).
_ITEM = (
    ItemStatus.data_id == bindparam("b_data_id", type_=Uuid),
    ItemStatus.pipeline_name == bindparam("b_pipeline"),
    ItemStatus.run_id == bindparam("b_run_id", type_=Uuid),
)
_START_ITEM = (
    update(ItemStatus)
    .where(*_ITEM, ItemStatus.state == ItemState.PENDING)
    .where(
        exists().where(
            PipelineRun.id == bindparam("b_run_id", type_=Uuid),
            PipelineRun.state == RunState.RUNNING,
            PipelineRun.lease_owner == bindparam("b_owner"),
        )
    )
    .values(
        state=ItemState.PROCESSING,
        attempts=ItemStatus.attempts + 1,
        started_at=bindparam("b_now"),
        updated_at=bindparam("b_now"),
    )
    .returning(ItemStatus.attempts)
)
_COMPLETE_ITEM = (
    update(ItemStatus)
    .where(*_ITEM, ItemStatus.state == ItemState.PROCESSING)
    .values(
        state=ItemState.COMPLETED,
        finished_at=bindparam("b_now"),
        updated_at=bindparam("b_now"),
        tokens_in=bindparam("b_tokens_in"),
        tokens_out=bindparam("b_tokens_out"),
        llm_calls=bindparam("b_llm_calls"),
    )
    .returning(ItemStatus.data_id)
)
_COUNT = (
    update(PipelineRun)
    .where(PipelineRun.id == bindparam("b_run_id", type_=Uuid))
    .values(
        completed=PipelineRun.completed + bindparam("b_completed"),
        failed=PipelineRun.failed + bindparam("b_failed"),
        tokens_in=PipelineRun.tokens_in + bindparam("b_tokens_in"),
        tokens_out=PipelineRun.tokens_out + bindparam("b_tokens_out"),
        llm_calls=PipelineRun.llm_calls + bindparam("b_llm_calls"),
        updated_at=bindparam("b_now"),
    )
)


def _item_params(run: RunInfo, data_id: uuid.UUID) -> dict[str, Any]:
    return {"b_data_id": data_id, "b_pipeline": run.pipeline_name, "b_run_id": run.id}


@retrying()
async def start_item(db: Database, run: RunInfo, owner: str, data_id: uuid.UUID) -> int | None:
    """pending -> processing while the run is ours and running; the attempt number or None."""
    params = {**_item_params(run, data_id), "b_owner": owner, "b_now": utcnow()}

    def start(conn: Connection) -> int | None:
        lock_dataset_in(conn, run.dataset_id)
        attempts = conn.execute(_START_ITEM, params).scalar()
        if attempts is not None:
            emit_in(conn, run.dataset_id, run.id, "item", ItemState.PROCESSING, data_id)
        return attempts

    return await db.run(start)


@retrying()
async def set_stage(
    db: Database, run: RunInfo, data_id: uuid.UUID, stage: str, attempt: int | None = None
) -> None:
    values: dict[str, Any] = {"stage": stage, "updated_at": utcnow()}
    if attempt is not None:
        values["attempts"] = attempt
    async with db.write() as session:
        await session.execute(
            update(ItemStatus)
            .where(*_item(run, data_id), ItemStatus.state == ItemState.PROCESSING)
            .values(**values)
        )


_SET_STAGE = (
    update(ItemStatus)
    .where(*_ITEM, ItemStatus.state == ItemState.PROCESSING)
    .values(stage=bindparam("b_stage"), updated_at=bindparam("b_now"))
)


@retrying()
async def set_stages(db: Database, stages: Sequence[tuple[RunInfo, uuid.UUID, str]]) -> None:
    """Record the current step of many processing items in one statement."""
    if not stages:
        return
    now = utcnow()
    rows = [
        {**_item_params(run, data_id), "b_stage": stage, "b_now": now}
        for run, data_id, stage in stages
    ]
    await db.run(lambda conn: conn.execute(_SET_STAGE, rows))


Writer = Callable[[Connection], None]

# A cognified item is new work for improve: its graph changed, whatever improve did to it.
_IMPROVE_AGAIN = delete(ItemStatus).where(
    ItemStatus.data_id == bindparam("b_data_id", type_=Uuid),
    ItemStatus.pipeline_name == MEMIFY_PIPELINE,
)
_CHANGES = update(ItemStatus).where(*_ITEM).values(changes=bindparam("b_changes"))


def record_changes(conn: Connection, run: RunInfo, data_id: uuid.UUID, changes: int) -> None:
    """Inside a writer: how many things the item's outputs changed (`run_changes` sums them)."""
    conn.execute(_CHANGES, {**_item_params(run, data_id), "b_changes": changes})


async def run_changes(db: Database, run_id: uuid.UUID) -> int:
    """The changes the run's items recorded (items a later run took over count there)."""
    total = await db.read_scalar(
        select(func.coalesce(func.sum(ItemStatus.changes), 0)).where(
            ItemStatus.run_id == bindparam("b_run_id", type_=Uuid)
        ),
        {"b_run_id": run_id},
    )
    return int(total or 0)


@retrying()
async def complete_item(
    db: Database,
    run: RunInfo,
    data_id: uuid.UUID,
    usage: Usage,
    writers: Sequence[Writer],
) -> bool:
    """processing -> completed, committing the item's outputs in the same transaction
    (one synchronous function: see `Database.run`).

    False (and nothing written) when the item is no longer this run's to complete.
    """
    params = {
        **_item_params(run, data_id),
        "b_now": utcnow(),
        "b_tokens_in": usage.tokens_in,
        "b_tokens_out": usage.tokens_out,
        "b_llm_calls": usage.llm_calls,
    }

    def complete(conn: Connection) -> bool:
        lock_dataset_in(conn, run.dataset_id)
        if conn.execute(_COMPLETE_ITEM, params).scalar() is None:
            return False
        for write in writers:
            write(conn)
        if run.pipeline_name == COGNIFY_PIPELINE:
            conn.execute(_IMPROVE_AGAIN, {"b_data_id": data_id})
        conn.execute(_COUNT, _count_params(run.id, usage, completed=1))
        emit_in(conn, run.dataset_id, run.id, "item", ItemState.COMPLETED, data_id)
        return True

    return await db.run(complete)


@retrying()
async def fail_item(
    db: Database,
    run: RunInfo,
    data_id: uuid.UUID,
    error_class: str,
    error_message: str,
    usage: Usage,
    stage: str | None = None,
) -> None:
    """processing -> failed, recording the step it failed in."""
    now = utcnow()
    statement = (
        update(ItemStatus)
        .where(*_item(run, data_id), ItemStatus.state == ItemState.PROCESSING)
        .values(
            stage=func.coalesce(stage, ItemStatus.stage),
            state=ItemState.FAILED,
            error_class=error_class,
            error_message=error_message or error_class,
            finished_at=now,
            updated_at=now,
        )
        .returning(ItemStatus.data_id)
    )

    def fail(conn: Connection) -> None:
        lock_dataset_in(conn, run.dataset_id)
        if conn.execute(statement).scalar() is None:
            return
        conn.execute(_COUNT, _count_params(run.id, usage, failed=1))
        emit_in(
            conn,
            run.dataset_id,
            run.id,
            "item",
            ItemState.FAILED,
            data_id,
            error_class=error_class,
            error_message=error_message,
        )

    await db.run(fail)


def _count_params(
    run_id: uuid.UUID, usage: Usage, completed: int = 0, failed: int = 0
) -> dict[str, Any]:
    return {
        "b_run_id": run_id,
        "b_completed": completed,
        "b_failed": failed,
        "b_tokens_in": usage.tokens_in,
        "b_tokens_out": usage.tokens_out,
        "b_llm_calls": usage.llm_calls,
        "b_now": utcnow(),
    }


@retrying()
async def finish_run(db: Database, run: RunInfo, owner: str) -> RunInfo | None:
    """running -> completed | completed_with_errors | failed, from the item counts; None
    while work is left (lease lost or cancelled mid-way) or the run is no longer ours.

    Items added to the dataset while the run ran become its pending work instead (None):
    a cognify request that joined the running run covers everything added before it.
    Decided under the dataset's lock, so an add commits either before (taken) or after
    (its own marker run) the finish.
    """
    now = utcnow()
    failed, nothing_done = (
        PipelineRun.failed > 0,
        and_(PipelineRun.completed == 0, PipelineRun.skipped == 0),
    )
    unfinished = exists().where(
        ItemStatus.run_id == run.id,
        ItemStatus.state.in_((ItemState.PENDING, ItemState.PROCESSING)),
    )
    failures = cast(PipelineRun.failed, String)
    async with db.write() as session:
        await lock_dataset(session, run.dataset_id)
        if await session.scalar(_ItemSets.of(run).new_work(run)):
            ours = await session.scalar(
                select(PipelineRun).where(
                    PipelineRun.id == run.id,
                    PipelineRun.state == RunState.RUNNING,
                    PipelineRun.lease_owner == owner,
                )
            )
            if ours is not None:
                await _enumerate_items(session, ours, now)
                return None
        row = await session.scalar(
            update(PipelineRun)
            .where(
                PipelineRun.id == run.id,
                PipelineRun.state == RunState.RUNNING,
                PipelineRun.lease_owner == owner,
                ~unfinished,
            )
            .values(
                state=case(
                    (and_(failed, nothing_done), RunState.FAILED.value),
                    (failed, RunState.COMPLETED_WITH_ERRORS.value),
                    else_=RunState.COMPLETED.value,
                ),
                error_class=case((failed, "items_failed"), else_=PipelineRun.error_class),
                error_message=case(
                    (and_(failed, nothing_done), "all " + failures + " items failed"),
                    (failed, failures + " of " + cast(PipelineRun.total, String) + " items failed"),
                    else_=PipelineRun.error_message,
                ),
                finished_at=now,
                updated_at=now,
                lease_owner=None,
                lease_expires_at=None,
            )
            .returning(PipelineRun)
            .execution_options(synchronize_session=False)
        )
        if row is None:
            return None
        await emit(session, row.dataset_id, row.id, "run", row.state, counts=counts_of(row))
        return RunInfo.of(row)


def counts_of(run: PipelineRun | RunInfo) -> dict[str, int]:
    return {
        "total": run.total,
        "completed": run.completed,
        "failed": run.failed,
        "skipped": run.skipped,
    }


@retrying()
async def renew_leases(
    db: Database, run_ids: Iterable[uuid.UUID], owner: str, lease_seconds: float
) -> set[uuid.UUID]:
    """Extend the leases this owner still holds; the ids whose lease it still holds."""
    ids = list(run_ids)
    if not ids:
        return set()
    now = utcnow()
    async with db.write() as session:
        kept = await session.scalars(
            update(PipelineRun)
            .where(
                PipelineRun.id.in_(ids),
                PipelineRun.lease_owner == owner,
                PipelineRun.state == RunState.RUNNING,
            )
            .values(lease_expires_at=now + timedelta(seconds=lease_seconds), updated_at=now)
            .returning(PipelineRun.id)
        )
        return set(kept)


@retrying()
async def expire_leases_of(db: Database, owner_prefix: str) -> list[uuid.UUID]:
    """End now the leases of a process known to be dead (its parent reaped it): recovery
    takes its runs at its next pass instead of when the leases would have run out. The ids
    of the runs whose lease ended."""
    now = utcnow()
    async with db.write() as session:
        ended = await session.scalars(
            update(PipelineRun)
            .where(
                PipelineRun.state == RunState.RUNNING,
                PipelineRun.lease_owner.startswith(owner_prefix, autoescape=True),
            )
            .values(lease_expires_at=now, updated_at=now)
            .returning(PipelineRun.id)
        )
        return list(ended)


@retrying()
async def recover_expired(db: Database, mode: str) -> list[uuid.UUID]:
    """Recover runs whose lease expired (never one still leased): requeue or fail them.

    Their items in `processing` go back to `pending`. Returns the requeued runs' ids.
    """
    now = utcnow()
    requeued: list[uuid.UUID] = []
    async with db.write() as session:
        expired = list(
            await session.scalars(
                select(PipelineRun)
                .where(PipelineRun.state == RunState.RUNNING, PipelineRun.lease_expires_at < now)
                .order_by(PipelineRun.dataset_id)  # locks in one order
            )
        )
        for run in expired:
            await lock_dataset(session, run.dataset_id)
            owner = run.lease_owner
            new_state = RunState.QUEUED if mode == "requeue" else RunState.FAILED
            changed = await session.scalar(
                update(PipelineRun)
                .where(
                    PipelineRun.id == run.id,
                    PipelineRun.state == RunState.RUNNING,
                    PipelineRun.lease_expires_at < now,
                )
                .values(
                    state=new_state,
                    lease_owner=None,
                    lease_expires_at=None,
                    updated_at=now,
                    finished_at=None if mode == "requeue" else now,
                    error_class=None if mode == "requeue" else "abandoned",
                    error_message=None
                    if mode == "requeue"
                    else f"the process executing this run ({owner}) stopped renewing its lease",
                )
                .returning(PipelineRun.id)
            )
            if changed is None:
                continue
            item_state = ItemState.PENDING if mode == "requeue" else ItemState.CANCELLED
            await session.execute(
                update(ItemStatus)
                .where(
                    ItemStatus.run_id == run.id,
                    ItemStatus.state.in_((ItemState.PROCESSING, ItemState.PENDING)),
                )
                .values(state=item_state, updated_at=now)
            )
            await emit(session, run.dataset_id, run.id, "run", new_state, recovered_from=owner)
            if mode == "requeue":
                requeued.append(run.id)
    return requeued


async def queued_runs(db: Database, limit: int = 100) -> list[uuid.UUID]:
    """Requested runs waiting for an executor, oldest first."""
    async with db.read() as session:
        rows = await session.scalars(
            select(PipelineRun.id)
            .where(PipelineRun.state == RunState.QUEUED, PipelineRun.requested_at.is_not(None))
            .order_by(PipelineRun.requested_at)
            .limit(limit)
        )
        return list(rows)


@retrying()
async def cancel_run(db: Database, run_id: uuid.UUID) -> RunInfo:
    """queued | running -> cancelled; pending items are cancelled, in-flight ones finish.

    Completed items keep their results. A finished run is returned unchanged.
    """
    now = utcnow()
    async with db.write() as session:
        await _lock_run_dataset(session, run_id)
        run = await session.scalar(
            update(PipelineRun)
            .where(PipelineRun.id == run_id, PipelineRun.state.in_(ACTIVE_RUN_STATES))
            .values(
                state=RunState.CANCELLED,
                finished_at=now,
                updated_at=now,
                lease_owner=None,
                lease_expires_at=None,
                error_class="cancelled",
                error_message="the run was cancelled",
            )
            .returning(PipelineRun)
            .execution_options(synchronize_session=False)
        )
        if run is None:
            finished = await session.get(PipelineRun, run_id)
            if finished is None:
                raise RunNotFound()
            return RunInfo.of(finished)
        cancelled = await session.scalars(
            update(ItemStatus)
            .where(ItemStatus.run_id == run_id, ItemStatus.state == ItemState.PENDING)
            .values(state=ItemState.CANCELLED, updated_at=now)
            .returning(ItemStatus.data_id)
        )
        for data_id in list(cancelled):
            await emit(session, run.dataset_id, run.id, "item", ItemState.CANCELLED, data_id)
        await emit(session, run.dataset_id, run.id, "run", RunState.CANCELLED)
        return RunInfo.of(run)


@retrying()
async def release_item(db: Database, run: RunInfo, data_id: uuid.UUID) -> None:
    """An item interrupted mid-way is not failed: it is pending again, or cancelled when
    its run was; whatever it had computed is dropped (rolled back)."""
    run_cancelled = (
        select(PipelineRun.state).where(PipelineRun.id == run.id).scalar_subquery()
        == RunState.CANCELLED
    )
    async with db.write() as session:
        await lock_dataset(session, run.dataset_id)
        state = await session.scalar(
            update(ItemStatus)
            .where(*_item(run, data_id), ItemStatus.state == ItemState.PROCESSING)
            .values(
                state=case(
                    (run_cancelled, ItemState.CANCELLED.value), else_=ItemState.PENDING.value
                ),
                updated_at=utcnow(),
            )
            .returning(ItemStatus.state)
        )
        if state == ItemState.CANCELLED:
            await emit(session, run.dataset_id, run.id, "item", ItemState.CANCELLED, data_id)


async def item_outcomes(db: Database, run_id: uuid.UUID) -> list[tuple[uuid.UUID, str, bool]]:
    """(data_id, state, done_by_this_run) for every item of the run's dataset."""
    async with db.read() as session:
        run = await session.get(PipelineRun, run_id)
        if run is None:
            return []
        rows = await session.execute(
            select(Data.id, ItemStatus.state, ItemStatus.run_id)
            .outerjoin(
                ItemStatus,
                (ItemStatus.data_id == Data.id) & (ItemStatus.pipeline_name == run.pipeline_name),
            )
            .where(Data.dataset_id == run.dataset_id)
            .order_by(Data.created_at)
        )
        return [(d, s or ItemState.PENDING, r == run_id) for d, s, r in rows]


@retrying()
async def release_run(db: Database, run_id: uuid.UUID, owner: str) -> None:
    """Give a run back to the queue at once (graceful shutdown), instead of letting the
    lease run out: its in-flight items become pending again."""
    now = utcnow()
    async with db.write() as session:
        await _lock_run_dataset(session, run_id)
        run = await session.scalar(
            update(PipelineRun)
            .where(
                PipelineRun.id == run_id,
                PipelineRun.state == RunState.RUNNING,
                PipelineRun.lease_owner == owner,
            )
            .values(state=RunState.QUEUED, lease_owner=None, lease_expires_at=None, updated_at=now)
            .returning(PipelineRun)
        )
        if run is None:
            return
        await _in_flight_pending(session, run_id, now)
        await emit(session, run.dataset_id, run.id, "run", RunState.QUEUED, released_by=owner)


async def _in_flight_pending(session: AsyncSession, run_id: uuid.UUID, now: datetime) -> None:
    """The run's items in progress become pending again (the run stopped without them)."""
    await session.execute(
        update(ItemStatus)
        .where(ItemStatus.run_id == run_id, ItemStatus.state == ItemState.PROCESSING)
        .values(state=ItemState.PENDING, updated_at=now)
    )


@retrying()
async def fail_run(
    db: Database, run: RunInfo, owner: str, error_class: str, error_message: str
) -> None:
    """running -> failed for a reason outside any item; unfinished items stay pending, so
    the next run picks them up."""
    await _end_failed(
        db,
        run.id,
        (PipelineRun.state == RunState.RUNNING, PipelineRun.lease_owner == owner),
        error_class,
        error_message,
    )


@retrying()
async def fail_unclaimed_run(
    db: Database, run_id: uuid.UUID, error_class: str, error_message: str
) -> None:
    """queued -> failed: a requested run that could not be claimed (listing its items was
    refused: the store is full), so that it ends explained instead of waiting for ever."""
    await _end_failed(
        db,
        run_id,
        (PipelineRun.state == RunState.QUEUED, PipelineRun.requested_at.is_not(None)),
        error_class,
        error_message,
    )


async def _end_failed(
    db: Database,
    run_id: uuid.UUID,
    conditions: tuple[ColumnElement[bool], ...],
    error_class: str,
    error_message: str,
) -> None:
    """The run -> failed if `conditions` hold, its items in progress pending again. On a
    store so full that even the event (a new row) has no room, the rows are changed without
    it, in place; should even that be refused, the store's reserve is given up for it: the
    run still ends, explained."""
    now = utcnow()
    statement = (
        update(PipelineRun)
        .where(PipelineRun.id == run_id, *conditions)
        .values(
            state=RunState.FAILED,
            error_class=error_class,
            error_message=error_message or error_class,
            finished_at=now,
            updated_at=now,
            lease_owner=None,
            lease_expires_at=None,
        )
        .returning(PipelineRun.dataset_id)
    )

    async def end(with_event: bool) -> None:
        async with db.write() as session:
            await _lock_run_dataset(session, run_id)
            dataset_id = await session.scalar(statement)
            if dataset_id is None:
                return
            await _in_flight_pending(session, run_id, now)
            if with_event:
                await emit(
                    session,
                    dataset_id,
                    run_id,
                    "run",
                    RunState.FAILED,
                    error_class=error_class,
                    error_message=error_message,
                )

    async def end_as_it_fits() -> None:
        try:
            await end(with_event=True)
        except StoreFull:
            await end(with_event=False)

    try:
        await end_as_it_fits()
    except StoreFull:
        # Not even in place (a row version needed a new page): the store's reserve is for
        # this. Without one left, the caller tries again later.
        if not await reserve.give_up(db):
            raise
        await end_as_it_fits()


async def latest_states_json(
    db: Database,
    user_id: uuid.UUID,
    tenant_id: uuid.UUID | None,
    readable: Callable[[Any, Any], Select[Any]],
    dataset_ids: Sequence[uuid.UUID] | None,
    pipelines: Sequence[str],
    label: Callable[[Any], Any],
) -> str:
    """The latest run's state per readable dataset and pipeline as a JSON object built by the
    database, each state passed through `label` (a SQL expression of the state column, NULL
    for no run): `{id: label}` for one pipeline, `{id: {pipeline: label}}` for several.
    `readable(user_id, tenant_id)` is the query of the user's readable dataset ids in the
    tenant they work in. No row reaches Python,
    so the cost hardly grows with the number of datasets."""
    query = _states_json_query(
        db.is_sqlite, readable, tuple(pipelines), label, dataset_ids is not None
    )
    params: dict[str, Any] = {"user_id": user_id, "tenant_id": tenant_id}
    if dataset_ids is not None:
        params["dataset_ids"] = bind_ids(dataset_ids, db.is_sqlite)
    body = await db.read_scalar(query, params, inline=True)  # one indexed query
    return str(body) if body is not None else "{}"


@functools.lru_cache(maxsize=64)
def _states_json_query(
    sqlite: bool,
    readable: Callable[[Any, Any], Select[Any]],
    pipelines: tuple[str, ...],
    label: Callable[[Any], Any],
    with_ids: bool,
) -> Select[Any]:
    """Built once per shape (building it costs more than running it), with bind parameters
    `user_id`, `tenant_id` and, `with_ids`, `dataset_ids` (`in_ids`)."""
    user, tenant = bindparam("user_id", type_=Uuid), bindparam("tenant_id", type_=Uuid)
    datasets = readable(user, tenant).subquery()
    column = datasets.c.dataset_id
    if sqlite:  # stored as 32 hex digits
        key: Any = func.substr(column, 1, 8)
        for start, length in ((9, 4), (13, 4), (17, 4), (21, 12)):
            key = key + "-" + func.substr(column, start, length)
    else:
        key = cast(column, String)
    labels = [label(latest_run(column, p)).label(f"s{i}") for i, p in enumerate(pipelines)]
    rows = select(key.label("k"), *labels).select_from(datasets)
    if with_ids:
        rows = rows.where(in_ids(column, "dataset_ids", sqlite))
    inner = rows.subquery()
    value: Any
    if len(pipelines) == 1:
        value = inner.c.s0
        if sqlite:
            return select(func.json_group_object(inner.c.k, value)).where(value.is_not(None))
        # As text: the driver would decode a json value into a dict.
        body = cast(func.json_object_agg(inner.c.k, value), Text)
        return select(body).where(value.is_not(None))
    pairs: list[Any] = []
    for i, p in enumerate(pipelines):
        pairs += [literal(p), inner.c[f"s{i}"]]
    if sqlite:  # a JSON merge patch drops the members whose value is null
        value = func.json(func.json_patch("{}", func.json_object(*pairs)))
        return select(func.json_group_object(inner.c.k, value))
    value = func.json_strip_nulls(func.json_build_object(*pairs))
    return select(cast(func.json_object_agg(inner.c.k, value), Text))


@dataclass(frozen=True)
class Progress:
    """The latest run of a pipeline on a dataset, with the stage an item is in now."""

    run: RunInfo
    stage: str | None


async def latest_progress(
    db: Database,
    readable: Select[Any],
    dataset_ids: Sequence[uuid.UUID] | None,
    pipeline_name: str,
) -> dict[uuid.UUID, Progress]:
    """The latest run of the pipeline on each dataset among `readable`."""
    datasets = readable.subquery()
    latest_ids = select(latest_run(datasets.c.dataset_id, pipeline_name, PipelineRun.id))
    if dataset_ids is not None:
        latest_ids = latest_ids.where(datasets.c.dataset_id.in_(list(dataset_ids)))
    current_stage = (
        select(ItemStatus.stage)
        .where(ItemStatus.run_id == PipelineRun.id, ItemStatus.state == ItemState.PROCESSING)
        .order_by(ItemStatus.updated_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    query = select(
        PipelineRun, case((PipelineRun.state == RunState.RUNNING, current_stage), else_=None)
    ).where(PipelineRun.id.in_(latest_ids))
    async with db.read() as session:
        rows: list[tuple[PipelineRun, str | None]] = [
            (row[0], row[1]) for row in await session.execute(query)
        ]
    return {run.dataset_id: Progress(RunInfo.of(run), stage) for run, stage in rows}


async def latest_finished(
    db: Database, dataset_ids: Sequence[uuid.UUID], pipeline_name: str
) -> dict[uuid.UUID, RunInfo]:
    """The last run of the pipeline to finish on each of the datasets."""
    async with db.read() as session:
        runs = await session.scalars(
            select(PipelineRun)
            .where(
                PipelineRun.dataset_id.in_(list(dataset_ids)),
                PipelineRun.pipeline_name == pipeline_name,
                PipelineRun.finished_at.is_not(None),
            )
            .order_by(PipelineRun.finished_at)
        )
        return {run.dataset_id: RunInfo.of(run) for run in runs}
