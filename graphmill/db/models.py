"""ORM models: the store of record. Handlers never see these; services map them to DTOs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import numpy as np
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, UserDefinedType, Uuid


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if value is not None and dialect.name == "sqlite":
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    hashed_password: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    is_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The tenant the user works in (None: their own, tenant-less space), as cognee's.
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="SET NULL", use_alter=True)
    )


class Tenant(Base):
    """A team: its owner, its members and its roles; datasets created in it belong to it."""

    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(255))
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TenantMember(Base):
    __tablename__ = "tenant_members"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )

    __table_args__ = (Index("ix_tenant_members_user", "user_id", "tenant_id"),)


class Role(Base):
    """A named group of a tenant's members (`admin` manages the tenant, as cognee's)."""

    __tablename__ = "roles"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_roles_tenant_name"),)


class RoleMember(Base):
    __tablename__ = "role_members"

    role_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )

    __table_args__ = (Index("ix_role_members_user", "user_id", "role_id"),)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(255))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_api_keys_user_id", "user_id"),)


class LoginAttempt(Base):
    """Login attempts in the current window, per account and per client address, kept in
    the store of record so that every API process counts the same attempts. `key` is a
    SHA-256 of the email or address: refused guesses do not leave emails behind."""

    __tablename__ = "login_attempts"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_login_attempts_window", "window_started_at"),)


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The tenant it was created in; only callers working in that tenant see it. The id is
    # derived from (name, owner, tenant), so that triple is unique through the primary key.
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_datasets_owner_name", "owner_id", "name"),)


class Acl(Base):
    """One permission of one principal (a user, a role or a tenant) on one dataset. A role's
    or tenant's rows go with it (`teams.delete_role`); users are never deleted."""

    __tablename__ = "acl"

    principal_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    dataset_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    permission: Mapped[str] = mapped_column(String(16), primary_key=True)

    __table_args__ = (
        Index("ix_acl_dataset_id", "dataset_id"),
        # A caller's datasets with one permission: one index range (status, listings).
        Index("ix_acl_principal", "principal_id", "permission", "dataset_id"),
    )


class AuditEvent(Base):
    """Who changed access, deleted or downloaded what, when, with which credential. No
    foreign keys: the trail outlives the datasets, items, roles and tenants it names."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    credential: Mapped[str] = mapped_column(String(32))
    # The dataset's tenant, the tenant a membership or role belongs to, else the actor's.
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    action: Mapped[str] = mapped_column(String(32))
    dataset_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    data_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    target_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # the user, role or tenant concerned
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        # A manager's view (a tenant's events), a member's (their own in the tenant), the
        # dataset filter, each newest first from one index range; and retention by age.
        Index("ix_audit_events_tenant", "tenant_id", "at"),
        Index("ix_audit_events_actor", "actor_id", "tenant_id", "at"),
        Index("ix_audit_events_dataset", "dataset_id", "at"),
        Index("ix_audit_events_at", "at"),
        {"sqlite_autoincrement": True},
    )


class Blob(Base):
    """One stored object, addressed by the SHA-256 of its bytes."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    location: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Data(Base):
    __tablename__ = "data"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(Text)
    original_name: Mapped[str] = mapped_column(Text)
    extension: Mapped[str] = mapped_column(String(64))
    mime_type: Mapped[str] = mapped_column(String(255))
    content_hash: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    size: Mapped[int] = mapped_column(BigInteger)
    label: Mapped[str | None] = mapped_column(Text)
    external_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    node_set: Mapped[list[str] | None] = mapped_column(JSON)
    token_count: Mapped[int] = mapped_column(Integer, default=-1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("dataset_id", "content_hash", name="uq_data_dataset_content"),
        Index("ix_data_content_hash", "content_hash"),
    )


