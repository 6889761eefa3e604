"""The search log: each user's queries and the answers they got, newest first."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from graphmill.db import Bulk, Database
from graphmill.db.models import SearchHistory, utcnow

MAX_STORED_CHARS = 65_536

# Compiled once, run through the writer's own connection (`Database.run`): a search's
# record costs one insert, not an ORM session's flush through the async driver.
_INSERT = Bulk(
    insert(SearchHistory),
    ["id", "user_id", "query_id", "dataset_id", "role", "search_type", "text", "created_at"],
)


@dataclass(frozen=True)
class HistoryEntry:
    id: uuid.UUID
    text: str
    user: str  # "user" for a query, "system" for an answer (cognee's values)
    created_at: datetime
    dataset_id: uuid.UUID | None
    search_type: str


def _as_text(result: Any) -> str:
    if isinstance(result, str):
        text = result
    elif isinstance(result, list) and len(result) == 1 and isinstance(result[0], str):
        text = result[0]
    else:
        text = json.dumps(result, ensure_ascii=False, default=str)
    return text[:MAX_STORED_CHARS]


async def record(
    db: Database,
    user_id: uuid.UUID,
    query: str,
    search_type: str,
    answers: list[tuple[uuid.UUID, Any]],
) -> None:
    """Keep a query and each dataset's answer (answers sort after their query)."""
    now = utcnow()
    query_id = uuid.uuid4()
    rows = [
        {
            "id": query_id,
            "user_id": user_id,
            "query_id": None,
            "dataset_id": None,
            "role": "user",
            "search_type": search_type,
            "text": query[:MAX_STORED_CHARS],
            "created_at": now,
        }
    ]
    rows += [
        {
            "id": uuid.uuid4(),
            "user_id": user_id,
            "query_id": query_id,
            "dataset_id": dataset_id,
            "role": "system",
            "search_type": search_type,
            "text": _as_text(result),
            "created_at": now + timedelta(microseconds=i + 1),
        }
        for i, (dataset_id, result) in enumerate(answers)
    ]
    await db.run(lambda conn: _INSERT.execute(conn, rows))


async def entries(db: Database, user_id: uuid.UUID, limit: int, offset: int) -> list[HistoryEntry]:
    """The user's log, newest first."""
    rows = await db.read_rows(
        select(
            SearchHistory.id,
            SearchHistory.text,
            SearchHistory.role,
            SearchHistory.created_at,
            SearchHistory.dataset_id,
            SearchHistory.search_type,
        )
        .where(SearchHistory.user_id == user_id)
        .order_by(SearchHistory.created_at.desc(), SearchHistory.role)
        .limit(limit)
        .offset(offset)
    )
    return [HistoryEntry(*row) for row in rows]
