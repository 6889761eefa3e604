"""The pipeline ledger: runs, per-item states, and the compatible status view."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from graphmill.auth.permissions import readable_dataset_ids
from graphmill.db import Database
from graphmill.db.models import ACTIVE_RUN_STATES, ItemStatus, PipelineRun, utcnow
from graphmill.errors import UnknownPipeline

ADD_PIPELINE = "add_pipeline"
COGNIFY_PIPELINE = "cognify_pipeline"
PIPELINES = (ADD_PIPELINE, COGNIFY_PIPELINE)


class RunState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ItemState(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED_DUPLICATE = "skipped_duplicate"
    CANCELLED = "cancelled"


COMPAT_STATUS = {
    RunState.QUEUED: "DATASET_PROCESSING_INITIATED",
    RunState.RUNNING: "DATASET_PROCESSING_STARTED",
    RunState.COMPLETED: "DATASET_PROCESSING_COMPLETED",
}
ERRORED = "DATASET_PROCESSING_ERRORED"


def compat_status(state: str) -> str:
    """cognee's dataset status string for a run state."""
    return COMPAT_STATUS.get(RunState(state), ERRORED)


def check_pipelines(names: Sequence[str]) -> list[str]:
    """Distinct pipeline names in request order; UnknownPipeline names the available ones."""
    for name in names:
        if name not in PIPELINES:
            raise UnknownPipeline(
                f"Unknown pipeline {name!r}; available pipelines: {', '.join(PIPELINES)}"
            )
    return list(dict.fromkeys(names))


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
    for data_id in completed:
        await session.merge(
            ItemStatus(
                data_id=data_id,
                pipeline_name=pipeline_name,
                run_id=run.id,
                state=ItemState.COMPLETED,
                stage="stored",
                attempts=1,
                updated_at=now,
            )
        )
    return run


async def mark_pending(session: AsyncSession, dataset_id: uuid.UUID, pipeline_name: str) -> None:
    """Queue a run marker when the pipeline has run on the dataset and none is active now.

    cognee shows `DATASET_PROCESSING_INITIATED` for cognify after new data is added; a
    queued run is that marker, and the next cognify request picks it up.
    """
    latest = await session.scalar(
        select(PipelineRun.state)
        .where(PipelineRun.dataset_id == dataset_id, PipelineRun.pipeline_name == pipeline_name)
        .order_by(PipelineRun.created_at.desc())
        .limit(1)
    )
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


async def dataset_statuses(
    db: Database,
    user_id: uuid.UUID,
    dataset_ids: Sequence[uuid.UUID] | None,
    pipelines: Sequence[str],
) -> dict[uuid.UUID, dict[str, str]]:
    """Latest run state per readable dataset and pipeline, in one query.

    Every readable dataset asked for (or every readable one) is a key, possibly with no
    pipelines. Unreadable and missing ids are absent. Data rows are never touched.
    """
    readable = readable_dataset_ids(user_id).subquery()
    columns = [
        select(PipelineRun.state)
        .where(PipelineRun.dataset_id == readable.c.dataset_id, PipelineRun.pipeline_name == name)
        .order_by(PipelineRun.created_at.desc())
        .limit(1)
        .scalar_subquery()
        .label(f"p{i}")
        for i, name in enumerate(pipelines)
    ]
    query = select(readable.c.dataset_id, *columns)
    if dataset_ids is not None:
        query = query.where(readable.c.dataset_id.in_(list(dataset_ids)))
    async with db.read() as session:
        rows = (await session.execute(query)).all()
    return {
        row[0]: {
            name: compat_status(state)
            for name, state in zip(pipelines, row[1:], strict=True)
            if state is not None
        }
        for row in rows
    }