class RunState(StrEnum):
    """A pipeline run: queued -> running -> completed | completed_with_errors | failed |
    cancelled (a lost lease sends running back to queued)."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ItemState(StrEnum):
    """A data item in one pipeline: pending -> processing -> completed | failed | cancelled."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED_DUPLICATE = "skipped_duplicate"
    CANCELLED = "cancelled"


class Permission(StrEnum):
    """What a principal may do with a dataset; its creator holds all four."""

    READ = "read"
    WRITE = "write"
    DELETE = "delete"
    SHARE = "share"


class AuditAction(StrEnum):
    """What an audit event records: a change of access, a deletion, or a raw download."""

    PERMISSION_GRANT = "permission.grant"
    PERMISSION_REVOKE = "permission.revoke"
    TENANT_CREATE = "tenant.create"
    TENANT_MEMBER_ADD = "tenant.member.add"
    TENANT_MEMBER_REMOVE = "tenant.member.remove"
    ROLE_CREATE = "role.create"
    ROLE_DELETE = "role.delete"
    ROLE_MEMBER_ADD = "role.member.add"
    ROLE_MEMBER_REMOVE = "role.member.remove"
    DATASET_DELETE = "dataset.delete"
    DATA_DELETE = "data.delete"
    DATA_RAW_DOWNLOAD = "data.raw_download"
    FORGET = "forget"


ACTIVE_RUN_STATES = (RunState.QUEUED, RunState.RUNNING)


class PipelineRun(Base):
    __tablename__ = "pipeline_runs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    pipeline_name: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    total: Mapped[int] = mapped_column(Integer, default=0)
    completed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    tokens_in: Mapped[int] = mapped_column(BigInteger, default=0)
    tokens_out: Mapped[int] = mapped_column(BigInteger, default=0)
    llm_calls: Mapped[int] = mapped_column(Integer, default=0)
    error_class: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # Set when someone asked for the run to execute; a queued run without it is only the
    # "new data is waiting" marker that add leaves, and no executor picks it up.
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # cognee's `data_per_batch`: at most this many of the run's items at once (None: the
    # process's GRAPHMILL_ITEM_CONCURRENCY).
    data_per_batch: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        # Latest run per (dataset, pipeline) is one probe of this index, which also holds the
        # state: the status query never reads the table.
        Index("ix_pipeline_runs_latest", "dataset_id", "pipeline_name", "created_at", "state"),
        # At most one queued-or-running run per (dataset, pipeline), enforced by the database.
        Index(
            "uq_pipeline_runs_active",
            "dataset_id",
            "pipeline_name",
            unique=True,
            sqlite_where=text("state IN ('queued', 'running')"),
            postgresql_where=text("state IN ('queued', 'running')"),
        ),
    )


class ItemStatus(Base):
    """State of one data item in one pipeline."""

    __tablename__ = "item_status"

    data_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("data.id", ondelete="CASCADE"), primary_key=True
    )
    pipeline_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    state: Mapped[str] = mapped_column(String(32))
    stage: Mapped[str | None] = mapped_column(String(64))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error_class: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    tokens_in: Mapped[int] = mapped_column(BigInteger, default=0)
    tokens_out: Mapped[int] = mapped_column(BigInteger, default=0)
    llm_calls: Mapped[int] = mapped_column(Integer, default=0)
    # How many things the item's outputs changed, for pipelines that count them (improve:
    # entities merged away); None otherwise.
    changes: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_item_status_run", "run_id", "state"),)


class StoreReserve(Base):
    """Room held back in the store of record (`graphmill.db.reserve`): one row of bytes."""

    __tablename__ = "store_reserve"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    filler: Mapped[bytes] = mapped_column(LargeBinary)


class Event(Base):
    """One state change of a run or an item, in the order the changes committed."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    run_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    data_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(32))
    body: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_events_dataset", "dataset_id", "id"),)


class _PgVector(UserDefinedType[Any]):
    """pgvector's `vector`, values passed as numpy arrays to asyncpg's registered codec."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "vector"


