"""Full-text search over chunk text: FTS5 with BM25 on SQLite, `tsvector` with cover-density
ranking on PostgreSQL. Both indexes are kept by triggers on `chunks` (migration 0005), so a
chunk is findable the moment the transaction that wrote it commits, from any process.

A query's words are matched with OR (any word may find a passage; ranking rewards those with
more and rarer ones), after dropping English function words. A query's cost grows with the
postings it reads (the passages it ranks), so words are kept rarest first within a budget
of postings (each word's count probed up to a cap, which costs no more than the cap): the
words left out are the commonest, whose weight is smallest (FTS5's BM25 gives a word in
half the passages none at all). On a corpus of a few thousand passages nothing is left out;
at 100,000 the budget keeps a query within a few milliseconds. The index holds every
dataset's chunks (and BM25's statistics are the whole index's); a dataset's hits are the
best of the index's that belong to it.
"""

from __future__ import annotations

import functools
import re
import unicodedata
import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, TextClause, text

from graphmill.db import Database

Ranking = list[tuple[uuid.UUID, float]]

MAX_TERMS = 32
POSTINGS_BUDGET = 5000  # passages a SQLite query may read (the rarest word always counts)
COMMON = 2000  # a word in more passages than this is left out (unless it is the rarest)

_STOPWORDS = """a about above after again against all am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few
    for from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor not now of off on once only or
    other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your yours
    yourself yourselves s t also many much"""
STOPWORDS = frozenset(_STOPWORDS.split())

_WORD = re.compile(r"[^\W_]+", re.UNICODE)  # letters and digits, as FTS5's unicode61 splits

_SQLITE = (
    "SELECT s.chunk_id, -f.rank AS score FROM search_fts AS f "
    "JOIN search_chunks AS s ON s.seq = f.rowid "
    "WHERE search_fts MATCH :match AND s.dataset_id = :d {filter} ORDER BY f.rank LIMIT :k"
)
_SQLITE_ITEMS = "AND s.chunk_id IN (SELECT id FROM chunks WHERE data_id IN ({ids}))"
_SQLITE_COUNT = (
    "(SELECT count(*) FROM (SELECT rowid FROM search_fts WHERE search_fts MATCH :t{i} LIMIT :cap))"
)

_POSTGRESQL = (
    "SELECT chunk_id, ts_rank_cd(tsv, query, 1) AS score "
    "FROM search_fts, to_tsquery('english', :match) AS query "
    "WHERE dataset_id = :d AND tsv @@ query {filter} ORDER BY score DESC LIMIT :k"
)
_POSTGRESQL_ITEMS = "AND chunk_id IN (SELECT id FROM chunks WHERE data_id = ANY(:items))"
_SQLITE_MATCH = text(_SQLITE.format(filter=""))
_POSTGRESQL_MATCH = text(_POSTGRESQL.format(filter=""))
_POSTGRESQL_MATCH_ITEMS = text(_POSTGRESQL.format(filter=_POSTGRESQL_ITEMS))
_NO_SEQSCAN = text("SET LOCAL enable_seqscan = off")
# The words the column's statistics (ANALYZE's most common lexemes) put in many times more
# passages than COMMON: counting them would read COMMON + 1 postings each (a GIN bitmap of
# all of them, ~4 ms a word at 100,000 chunks) only to learn they are common. Without
# statistics (a table not analyzed yet) every word is counted.
_POSTGRESQL_FREQUENT = text(
    "SELECT t.term FROM unnest(CAST(:terms AS text[])) AS t(term) "
    "CROSS JOIN LATERAL unnest(tsvector_to_array(to_tsvector('english', t.term))) AS l(lexeme) "
    "JOIN pg_stats AS s ON s.schemaname = current_schema() AND s.tablename = 'search_fts' "
    "AND s.attname = 'tsv' "
    "CROSS JOIN LATERAL unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) "
    "AS f(lexeme, frequency) "
    "JOIN pg_class AS c ON c.oid = 'search_fts'::regclass "
    f"WHERE f.lexeme = l.lexeme AND f.frequency * c.reltuples > {4 * COMMON}"
)
_POSTGRESQL_COUNT = (
    "(SELECT count(*) FROM (SELECT 1 FROM search_fts "
    "WHERE tsv @@ to_tsquery('english', :t{i}) LIMIT :cap) AS x{i})"
)


