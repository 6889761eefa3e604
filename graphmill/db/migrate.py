"""Apply Alembic migrations at start: idempotent, and safe when two processes start at once."""

from __future__ import annotations

import fcntl
import logging
from pathlib import Path
from typing import Any

import anyio
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from graphmill.db.engine import Database

log = logging.getLogger("graphmill.db")

MIGRATIONS = Path(__file__).parent / "migrations"
# An arbitrary constant: the PostgreSQL advisory lock that serialises migrations.
MIGRATION_LOCK_ID = 0x6772_6D69_6C6C


def alembic_config(connection: Any) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Any) -> None:
    command.upgrade(alembic_config(connection), "head")


async def _apply_procrastinate_schema(conn: Any) -> None:
    """procrastinate's tables, once: its task queue shares the store of record."""
    from procrastinate.schema import SchemaManager

    present = await conn.scalar(text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL"))
    if present:
        return
    raw = await conn.get_raw_connection()
    await raw.driver_connection.execute(SchemaManager.get_schema())


def _migrate_sqlite(sync_url: str, lock_path: Path) -> None:
    with open(lock_path, "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        engine = create_engine(sync_url)
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
                _upgrade(conn)
        finally:
            engine.dispose()


async def migrate(db: Database, lock_dir: Path) -> None:
    """Bring the schema to the latest revision, holding a cross-process lock while doing so."""
    if db.is_sqlite:
        sync_url = db.url.replace("sqlite+aiosqlite", "sqlite", 1)
        await anyio.to_thread.run_sync(_migrate_sqlite, sync_url, lock_dir / "migrate.lock")
        return
    async with db.engine.connect() as conn:
        await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_ID})
        try:
            await conn.run_sync(_upgrade)
            await conn.commit()
            await _apply_procrastinate_schema(conn)
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_ID})
            await conn.commit()
    await db.reset_pool()
    log.info("migrations applied", extra={"action": "migrate"})
