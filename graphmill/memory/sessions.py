"""Session entries: QA turns and agent trace steps per user and session id, in the store
of record (cognee keeps them in a cache; here they are durable and isolated per user)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, delete, func, select, update

from graphmill.db import Database
from graphmill.db.models import SessionEntry, utcnow
from graphmill.errors import SessionEntryNotFound
from graphmill.search.lexical import STOPWORDS

QA = "qa"
TRACE = "trace"
MAX_SCANNED = 500  # most recent entries of a session that recall ranks
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class EntryInfo:
    id: uuid.UUID
    session_id: str
    dataset_id: uuid.UUID | None
    entry_type: str
    question: str
    answer: str
    context: str
    feedback_text: str | None
    feedback_score: int | None
    payload: dict[str, Any]
    created_at: datetime
    improved_at: datetime | None

    @classmethod
    def of(cls, row: SessionEntry) -> EntryInfo:
        return cls(
            row.id,
            row.session_id,
            row.dataset_id,
            row.entry_type,
            row.question,
            row.answer,
            row.context,
            row.feedback_text,
            row.feedback_score,
            dict(row.payload or {}),
            row.created_at,
            row.improved_at,
        )

    def qa(self) -> dict[str, Any]:
        """cognee's SessionQAEntry."""
        return {
            "time": self.created_at.isoformat(),
            "question": self.question,
            "context": self.context,
            "answer": self.answer,
            "qa_id": str(self.id),
            "feedback_text": self.feedback_text,
            "feedback_score": self.feedback_score,
            "used_graph_element_ids": self.payload.get("used_graph_element_ids"),
            "memify_metadata": {"improved": True} if self.improved_at else None,
            "used_session_context_ids": None,
        }

    def trace(self) -> dict[str, Any]:
        """cognee's SessionAgentTraceEntry."""
        return {
            "trace_id": str(self.id),
            "origin_function": self.payload.get("origin_function", ""),
            "status": self.payload.get("status", "success"),
            "memory_query": self.payload.get("memory_query", ""),
            "memory_context": self.payload.get("memory_context", ""),
            "method_params": self.payload.get("method_params") or {},
            "method_return_value": self.payload.get("method_return_value"),
            "error_message": self.payload.get("error_message", ""),
            "session_feedback": self.feedback_text or "",
        }

    def words(self) -> str:
        if self.entry_type == QA:
            return f"{self.question} {self.answer} {self.context}"
        return " ".join(
            str(self.payload.get(k) or "")
            for k in ("origin_function", "memory_query", "memory_context", "error_message")
        )


