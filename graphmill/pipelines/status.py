"""The compatible status view (cognee's status strings) and the richer progress view."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, func

from graphmill.auth.permissions import readable_dataset_ids
from graphmill.auth.users import UserInfo
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


# cognee 1.6.5's pipeline names: graphmill never runs code_graph_pipeline, so it is absent
# from every status map, but asking for it is not an error.
KNOWN_PIPELINES = (*PIPELINES, "code_graph_pipeline")


def check_pipelines(names: Sequence[str]) -> list[str]:
    """Distinct pipeline names in request order; UnknownPipeline names the available ones."""
    for name in names:
        if name not in KNOWN_PIPELINES:
            raise UnknownPipeline(
                f"Unknown pipeline {name!r}; available pipelines: {', '.join(KNOWN_PIPELINES)}"
            )
    return list(dict.fromkeys(names))


def _compat_label(state: Any) -> Any:
    """compat_status as SQL; NULL (no run) stays NULL. A simple CASE: the state (a
    correlated subquery) is evaluated once, not once per branch."""
    mapping: dict[str, str | None] = {str(k): v for k, v in COMPAT_STATUS.items()}
    mapping[""] = None
    return case(mapping, value=func.coalesce(state, ""), else_=ERRORED)


async def status_json(
    db: Database,
    user: UserInfo,
    dataset_ids: Sequence[uuid.UUID] | None,
    pipelines: Sequence[str],
) -> str:
    """cognee's status body as JSON text: `{id: status}` for one pipeline (datasets without
    a run of it absent), `{id: {pipeline: status}}` for several (every readable dataset a
    key). One query; unreadable and missing ids are absent; data rows are never touched."""
    return await ledger.latest_states_json(
        db, user.id, user.tenant_id, readable_dataset_ids, dataset_ids, pipelines, _compat_label
    )
