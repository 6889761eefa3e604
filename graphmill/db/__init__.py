"""The store of record: engine and sessions, ORM models, Alembic migrations."""

from graphmill.db.engine import Database, dialect_insert
from graphmill.db.migrate import migrate

__all__ = ["Database", "dialect_insert", "migrate"]