async def add_entry(
    db: Database,
    user_id: uuid.UUID,
    session_id: str,
    dataset_id: uuid.UUID | None,
    entry_type: str,
    *,
    question: str = "",
    answer: str = "",
    context: str = "",
    feedback_text: str | None = None,
    feedback_score: int | None = None,
    payload: dict[str, Any] | None = None,
) -> EntryInfo:
    row = SessionEntry(
        id=uuid.uuid4(),
        user_id=user_id,
        session_id=session_id,
        dataset_id=dataset_id,
        entry_type=entry_type,
        question=question,
        answer=answer,
        context=context,
        feedback_text=feedback_text,
        feedback_score=feedback_score,
        payload=payload or {},
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    async with db.write() as session:
        session.add(row)
        await session.flush()
        return EntryInfo.of(row)


async def add_feedback(
    db: Database,
    user_id: uuid.UUID,
    session_id: str | None,
    qa_id: uuid.UUID,
    feedback_text: str | None,
    feedback_score: int | None,
) -> EntryInfo:
    """Attach feedback to one of the user's QA entries (in that session, when named)."""
    conditions = [
        SessionEntry.id == qa_id,
        SessionEntry.user_id == user_id,
        SessionEntry.entry_type == QA,
    ]
    if session_id is not None:
        conditions.append(SessionEntry.session_id == session_id)
    async with db.write() as session:
        row = (await session.execute(select(SessionEntry).where(*conditions))).scalar_one_or_none()
        if row is None:
            raise SessionEntryNotFound(f"No QA entry {qa_id} in your sessions.")
        row.feedback_text = feedback_text
        row.feedback_score = feedback_score
        row.updated_at = utcnow()
        await session.flush()
        return EntryInfo.of(row)


@dataclass(frozen=True)
class SessionSummary:
    session_id: str
    dataset_id: uuid.UUID | None
    started_at: datetime
    last_activity_at: datetime
    qa_count: int
    trace_count: int


def _summary(row: Any) -> SessionSummary:
    session_id, dataset_id, *rest = row
    return SessionSummary(session_id, uuid.UUID(dataset_id) if dataset_id else None, *rest)


def _summary_query(user_id: uuid.UUID) -> Any:
    return (
        select(
            SessionEntry.session_id,
            # max() of a uuid does not exist on PostgreSQL: of its text, on both.
            func.max(cast(SessionEntry.dataset_id, String(36))),
            func.min(SessionEntry.created_at),
            func.max(SessionEntry.updated_at),
            func.count().filter(SessionEntry.entry_type == QA),
            func.count().filter(SessionEntry.entry_type == TRACE),
        )
        .where(SessionEntry.user_id == user_id)
        .group_by(SessionEntry.session_id)
    )


def _active_since(user_id: uuid.UUID, since: datetime | None) -> Any:
    """The user's session summaries, of sessions active since then (None: all)."""
    query = _summary_query(user_id)
    return query if since is None else query.having(func.max(SessionEntry.updated_at) >= since)


async def list_sessions(
    db: Database, user_id: uuid.UUID, since: datetime | None, limit: int, offset: int
) -> tuple[list[SessionSummary], int]:
    """The user's sessions, most recently active first, and how many there are."""
    query = _active_since(user_id, since)
    total = (await db.read_rows(select(func.count()).select_from(query.subquery())))[0][0]
    rows = await db.read_rows(
        query.order_by(func.max(SessionEntry.updated_at).desc()).limit(limit).offset(offset)
    )
    return [_summary(row) for row in rows], int(total)


@dataclass(frozen=True)
class SessionStats:
    sessions: int
    seconds: float  # from each session's first entry to its last activity, summed


async def session_stats(db: Database, user_id: uuid.UUID, since: datetime | None) -> SessionStats:
    """How many sessions the user was active in since then, and for how long in all."""
    rows = await db.read_rows(_active_since(user_id, since))
    spans = [_summary(row) for row in rows]
    seconds = sum(max(0.0, (s.last_activity_at - s.started_at).total_seconds()) for s in spans)
    return SessionStats(len(spans), seconds)


async def get_session(
    db: Database, user_id: uuid.UUID, session_id: str
) -> tuple[SessionSummary, list[EntryInfo]]:
    """One of the user's sessions and its entries, oldest first; NotFound otherwise."""
    rows = await db.read_rows(_summary_query(user_id).where(SessionEntry.session_id == session_id))
    if not rows:
        raise SessionEntryNotFound("session not found")
    return _summary(rows[0]), await entries(db, user_id, [session_id])


async def entries(
    db: Database, user_id: uuid.UUID, session_ids: Sequence[str], limit: int = MAX_SCANNED
) -> list[EntryInfo]:
    """The newest entries of the user's sessions (at most `limit`), oldest first."""
    async with db.read() as session:
        rows = (
            (
                await session.execute(
                    select(SessionEntry)
                    .where(
                        SessionEntry.user_id == user_id,
                        SessionEntry.session_id.in_(list(session_ids)),
                    )
                    .order_by(SessionEntry.created_at.desc())
                    .limit(limit)
                )
            )
            .scalars()
            .all()
        )
        return [EntryInfo.of(r) for r in reversed(rows)]


def _terms(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.casefold()) if w not in STOPWORDS and len(w) > 1}


def rank(found: Sequence[EntryInfo], query: str, top_k: int) -> list[tuple[EntryInfo, float]]:
    """Entries sharing words with the query, by the share of the query's words they hold
    (newest first on ties); all of them, newest first, when the query has no such word."""
    wanted = _terms(query)
    scored = [(e, len(wanted & _terms(e.words())) / len(wanted) if wanted else 1.0) for e in found]
    kept = [(e, s) for e, s in scored if s > 0]
    kept.sort(key=lambda es: (es[1], es[0].created_at), reverse=True)
    return kept[:top_k]


async def useful_qas(db: Database, user_id: uuid.UUID, dataset_id: uuid.UUID) -> list[EntryInfo]:
    """The user's QA entries for the dataset marked useful (feedback score 4 or 5) and not
    yet folded into its graph."""
    async with db.read() as session:
        rows = (
            (
                await session.execute(
                    select(SessionEntry).where(
                        SessionEntry.user_id == user_id,
                        SessionEntry.dataset_id == dataset_id,
                        SessionEntry.entry_type == QA,
                        SessionEntry.feedback_score >= 4,
                        SessionEntry.improved_at.is_(None),
                    )
                )
            )
            .scalars()
            .all()
        )
        return [EntryInfo.of(r) for r in rows]


async def mark_improved(db: Database, ids: Sequence[uuid.UUID]) -> None:
    if ids:
        async with db.write() as session:
            await session.execute(
                update(SessionEntry)
                .where(SessionEntry.id.in_(list(ids)))
                .values(improved_at=utcnow())
            )


async def delete_user_sessions(db: Database, user_id: uuid.UUID) -> int:
    """Every session entry of the user (forget everything)."""
    async with db.write() as session:
        result = await session.execute(delete(SessionEntry).where(SessionEntry.user_id == user_id))
        return int(getattr(result, "rowcount", 0) or 0)
