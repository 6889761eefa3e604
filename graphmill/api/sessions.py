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
Range = Annotated[Literal["24h", "7d", "30d", "all"], Query()]


def _since(range: str) -> datetime | None:
    """The start of a named range (None: all); 400 for a name not in RANGE_NAMES."""
    if range not in RANGE_NAMES:
        raise InvalidInput(f"range must be one of {', '.join(RANGE_NAMES)}, not {range!r}")
    window = RANGES.get(range)
    return datetime.now(UTC) - window if window else None


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
    range: Range = "30d",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """The caller's sessions, most recently active first."""
    return await session_page(services, user.id, range, limit, offset)


async def session_page(
    services: Services, user_id: uuid.UUID, range: str, limit: int, offset: int
) -> dict[str, Any]:
    """`GET /sessions`'s page (the CLI's and Python API's in-process listing too)."""
    since = _since(range)
    found, total = await sessions.list_sessions(services.db, user_id, since, limit, offset)
    return {
        "sessions": [_record(user_id, s) for s in found],
        "total": total,
        "limit": limit,
        "offset": offset,
        "has_more": offset + len(found) < total,
    }


@router.get("/stats")
async def session_stats(
    services: ServicesDep, user: UserDep, range: Range = "30d"
) -> dict[str, Any]:
    """cognee's totals of the caller's sessions active in the range. graphmill counts no
    tokens or spend per session (zeros) and every session is `completed`."""
    stats = await sessions.session_stats(services.db, user.id, _since(range))
    return {
        "range": range,
        "sessions": stats.sessions,
        "total_spend_usd": 0.0,
        "avg_spend_per_session_usd": 0.0,
        "tokens_in": 0,
        "tokens_out": 0,
        "tokens_total": 0,
        "agent_time_s": stats.seconds,
        "avg_session_s": stats.seconds / stats.sessions if stats.sessions else 0.0,
        "success_rate": 1.0,
        "completed": stats.sessions,
        "failed": 0,
        "abandoned": 0,
        "running": 0,
    }


@router.get("/cost-by-model")
async def cost_by_model(user: UserDep, range: Range = "30d") -> list[dict[str, Any]]:
    """Empty: graphmill records no model usage per session."""
    return []


@router.get("/cost-by-user-agent")
async def cost_by_user_agent(
    services: ServicesDep, user: UserDep, range: Range = "30d"
) -> list[dict[str, Any]]:
    """The caller's sessions in the range as one row (agent type `unknown`: graphmill keeps no
    agent connections), tokens and spend zero."""
    stats = await sessions.session_stats(services.db, user.id, _since(range))
    if not stats.sessions:
        return []
    return [
        {
            "user_id": str(user.id),
            "user_email": user.email,
            "agent_type": "unknown",
            "session_count": stats.sessions,
            "tokens_in": 0,
            "tokens_out": 0,
            "tokens_total": 0,
            "cost_usd": 0.0,
        }
    ]


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
