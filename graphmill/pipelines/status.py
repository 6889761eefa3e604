"""The compatible status view (cognee's status strings) and the richer progress view."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select

from graphmill.auth.permissions import readable_dataset_ids
from graphmill.db import Database
from graphmill.db.models import PipelineRun
from graphmill.errors import UnknownPipeline
from graphmill.pipelines.ledger import PIPELINES, RunState

COMPAT_STATUS: dict[str, str] = {
    RunState.QUEUED: "DATASET_PROCESSING_INITIATED",
    RunState.RUNNING: "DATASET_PROCESSING_STARTED",
    RunState.COMPLETED: "DATASET_PROCESSING_COMPLETED",
}
ERRORED = "DATASET_PROCESSING_ERRORED"


def compat_status(state: str) -> str:
    """cognee's dataset status string for a run state."""
    return COMPAT_STATUS.get(state, ERRORED)


def check_pipelines(names: Sequence[str]) -> list[str]:
    """Distinct pipeline names in request order; UnknownPipeline names the available ones."""
    for name in names:
        if name not in PIPELINES:
            raise UnknownPipeline(
                f"Unknown pipeline {name!r}; available pipelines: {', '.join(PIPELINES)}"
            )
    return list(dict.fromkeys(names))


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
