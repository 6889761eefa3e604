"""Dataset permissions: read, write, delete, share.

A dataset the caller cannot read does not exist for them: every check raises DatasetNotFound
then, and PermissionDenied only when the caller can read but lacks the asked permission.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from graphmill.db import Database, dialect_insert
from graphmill.db.models import Acl, Dataset, Permission, User
from graphmill.errors import (
    DatasetNotFound,
    InvalidInput,
    InvalidPermission,
    PermissionDenied,
    UserNotFound,
)

PERMISSIONS = tuple(p.value for p in Permission)


def check_permission_name(name: str) -> Permission:
    if name not in PERMISSIONS:
        raise InvalidPermission(
            f"{name} not found or not in allowed permission types {list(PERMISSIONS)}"
        )
    return Permission(name)


def readable_dataset_ids(
    user_id: uuid.UUID, permission: Permission = Permission.READ
) -> Select[Any]:
    """Query for the ids of datasets on which the user holds a permission."""
    return select(Acl.dataset_id).where(Acl.principal_id == user_id, Acl.permission == permission)


async def held_permissions(
    session: AsyncSession, user_id: uuid.UUID, dataset_id: uuid.UUID
) -> set[str]:
    rows = await session.scalars(
        select(Acl.permission).where(Acl.principal_id == user_id, Acl.dataset_id == dataset_id)
    )
    return set(rows)


async def authorize(
    session: AsyncSession, user_id: uuid.UUID, dataset_id: uuid.UUID, permission: Permission
) -> Dataset:
    """The dataset, if the user may use it as asked; DatasetNotFound or PermissionDenied."""
    held = await held_permissions(session, user_id, dataset_id)
    dataset = await session.get(Dataset, dataset_id) if Permission.READ in held else None
    if dataset is None:
        raise DatasetNotFound()
    if permission not in held:
        raise PermissionDenied(permission)
    return dataset


async def grant_all(session: AsyncSession, user_id: uuid.UUID, dataset_id: uuid.UUID) -> None:
    """Give a dataset's creator every permission on it."""
    rows = [
        {"principal_id": user_id, "dataset_id": dataset_id, "permission": p} for p in Permission
    ]
    await session.execute(dialect_insert(session)(Acl).values(rows).on_conflict_do_nothing())


async def set_permission(
    db: Database,
    caller_id: uuid.UUID,
    principal_id: uuid.UUID,
    dataset_ids: Iterable[uuid.UUID],
    permission: str,
    *,
    granted: bool,
) -> None:
    """Grant or revoke one permission on datasets the caller may share; all or nothing. A
    grant needs the caller to hold the permission granted (PermissionDenied otherwise)."""
    wanted = check_permission_name(permission)
    ids = list(dict.fromkeys(dataset_ids))
    async with db.write() as session:
        datasets = [await authorize(session, caller_id, d, Permission.SHARE) for d in ids]
        if await session.get(User, principal_id) is None:
            raise UserNotFound()
        if not granted and any(d.owner_id == principal_id for d in datasets):
            raise InvalidInput("A dataset's owner always holds every permission on it.")
        if not ids:
            return
        if granted:
            # Sharing passes on what the caller holds, never more: `share` alone does not let
            # anyone (themselves included) gain write or delete.
            for d in ids:
                await authorize(session, caller_id, d, wanted)
            rows = [
                {"principal_id": principal_id, "dataset_id": d, "permission": wanted} for d in ids
            ]
            await session.execute(
                dialect_insert(session)(Acl).values(rows).on_conflict_do_nothing()
            )
        else:
            await session.execute(
                delete(Acl).where(
                    Acl.principal_id == principal_id,
                    Acl.dataset_id.in_(ids),
                    Acl.permission == wanted,
                )
            )
