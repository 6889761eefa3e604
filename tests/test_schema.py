"""Migrations produce exactly the schema the models describe, on both databases."""

from __future__ import annotations

import asyncio
from typing import Any

import pgvector.sqlalchemy  # noqa: F401  (teaches reflection the `vector` type)
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from graphmill.config import Settings
from graphmill.db import Database, migrate
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
