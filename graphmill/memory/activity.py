"""The caller's activity, in the shapes of cognee's `/api/v1/activity` routes: the recent
pipeline runs of the datasets they can read and their own searches, and the caller as the
one "agent" they may see (cognee lists every user of the installation; graphmill shows no
one else)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from graphmill.auth.permissions import authorize, visible_ids
from graphmill.auth.users import UserInfo
from graphmill.db import Database
from graphmill.db.models import (
    ACTIVE_RUN_STATES,
    ApiKey,
    Data,
    Dataset,
    Permission,
    PipelineRun,
    RunState,
    SearchHistory,
    User,
)
from graphmill.pipelines.status import compat_status

# A user active in the last half hour is LIVE (cognee's cut-off).
LIVE_MINUTES = 30


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


_FEED_KEYS = (
    "id",
    "kind",
    "pipeline_name",
    "status",
    "dataset_id",
    "dataset_name",
    "owner_id",
    "owner_email",
    "created_at",
    "pipeline_run_id",
    "operation_name",
    "origin",
    "outcome",
    "background",
    "error_class",
    "tokens_in",
    "tokens_out",
    "embedding_tokens",
    "started_at",
    "ended_at",
    "user_id",
    "session_id",
    "parent_operation_id",
    "error",  # graphmill's: the run's error message (the frontend reads it)
)


def _row(**values: Any) -> dict[str, Any]:
    """One row of cognee's activity feed; a field graphmill does not record is null."""
    return {k: values.get(k) for k in _FEED_KEYS}


def _outcome(state: str) -> str | None:
    if state in ACTIVE_RUN_STATES:
        return None
    return "succeeded" if state == RunState.COMPLETED else "failed"


async def activity_feed(
    db: Database,
    user: UserInfo,
    dataset_id: uuid.UUID | None,
    pipeline_name: str | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """Runs of the readable datasets (one row per run) and the caller's searches (operation
    rows), newest first. `dataset_id` (readable, else the uniform 404) or `pipeline_name`
    keep only runs, as in cognee."""
    if dataset_id is not None:
        async with db.read() as session:
            await authorize(session, user, dataset_id, Permission.READ)
        scope: Any = PipelineRun.dataset_id == dataset_id
    else:
        scope = PipelineRun.dataset_id.in_(visible_ids(user))
    runs = (
        select(PipelineRun, Dataset.name, Dataset.owner_id, User.email)
        .join(Dataset, Dataset.id == PipelineRun.dataset_id)
        .outerjoin(User, User.id == Dataset.owner_id)
        .where(scope)
        .order_by(PipelineRun.created_at.desc(), PipelineRun.id.desc())
        .limit(offset + limit)
    )
    if pipeline_name is not None:
        runs = runs.where(PipelineRun.pipeline_name == pipeline_name)
    rows: list[dict[str, Any]] = []
    async with db.read() as session:
        for run, name, owner_id, email in (await session.execute(runs)).all():
            rows.append(
                _row(
                    id=str(run.id),
                    kind="pipeline",
                    pipeline_name=run.pipeline_name,
                    status=compat_status(run.state),
                    dataset_id=str(run.dataset_id),
                    dataset_name=name,
                    owner_id=str(owner_id),
                    owner_email=email,
                    created_at=_iso(run.created_at),
                    pipeline_run_id=str(run.id),
                    operation_name=run.pipeline_name,
                    outcome=_outcome(run.state),
                    error_class=run.error_class,
                    tokens_in=run.tokens_in,
                    tokens_out=run.tokens_out,
                    started_at=_iso(run.started_at),
                    ended_at=_iso(run.finished_at),
                    user_id=str(run.requested_by) if run.requested_by else None,
                    error=run.error_message,
                )
            )
        if dataset_id is None and pipeline_name is None:
            searches = (
                select(SearchHistory.id, SearchHistory.created_at)
                .where(SearchHistory.user_id == user.id, SearchHistory.role == "user")
                .order_by(SearchHistory.created_at.desc())
                .limit(offset + limit)
            )
            for search_id, created_at in (await session.execute(searches)).all():
                rows.append(
                    _row(
                        id=str(search_id),
                        kind="operation",
                        created_at=_iso(created_at),
                        operation_name="search",
                        outcome="succeeded",
                        started_at=_iso(created_at),
                        user_id=str(user.id),
                    )
                )
    rows.sort(key=lambda r: (r["created_at"] or "", r["id"]), reverse=True)
    return rows[offset : offset + limit]


async def caller_as_agent(db: Database, user_id: uuid.UUID) -> dict[str, Any]:
    """cognee's `/activity/agents` row of the caller: last active at their latest upload or
    search; LIVE within half an hour."""
    async with db.read() as session:
        user = await session.get(User, user_id)
        assert user is not None  # the caller was just authenticated
        keys = await session.scalar(select(func.count()).where(ApiKey.user_id == user_id))
        uploaded = await session.scalar(
            select(func.max(Data.created_at)).where(Data.owner_id == user_id)
        )
        searched = await session.scalar(
            select(func.max(SearchHistory.created_at)).where(SearchHistory.user_id == user_id)
        )
    last = max((t for t in (uploaded, searched) if t is not None), default=None)
    if last is None:
        status = "NEVER_CONNECTED"
    elif last > datetime.now(UTC) - timedelta(minutes=LIVE_MINUTES):
        status = "LIVE"
    else:
        status = "INACTIVE"
    return {
        "id": str(user.id),
        "email": user.email,
        "agent_type": user.email.split("@")[0],
        "agent_short_id": "",
        "is_agent": False,
        "is_default": False,
        "status": status,
        "api_key_count": int(keys or 0),
        "created_at": _iso(user.created_at),
        "last_active": _iso(last),
    }
