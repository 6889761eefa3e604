"""Derived work kept by content, so nothing is computed or paid for twice, in any dataset:
a document's text (by its bytes' hash, the loader and its version), LLM results (by input text,
model, prompt version and schema) and vectors (by text and model).

Lookups take a whole item's keys at once (primary-key probes, run on the event loop:
`Database.run_read(inline=True)`); writes are one statement each. Paid results
(LLM answers) commit with the item that paid for them, or on their own as soon as its
attempt fails (`ItemContext.keep`); text and vectors commit with the item that made them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, String, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from graphmill.db import Bulk, Database, bind_strings, in_ids
from graphmill.db.models import DerivedCache, EmbeddingCache, ExtractedText, utcnow

LOOKUP_BATCH = 500  # keys per IN (...) list


def cache_key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


_TEXT = select(ExtractedText.text).where(
    ExtractedText.content_hash == bindparam("content_hash"),
    ExtractedText.loader_version == bindparam("loader_version"),
)
# Lookups: every key bound as one array parameter (`in_ids`), so each statement is compiled
# once per dialect rather than rendered anew for every number of keys.
_RESULTS = {
    dialect: select(DerivedCache.key, DerivedCache.value).where(
        in_ids(DerivedCache.key, "keys", dialect == "sqlite", String)
    )
    for dialect in ("sqlite", "postgresql")
}
_VECTORS = {
    dialect: select(EmbeddingCache.text_hash, EmbeddingCache.embedding).where(
        EmbeddingCache.model == bindparam("model"),
        in_ids(EmbeddingCache.text_hash, "hashes", dialect == "sqlite", String),
    )
    for dialect in ("sqlite", "postgresql")
}

# Writes: one statement per table and dialect, built once and run with a list of rows as
# one DBAPI executemany (a multi-row VALUES would be compiled anew for every number of rows).
_KEEP: dict[str, dict[type, Bulk]] = {
    dialect: {
        ExtractedText: Bulk(
            insert(ExtractedText).on_conflict_do_nothing(),
            ["content_hash", "loader_version", "loader", "text", "created_at"],
        ),
        DerivedCache: Bulk(
            insert(DerivedCache).on_conflict_do_nothing(index_elements=["key"]),
            ["key", "kind", "value", "created_at"],
        ),
        EmbeddingCache: Bulk(
            insert(EmbeddingCache).on_conflict_do_nothing(), ["text_hash", "model", "embedding"]
        ),
    }
    for dialect, insert in (("sqlite", sqlite.insert), ("postgresql", postgresql.insert))
}


async def stored_text(db: Database, content_hash: str, loader_version: str) -> str | None:
    """The text kept for these bytes; `loader_version` names the loader too ("1:html")."""
    text = await db.read_scalar(
        _TEXT, {"content_hash": content_hash, "loader_version": loader_version}, inline=True
    )
    return str(text) if text is not None else None


def store_text(
    conn: Connection, content_hash: str, loader_version: str, loader: str, text: str
) -> None:
    """In the caller's transaction (the item's completion: text is cheap to redo)."""
    row = {
        "content_hash": content_hash,
        "loader_version": loader_version,
        "loader": loader,
        "text": text,
        "created_at": utcnow(),
    }
    _KEEP[conn.dialect.name][ExtractedText].execute(conn, [row])


async def cached_results(db: Database, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The stored results among `keys`."""
    wanted = list(dict.fromkeys(keys))
    found: dict[str, dict[str, Any]] = {}
    sqlite = db.is_sqlite
    for start in range(0, len(wanted), LOOKUP_BATCH):
        batch = {"keys": bind_strings(wanted[start : start + LOOKUP_BATCH], sqlite)}
        rows = await db.read_rows(_RESULTS[db.backend], batch, inline=True)
        found.update((key, value) for key, value in rows)
    return found


async def store_results(db: Database, results: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
    """Keep (key, kind, value) results at once, in a transaction of their own."""
    if results:
        await db.run(lambda conn: keep_results(conn, results))


def keep_results(conn: Connection, results: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
    """Keep (key, kind, value) results in the caller's transaction (a cognify item's
    completion, or on their own when it fails: `ItemContext.keep`)."""
    unique = {key: (kind, value) for key, kind, value in results}
    if not unique:
        return
    now = utcnow()
    rows = [
        {"key": k, "kind": kind, "value": v, "created_at": now} for k, (kind, v) in unique.items()
    ]
    _KEEP[conn.dialect.name][DerivedCache].execute(conn, rows)


async def cached_vectors(
    db: Database, model: str, text_hashes: Iterable[str]
) -> dict[str, npt.NDArray[np.float32]]:
    """The stored vectors of `model` among the texts' hashes."""
    wanted = list(dict.fromkeys(text_hashes))
    found: dict[str, npt.NDArray[np.float32]] = {}
    for start in range(0, len(wanted), LOOKUP_BATCH):
        hashes = bind_strings(wanted[start : start + LOOKUP_BATCH], db.is_sqlite)
        rows = await db.read_rows(
            _VECTORS[db.backend], {"model": model, "hashes": hashes}, inline=True
        )
        found.update((h, v) for h, v in rows)
    return found


def store_vectors(
    conn: Connection, model: str, vectors: dict[str, npt.NDArray[np.float32]]
) -> None:
    """In the caller's transaction (the item's completion, which also writes the vectors)."""
    if not vectors:
        return
    rows = [{"text_hash": h, "model": model, "embedding": v} for h, v in vectors.items()]
    _KEEP[conn.dialect.name][EmbeddingCache].execute(conn, rows)
