"""Migrations produce exactly the schema the models describe, on both databases."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pgvector.sqlalchemy  # noqa: F401  (teaches reflection the `vector` type)
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from graphmill.config import Settings
from graphmill.db import Database, migrate
from graphmill.db.migrate import alembic_config
from graphmill.db.models import Base


def _ours(name: str | None, type_: str, parent_names: Any) -> bool:
    """procrastinate's own tables live beside ours and follow its own migrations; vector and
    full-text indexes are made per backend by migrations (0003, 0005), outside the models."""
    return not (name or "").startswith(
        ("procrastinate", "ix_chunk_vectors_hnsw", "ix_nodes_hnsw", "search_fts")
    )


def _diff(settings: Settings) -> list[Any]:
    async def run() -> list[Any]:
        db = Database(settings.sqlalchemy_url)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        await migrate(db, settings.data_dir)
        await migrate(db, settings.data_dir)  # idempotent
        async with db.engine.connect() as conn:

            def compare(sync_conn: Any) -> list[Any]:
                context = MigrationContext.configure(
                    sync_conn, opts={"compare_type": True, "include_name": _ours}
                )
                return list(compare_metadata(context, Base.metadata))

            diff = await conn.run_sync(compare)
        await db.dispose()
        return diff

    return asyncio.run(run())


def test_migrations_match_models(settings: Settings) -> None:
    assert _diff(settings) == []


def test_concurrent_migrations_of_an_empty_store_are_safe(
    settings_factory: Any, backend: str, request: Any
) -> None:
    overrides = {}
    if backend == "postgresql-s3":
        pg = request.getfixturevalue("pg")
        overrides["database_url"] = pg.create_database(request, "template0")
    settings = settings_factory(**overrides)

    async def run() -> None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        dbs = [Database(settings.sqlalchemy_url) for _ in range(3)]
        await asyncio.gather(*(migrate(db, settings.data_dir) for db in dbs))
        for db in dbs:
            await db.dispose()

    asyncio.run(run())
    assert _diff(settings) == []


def test_provenance_tables_are_rebuilt_without_rowid_keeping_their_rows(tmp_path: Path) -> None:
    """Migration 0013 on a SQLite store holding provenance: each table becomes one B-tree in
    its key's order, every row and the index by item kept, the index by node gone; its
    downgrade gives the tables of 0012 back with the same rows."""
    engine = create_engine(f"sqlite:///{tmp_path / 'graphmill.db'}")
    rows = {
        "node_sources": [(uuid.uuid4().hex, uuid.uuid4().hex, n, f"said {n}") for n in range(50)],
        "edge_sources": [(uuid.uuid4().hex, uuid.uuid4().hex, n, f"rel {n}") for n in range(50)],
    }

    def to(revision: str, step: Callable[[Config, str], None] = command.upgrade) -> None:
        with engine.begin() as conn:
            step(alembic_config(conn), revision)

    def state() -> dict[str, Any]:
        with engine.connect() as conn:
            tables = dict(conn.exec_driver_sql("SELECT name, sql FROM sqlite_master").all())
            return {
                "rows": {
                    name: sorted(conn.exec_driver_sql(f"SELECT * FROM {name}").all())
                    for name in rows
                },
                "without_rowid": {name: "WITHOUT ROWID" in tables[name] for name in rows},
                "indexes": {i for i in tables if i.startswith("ix_") and "_sources_" in i},
            }

    try:
        to("0012")
        with engine.begin() as conn:  # foreign keys are off on this connection
            for name, values in rows.items():
                conn.exec_driver_sql(f"INSERT INTO {name} VALUES (?, ?, ?, ?)", values)
        before = state()
        to("0013")
        after = state()
        to("0012", command.downgrade)
        back = state()
    finally:
        engine.dispose()
    expected = {name: sorted(values) for name, values in rows.items()}
    assert before["rows"] == after["rows"] == back["rows"] == expected
    assert before["without_rowid"] == back["without_rowid"] == {n: False for n in rows}
    assert after["without_rowid"] == {n: True for n in rows}
    assert (
        before["indexes"]
        == back["indexes"]
        == {
            "ix_node_sources_data",
            "ix_node_sources_node",
            "ix_edge_sources_data",
        }
    )
    assert after["indexes"] == {"ix_node_sources_data", "ix_edge_sources_data"}