def _folded(word: str) -> str:
    """Case and accents folded, as the index folds them (unicode61, remove_diacritics 2)."""
    word = word.casefold()
    if word.isascii():
        return word
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def query_terms(query: str) -> list[str]:
    """The words a query is matched by: folded, function words dropped (unless nothing else
    is left), each once, in order."""
    words = [_folded(w) for w in _WORD.findall(query)]
    content = [w for w in words if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]
    return list(dict.fromkeys(content or words))[:MAX_TERMS]


def _fts5_string(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _tsquery_operand(term: str) -> str:
    """A word as a to_tsquery operand: quoted, so it is never read as an operator."""
    return "'" + term.replace("'", "''") + "'"


@functools.cache
def _counting(counting: str, terms: int) -> TextClause:
    """The statement counting the postings of this many words (each built once)."""
    return text("SELECT " + ", ".join(counting.format(i=i) for i in range(terms)))


def _within_budget(conn: Connection, terms: list[str]) -> list[str]:
    """The rarest words whose postings together fit the budget (at least one word)."""
    frequency = dict.fromkeys(terms, COMMON + 1)
    if conn.dialect.name == "sqlite":
        counted, counting = terms, _SQLITE_COUNT
        params: dict[str, object] = {f"t{i}": _fts5_string(t) for i, t in enumerate(terms)}
    else:
        common = {row[0] for row in conn.execute(_POSTGRESQL_FREQUENT, {"terms": terms})}
        counted, counting = [t for t in terms if t not in common], _POSTGRESQL_COUNT
        params = {f"t{i}": _tsquery_operand(t) for i, t in enumerate(counted)}
    if counted:
        statement = _counting(counting, len(counted))
        params["cap"] = COMMON + 1
        [counts] = list(conn.execute(statement, params))
        frequency.update(zip(counted, (int(c) for c in counts), strict=True))
    kept: list[str] = []
    postings = 0
    for term in sorted(terms, key=lambda t: frequency[t]):
        count = frequency[term]
        if kept and (count > COMMON or postings + count > POSTINGS_BUDGET):
            break
        kept.append(term)
        postings += count
    return [t for t in terms if t in kept]


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
    sqlite = db.is_sqlite

    def read(conn: Connection) -> list[Any]:
        """The word counts, then the match: one read, one connection."""
        if not sqlite:
            # For a common word PostgreSQL guesses a sequential scan that reads (and
            # decompresses) every row's tsvector until enough match: 5-25 ms a word at
            # 100,000 chunks where the GIN index finds them in a few.
            conn.execute(_NO_SEQSCAN)
        kept = _within_budget(conn, terms)
        params: dict[str, object]
        if sqlite:
            match = " OR ".join(_fts5_string(t) for t in kept)
            where = ""
            if data_ids is not None:
                # Ids as literals: hex digits only (SQLite stores UUIDs so), and SQLite
                # allows few bound parameters.
                where = _SQLITE_ITEMS.format(ids=", ".join(f"'{d.hex}'" for d in data_ids))
            params = {"match": match, "d": dataset_id.hex, "k": k}
            statement = text(_SQLITE.format(filter=where)) if where else _SQLITE_MATCH
            return list(conn.execute(statement, params))
        match = " | ".join(_tsquery_operand(t) for t in kept)
        params = {"match": match, "d": dataset_id, "k": k}
        where = ""
        if data_ids is not None:
            where, params["items"] = _POSTGRESQL_ITEMS, list(data_ids)
        statement = _POSTGRESQL_MATCH_ITEMS if data_ids is not None else _POSTGRESQL_MATCH
        return list(conn.execute(statement, params))

    rows = await db.run_read(read)
    return [(uuid.UUID(str(chunk_id)), float(score)) for chunk_id, score in rows]