class Embedding(TypeDecorator[Any]):
    """A float32 vector: pgvector's `vector` on PostgreSQL, raw float32 bytes on SQLite."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(_PgVector())
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        array = np.asarray(value, dtype=np.float32)
        return array if dialect.name == "postgresql" else array.tobytes()

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, bytes | bytearray | memoryview):
            return np.frombuffer(bytes(value), dtype=np.float32)
        if hasattr(value, "to_numpy"):  # pgvector.Vector from asyncpg's codec
            value = value.to_numpy()
        return np.asarray(value, dtype=np.float32)


class Chunk(Base):
    """A piece of a data item's text, the unit that extraction and embedding work on."""

    __tablename__ = "chunks"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    data_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data.id", ondelete="CASCADE"))
    content_hash: Mapped[str] = mapped_column(String(64))
    idx: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    token_count: Mapped[int] = mapped_column(Integer)
    text_hash: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("data_id", "idx", name="uq_chunks_data_idx"),
        Index("ix_chunks_dataset", "dataset_id"),
    )


class ExtractedText(Base):
    """A document's text, stored once per content hash and loader version."""

    __tablename__ = "texts"

    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    loader_version: Mapped[str] = mapped_column(String(32), primary_key=True)
    loader: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DerivedCache(Base):
    """Validated results of paid or slow work (LLM extraction, summaries), keyed by the
    hash of their input, the model and the prompt version: never paid for twice."""

    __tablename__ = "derived_cache"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EmbeddingCache(Base):
    """A text's vector under one model, reused by every dataset."""

    __tablename__ = "embedding_cache"

    text_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(255), primary_key=True)
    embedding: Mapped[Any] = mapped_column(Embedding)


class DatasetConfig(Base):
    """Per-dataset settings: the graph schema and prompt for extraction, and the embedding
    model and dimension the dataset's vectors were made with."""

    __tablename__ = "dataset_configs"

    dataset_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    graph_schema: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    custom_prompt: Mapped[str | None] = mapped_column(Text)
    embedding_model: Mapped[str | None] = mapped_column(String(255))
    embedding_dimension: Mapped[int | None] = mapped_column(Integer)
    # cognify's `chunk_size` and `chunks_per_batch` options, kept for the dataset's runs.
    chunk_size: Mapped[int | None] = mapped_column(Integer)
    chunks_per_batch: Mapped[int | None] = mapped_column(Integer)


class DocumentSummary(Base):
    __tablename__ = "document_summaries"

    data_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("data.id", ondelete="CASCADE"), primary_key=True
    )
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)


class Node(Base):
    """An entity of a dataset's graph: one per (normalised name, type)."""

    __tablename__ = "nodes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(512))
    name: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    mentions: Mapped[int] = mapped_column(Integer, default=0)
    embedding: Mapped[Any] = mapped_column(Embedding, nullable=True)

    __table_args__ = (UniqueConstraint("dataset_id", "key", name="uq_nodes_dataset_key"),)


class NodeSource(Base):
    """Provenance: a data item that supports a node, with what it said about it."""

    __tablename__ = "node_sources"

    node_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True
    )
    data_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("data.id", ondelete="CASCADE"), primary_key=True
    )
    mentions: Mapped[int] = mapped_column(Integer, default=1)
    description: Mapped[str] = mapped_column(Text, default="")

    # Graph retrieval reads (node, item, mentions) from an item's or a node's side: by item
    # from this covering index, by node from the key (on SQLite the table is one B-tree in
    # the key's order, WITHOUT ROWID: a row written is one page fewer in two fewer B-trees).
    __table_args__ = (
        Index("ix_node_sources_data", "data_id", "node_id", "mentions"),
        {"sqlite_with_rowid": False},
    )


