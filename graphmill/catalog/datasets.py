"""Datasets: naming, creation, listing, deletion."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from graphmill.auth.audit import record
from graphmill.auth.permissions import authorize, check_permission_name, grant_all, visible_ids
from graphmill.auth.teams import principal_scope
from graphmill.auth.users import UserInfo
from graphmill.blobs import BlobStore
from graphmill.catalog.data import collect_garbage
from graphmill.db import Database, lock_dataset
from graphmill.db.models import (
    Acl,
    AuditAction,
    Data,
    Dataset,
    DatasetConfig,
    Permission,
    utcnow,
)
from graphmill.errors import InvalidDatasetName

_BAD_NAME = re.compile(r"[\s.\x00-\x1f\x7f/\\]")


@dataclass(frozen=True)
class DatasetInfo:
    id: uuid.UUID
    name: str
    owner_id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    tenant_id: uuid.UUID | None = None

    @classmethod
    def of(cls, row: Dataset) -> DatasetInfo:
        return cls(row.id, row.name, row.owner_id, row.created_at, row.updated_at, row.tenant_id)


def dataset_id_for(name: str, owner_id: uuid.UUID, tenant_id: uuid.UUID | None) -> uuid.UUID:
    """cognee's dataset id: uuid5(OID, name + owner id + tenant id, where no tenant is "None")."""
    return uuid.uuid5(uuid.NAMESPACE_OID, f"{name}{owner_id}{tenant_id}")


def check_dataset_name(name: str) -> str:
    if not name or len(name) > 255:
        raise InvalidDatasetName("Dataset name must be 1 to 255 characters long.")
    if _BAD_NAME.search(name):
        raise InvalidDatasetName(
            "Dataset name cannot contain spaces or dots (nor slashes or control characters)."
        )
    return name


async def ensure_owned_dataset(session: AsyncSession, owner: UserInfo, name: str) -> Dataset:
    """The caller's dataset of this name in the tenant they work in, created (with all
    permissions) if missing. Its id is derived from name, owner and tenant (cognee's rule)."""
    check_dataset_name(name)
    dataset_id = dataset_id_for(name, owner.id, owner.tenant_id)
    existing = await session.get(Dataset, dataset_id)
    if existing is not None:
        return existing
    row = Dataset(id=dataset_id, name=name, owner_id=owner.id, tenant_id=owner.tenant_id)
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        # Created concurrently by another request: the first row wins.
        existing = await session.get(Dataset, dataset_id, populate_existing=True)
        assert existing is not None
        return existing
    await grant_all(session, owner.id, row.id)
    return row


async def create_dataset(db: Database, owner: UserInfo, name: str) -> DatasetInfo:
    """Idempotent by owned name."""
    async with db.write() as session:
        return DatasetInfo.of(await ensure_owned_dataset(session, owner, name))


async def list_datasets(db: Database, user: UserInfo) -> list[DatasetInfo]:
    """Every dataset the user can read in the tenant they work in, including shared ones."""
    async with db.read() as session:
        rows = await session.scalars(
            select(Dataset).where(Dataset.id.in_(visible_ids(user))).order_by(Dataset.created_at)
        )
        return [DatasetInfo.of(r) for r in rows]


async def principal_datasets(
    db: Database, caller: UserInfo, principal_id: uuid.UUID, permission: str
) -> list[DatasetInfo]:
    """Datasets of the caller's tenant on which a user, role or tenant holds a permission
    directly (`GET /permissions/principals/{id}/datasets`)."""
    wanted = check_permission_name(permission)
    async with db.read() as session:
        tenant_id = await principal_scope(session, caller, principal_id)
        rows = await session.scalars(
            select(Dataset)
            .join(Acl, Acl.dataset_id == Dataset.id)
            .where(
                Acl.principal_id == principal_id,
                Acl.permission == wanted,
                Dataset.tenant_id == tenant_id,
            )
            .order_by(Dataset.created_at)
        )
        return [DatasetInfo.of(r) for r in rows]


async def get_dataset(
    db: Database,
    user: UserInfo,
    dataset_id: uuid.UUID,
    permission: Permission = Permission.READ,
) -> DatasetInfo:
    async with db.read() as session:
        return DatasetInfo.of(await authorize(session, user, dataset_id, permission))


async def delete_dataset(
    db: Database,
    blobs: BlobStore,
    user: UserInfo,
    dataset_id: uuid.UUID,
    *,
    action: AuditAction = AuditAction.DATASET_DELETE,
    detail: dict[str, Any] | None = None,
) -> None:
    """Delete a dataset, its data and its runs, recorded as `action`; blobs no other data
    uses go too."""
    async with db.write() as session:
        dataset = await authorize(session, user, dataset_id, Permission.DELETE)
        await lock_dataset(session, dataset_id)  # after any item completing right now
        hashes = set(
            await session.scalars(
                select(Data.content_hash).where(Data.dataset_id == dataset_id).distinct()
            )
        )
        record(
            session, user, action, dataset=dataset, detail={"name": dataset.name} | (detail or {})
        )
        await session.delete(dataset)
    await collect_garbage(db, blobs, hashes, defer_failure=True)


async def delete_all_datasets(db: Database, blobs: BlobStore, user: UserInfo) -> None:
    """Delete every dataset the user may delete."""
    async with db.read() as session:
        ids = list(await session.scalars(visible_ids(user, Permission.DELETE)))
    for dataset_id in ids:
        await delete_dataset(db, blobs, user, dataset_id)


async def touch_dataset(session: AsyncSession, dataset_id: uuid.UUID) -> None:
    dataset = await session.get(Dataset, dataset_id)
    if dataset is not None:
        dataset.updated_at = utcnow()


@dataclass(frozen=True)
class DatasetConfigInfo:
    graph_schema: dict[str, Any] | None
    custom_prompt: str | None
    embedding_model: str | None
    embedding_dimension: int | None


async def get_config(db: Database, user: UserInfo, dataset_id: uuid.UUID) -> DatasetConfigInfo:
    async with db.read() as session:
        await authorize(session, user, dataset_id, Permission.READ)
        row = await session.get(DatasetConfig, dataset_id)
    if row is None:
        return DatasetConfigInfo(None, None, None, None)
    return DatasetConfigInfo(
        row.graph_schema, row.custom_prompt, row.embedding_model, row.embedding_dimension
    )


async def set_config(
    db: Database,
    user: UserInfo,
    dataset_id: uuid.UUID,
    graph_schema: dict[str, Any] | None,
    custom_prompt: str | None,
    *,
    chunk_size: int | None = None,
    chunks_per_batch: int | None = None,
) -> None:
    """Change the extraction schema, prompt, chunk size or chunks per batch (needs write);
    None leaves one as is."""
    async with db.write() as session:
        await authorize(session, user, dataset_id, Permission.WRITE)
        row = await session.get(DatasetConfig, dataset_id)
        if row is None:
            row = DatasetConfig(dataset_id=dataset_id)
            session.add(row)
        if graph_schema is not None:
            row.graph_schema = graph_schema
        if custom_prompt is not None:
            row.custom_prompt = custom_prompt
        if chunk_size is not None:
            row.chunk_size = chunk_size
        if chunks_per_batch is not None:
            row.chunks_per_batch = chunks_per_batch
