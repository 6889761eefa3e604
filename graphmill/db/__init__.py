"""The store of record: engine and sessions, ORM models, Alembic migrations."""

from graphmill.db.engine import (
    Bulk,
    Database,
    advisory_key,
    bind_ids,
    bind_strings,
    dialect_insert,
    in_ids,
    lock_dataset,
    lock_dataset_in,
    retrying,
)
from graphmill.db.migrate import migrate

__all__ = [
    "Bulk",
    "Database",
    "advisory_key",
    "bind_ids",
    "bind_strings",
    "dialect_insert",
    "in_ids",
    "lock_dataset",
    "lock_dataset_in",
    "migrate",
    "retrying",
]
