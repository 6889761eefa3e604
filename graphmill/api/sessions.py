"""`/api/v1/sessions`: the caller's sessions and their entries (cognee's dashboard shape)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from graphmill.api.deps import ServicesDep, UserDep
from graphmill.errors import InvalidInput
from graphmill.memory import sessions
from graphmill.services import Services

router = APIRouter()

RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
RANGE_NAMES = (*RANGES, "all")


def _record(user_id: Any, s: sessions.SessionSummary) -> dict[str, Any]:
    """cognee's SessionRecord.to_dict; graphmill keeps no token or cost counters per session."""
    return {
        "session_id": s.session_id,
        "user_id": str(user_id),
        "dataset_id": str(s.dataset_id) if s.dataset_id else None,
        "status": "completed",
        "effective_status": "completed",
        "started_at": s.started_at.isoformat(),
        "last_activity_at": s.last_activity_at.isoformat(),
        "ended_at": None,
        "tokens_in": 0,
        "tokens_out": 0,
        "cost_usd": 0.0,
        "error_count": 0,
        "last_model": None,
        "msg_count": s.qa_count,
        "tool_calls": s.trace_count,
    }


@router.get("")
async def list_sessions(
    services: ServicesDep,
    user: UserDep,
    range: Annotated[Literal["24h", "7d", "30d", "all"], Query()] = "30d",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """The caller's sessions, most recently active first."""
    return await session_page(services, user.id, range, limit, offset)


async def session_page(
    services: Services, user_id: uuid.UUID, range: str, limit: int, offset: int
) -> dict[str, Any]:
    """`GET /sessions`'s page (the CLI's and Python API's in-process listing too)."""
    if range != "all" and range not in RANGES:
        raise InvalidInput(f"range must be one of {', '.join(RANGE_NAMES)}, not {range!r}")
    window = RANGES.get(range)
    since = datetime.now(UTC) - window if window else None
    found, total = await sessions.list_sessions(services.db, user_id, since, limit, offset)
    return {
        "sessions": [_record(user_id, s) for s in found],
        "total": total,
        "limit": limit,
        "offset": offset,
        "has_more": offset + len(found) < total,
    }


@router.get("/{session_id}")
async def get_session(
    services: ServicesDep,
    user: UserDep,
    session_id: Annotated[str, Path(max_length=255)],
) -> dict[str, Any]:
    """One of the caller's sessions with its QA turns and trace steps, oldest first."""
    return await session_detail(services, user.id, session_id)


async def session_detail(services: Services, user_id: uuid.UUID, session_id: str) -> dict[str, Any]:
    """`GET /sessions/{session_id}`'s answer (the CLI's and Python API's in-process too)."""
    summary, entries = await sessions.get_session(services.db, user_id, session_id)
    qas = [e.qa() for e in entries if e.entry_type == sessions.QA]
    traces = [e.trace() for e in entries if e.entry_type == sessions.TRACE]
    label = next((q["question"][:120] for q in qas if q["question"]), None)
    return _record(user_id, summary) | {
        "label": label or next((t["origin_function"] for t in traces), None),
        "qas": qas,
        "traces": traces,
    }
