"""Full-text search over chunk text: FTS5 with BM25 on SQLite, `tsvector` with cover-density
ranking on PostgreSQL. Both indexes are kept by triggers on `chunks` (migration 0005), so a
chunk is findable the moment the transaction that wrote it commits, from any process.

A query's words are matched with OR (any word may find a passage; ranking rewards those with
more and rarer ones), after dropping English function words, which would match nearly every
passage and cost time without ranking anything.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection

from sqlalchemy import text

from graphmill.db import Database

Ranking = list[tuple[uuid.UUID, float]]

MAX_TERMS = 32

_STOPWORDS = """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is
    it its itself just me more most my myself no nor not now of off on once only or other our
    ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your yours yourself
    yourselves s t also many much"""
STOPWORDS = frozenset(_STOPWORDS.split())

_WORD = re.compile(r"\w+", re.UNICODE)

_SQLITE = text(
    "SELECT s.chunk_id, -f.rank AS score FROM search_fts AS f "
    "JOIN search_chunks AS s ON s.seq = f.rowid "
    "WHERE search_fts MATCH :match {filter} ORDER BY f.rank LIMIT :k"
)
_SQLITE_ITEMS = "AND s.chunk_id IN (SELECT id FROM chunks WHERE data_id IN ({ids}))"

_POSTGRESQL = text(
    "SELECT chunk_id, ts_rank_cd(tsv, query, 1) AS score "
    "FROM search_fts, to_tsquery('english', :match) AS query "
    "WHERE dataset_id = :d AND tsv @@ query {filter} ORDER BY score DESC LIMIT :k"
)
_POSTGRESQL_ITEMS = "AND chunk_id IN (SELECT id FROM chunks WHERE data_id = ANY(:items))"


def query_terms(query: str) -> list[str]:
    """The words a query is matched by: lower-cased, function words dropped (unless nothing
    else is left), each once, in order."""
    words = [w.casefold() for w in _WORD.findall(query)]
    content = [w for w in words if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]
    return list(dict.fromkeys(content or words))[:MAX_TERMS]


def _fts5_string(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _dataset_token(dataset_id: uuid.UUID) -> str:
    """How the `ds` column holds a dataset id: SQLite stores UUIDs as 32 hex digits."""
    return dataset_id.hex


async def search(
    db: Database,
    dataset_id: uuid.UUID,
    query: str,
    k: int,
    data_ids: Collection[uuid.UUID] | None = None,
) -> Ranking:
    """The k chunks of the dataset that best match the query's words, best first."""
    terms = query_terms(query)
    if not terms or (data_ids is not None and not data_ids):
        return []
    if db.is_sqlite:
        match = (
            f"ds : {_fts5_string(_dataset_token(dataset_id))} AND ("
            + " OR ".join(_fts5_string(t) for t in terms)
            + ")"
        )
        where = ""
        if data_ids is not None:
            # Ids as literals: hex digits only, and SQLite allows few bound parameters.
            where = _SQLITE_ITEMS.format(ids=", ".join(f"'{d.hex}'" for d in data_ids))
        statement = text(_SQLITE.text.format(filter=where))
        rows = await db.read_rows(statement, {"match": match, "k": k})
    else:
        # Lexemes as to_tsquery operands: quoted, so no word is read as an operator.
        match = " | ".join("'" + t.replace("'", "''").replace("\\", "") + "'" for t in terms)
        params: dict[str, object] = {"match": match, "d": dataset_id, "k": k}
        where = ""
        if data_ids is not None:
            where, params["items"] = _POSTGRESQL_ITEMS, list(data_ids)
        statement = text(_POSTGRESQL.text.format(filter=where))
        rows = await db.read_rows(statement, params)
    return [(_as_uuid(chunk_id), float(score)) for chunk_id, score in rows]


def _as_uuid(value: object) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