class Edge(Base):
    """A typed relation between two nodes of one dataset."""

    __tablename__ = "edges"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    source_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    target_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    relation: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    mentions: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        UniqueConstraint(
            "dataset_id", "source_id", "target_id", "relation", name="uq_edges_dataset_triple"
        ),
        Index("ix_edges_source", "source_id"),
        Index("ix_edges_target", "target_id"),
    )


class EdgeSource(Base):
    __tablename__ = "edge_sources"

    edge_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("edges.id", ondelete="CASCADE"), primary_key=True
    )
    data_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("data.id", ondelete="CASCADE"), primary_key=True
    )
    mentions: Mapped[int] = mapped_column(Integer, default=1)
    description: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_edge_sources_data", "data_id"), {"sqlite_with_rowid": False})


class ChunkVector(Base):
    """A chunk's embedding (the chunk row cascades it away)."""

    __tablename__ = "chunk_vectors"

    chunk_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("chunks.id", ondelete="CASCADE"), primary_key=True
    )
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(255))
    dimension: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[Any] = mapped_column(Embedding)

    __table_args__ = (Index("ix_chunk_vectors_dataset", "dataset_id"),)


class SearchChunk(Base):
    """Search's entry for a chunk, written by database triggers on `chunks` (migration 0005).

    `seq` only grows (AUTOINCREMENT: never reused), and on SQLite entries are numbered in
    commit order (one writer at a time): a process's in-memory copy of a dataset's vectors is
    brought up to date by reading the entries after the last one it holds. On SQLite the
    full-text index (`search_fts`, FTS5) is keyed by `seq`; on PostgreSQL it is keyed by the
    chunk id and this table stays empty (pgvector serves vectors from the store).
    """

    __tablename__ = "search_chunks"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    chunk_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    dataset_id: Mapped[uuid.UUID] = mapped_column(Uuid)

    __table_args__ = (
        Index("ix_search_chunks_dataset", "dataset_id", "seq"),
        {"sqlite_autoincrement": True},
    )


class SearchNode(Base):
    """Search's entry for a node (entity), written by triggers on `nodes` (SQLite): as
    `SearchChunk`, the log that in-memory copies of entity vectors follow."""

    __tablename__ = "search_nodes"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    node_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    dataset_id: Mapped[uuid.UUID] = mapped_column(Uuid)

    __table_args__ = (
        Index("ix_search_nodes_dataset", "dataset_id", "seq"),
        {"sqlite_autoincrement": True},
    )


class SearchHistory(Base):
    """A user's search log: each query (`role` "user") and each dataset's answer to it
    ("system"), as cognee's `GET /api/v1/search` shows them."""

    __tablename__ = "search_history"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    query_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # an answer's query
    # An answer goes with its dataset: it quotes the dataset's content.
    dataset_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE")
    )
    role: Mapped[str] = mapped_column(String(16))
    search_type: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_search_history_user", "user_id", "created_at"),)


class SessionEntry(Base):
    """One remembered session entry (cognee's session cache, kept in the store of record):
    a QA turn ("qa") or an agent trace step ("trace"), per user and client-chosen session
    id. Feedback updates its QA entry; `improved_at` marks a QA folded into the graph."""

    __tablename__ = "session_entries"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    session_id: Mapped[str] = mapped_column(String(255))
    dataset_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE")
    )
    entry_type: Mapped[str] = mapped_column(String(16))
    question: Mapped[str] = mapped_column(Text, default="")
    answer: Mapped[str] = mapped_column(Text, default="")
    context: Mapped[str] = mapped_column(Text, default="")
    feedback_text: Mapped[str | None] = mapped_column(Text)
    feedback_score: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    improved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_session_entries_user_session", "user_id", "session_id", "created_at"),
        Index("ix_session_entries_dataset", "dataset_id"),
    )


class UserConfiguration(Base):
    """A named configuration a user stored (cognee's PrincipalConfiguration: the web
    frontend keeps its graph models, prompts and pipeline settings here)."""

    __tablename__ = "user_configurations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    configuration: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("owner_id", "name"),)
