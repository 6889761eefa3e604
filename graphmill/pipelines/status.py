"""The compatible status view (cognee's status strings) and the richer progress view."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from graphmill.auth.permissions import readable_dataset_ids
from graphmill.db import Database
from graphmill.db.models import RunState
from graphmill.errors import UnknownPipeline
from graphmill.pipelines import ledger
from graphmill.pipelines.ledger import PIPELINES

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
    states = await ledger.latest_states(db, readable_dataset_ids(user_id), dataset_ids, pipelines)
    return {
        dataset_id: {name: compat_status(state) for name, state in by_pipeline.items()}
        for dataset_id, by_pipeline in states.items()
    }
