"""Dataset permissions: read, write, delete, share, held by a user, a role or a tenant.

A dataset the caller cannot read does not exist for them: every check raises DatasetNotFound
then, and PermissionDenied only when the caller can read but lacks the asked permission.
A grant to a role or a tenant reaches its members; only datasets of the tenant the caller
works in are visible (cognee's rule).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import CompoundSelect, Uuid, cast, delete, exists, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from graphmill.auth.audit import record
from graphmill.auth.users import UserInfo
from graphmill.db import Database, dialect_insert
from graphmill.db.models import (
    Acl,
    AuditAction,
    Dataset,
    Permission,
    Role,
    RoleMember,
    Tenant,
    TenantMember,
    User,
)
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


def principal_ids(user_id: Any) -> CompoundSelect:
    """The principals a user acts as: themselves, their roles and their tenants. Leaving a
    tenant or a role takes its grants away at once: memberships are read on every check."""
    return union_all(
        select(cast(user_id, Uuid)),
        select(RoleMember.role_id).where(RoleMember.user_id == user_id),
        select(TenantMember.tenant_id).where(TenantMember.user_id == user_id),
    )


def _grants(columns: Any, user_id: Any, tenant_id: Any) -> Select[Any]:
    """ACL rows that reach the user in the tenant they work in (`tenant_id`, None for their
    tenant-less space): to them, one of their roles or one of their tenants. A tenant's
    datasets need the user to be its member now: the tenant a caller works in may be stale
    (another process's user cache, a selection racing a removal), a membership never is."""
    member = exists().where(
        TenantMember.tenant_id == Dataset.tenant_id, TenantMember.user_id == user_id
    )
    return (
        select(columns)
        .join(Dataset, Dataset.id == Acl.dataset_id)
        .where(
            Acl.principal_id.in_(principal_ids(user_id)),
            Dataset.tenant_id.is_not_distinct_from(tenant_id),
            or_(Dataset.tenant_id.is_(None), member),
        )
    )


def readable_dataset_ids(
    user_id: Any, tenant_id: Any, permission: Permission = Permission.READ
) -> Select[Any]:
    """The access rule, the one query every path uses: ids of the datasets on which the user
    holds `permission` in the tenant they work in. Values or bind parameters."""
    return (
        _grants(Acl.dataset_id, user_id, tenant_id).where(Acl.permission == permission).distinct()
    )


def visible_ids(user: UserInfo, permission: Permission = Permission.READ) -> Select[Any]:
    """`readable_dataset_ids` for a caller."""
    return readable_dataset_ids(user.id, user.tenant_id, permission)


async def _readable(
    session: AsyncSession, user: UserInfo, dataset_id: uuid.UUID
) -> tuple[Dataset, set[str]]:
    """The dataset and the permissions the user holds on it; DatasetNotFound if it cannot
    read it."""
    grants = _grants(Acl.permission, user.id, user.tenant_id)
    held = set(await session.scalars(grants.where(Acl.dataset_id == dataset_id)))
    dataset = await session.get(Dataset, dataset_id) if Permission.READ in held else None
    if dataset is None:
        raise DatasetNotFound()
    return dataset, held


async def authorize(
    session: AsyncSession, user: UserInfo, dataset_id: uuid.UUID, permission: Permission
) -> Dataset:
    """The dataset, if the user may use it as asked; DatasetNotFound or PermissionDenied."""
    dataset, held = await _readable(session, user, dataset_id)
    if permission not in held:
        raise PermissionDenied(permission)
    return dataset


async def is_principal(
    session: AsyncSession, principal_id: uuid.UUID, tenant_id: uuid.UUID | None
) -> bool:
    """Whether the id names a user, or a role of the tenant or the tenant itself: another
    tenant's role or the tenant is no principal for its datasets (and its existence is not
    told)."""
    found = [
        exists().where(User.id == principal_id),
        exists().where(Role.id == principal_id, Role.tenant_id == tenant_id),
        exists().where(Tenant.id == principal_id, Tenant.id == tenant_id),
    ]
    return bool(await session.scalar(select(or_(*found))))


async def grant_all(session: AsyncSession, user_id: uuid.UUID, dataset_id: uuid.UUID) -> None:
    """Give a dataset's creator every permission on it."""
    rows = [
        {"principal_id": user_id, "dataset_id": dataset_id, "permission": p} for p in Permission
    ]
    await session.execute(dialect_insert(session)(Acl).values(rows).on_conflict_do_nothing())


async def set_permission(
    db: Database,
    caller: UserInfo,
    principal_id: uuid.UUID,
    dataset_ids: Iterable[uuid.UUID],
    permission: str,
    *,
    granted: bool,
) -> None:
    """Grant or revoke one permission on datasets the caller may share (all in the tenant the
    caller works in, to a user or a role or the tenant of it); all or nothing, one
    audit event per dataset. A grant needs the caller to hold the permission granted
    (PermissionDenied otherwise)."""
    wanted = check_permission_name(permission)
    ids = list(dict.fromkeys(dataset_ids))
    async with db.write() as session:
        found = []  # each dataset with what the caller holds on it, read once
        for d in ids:
            dataset, held = await _readable(session, caller, d)
            if Permission.SHARE not in held:
                raise PermissionDenied(Permission.SHARE)
            found.append((dataset, held))
        datasets = [dataset for dataset, _ in found]
        if not await is_principal(session, principal_id, caller.tenant_id):
            raise UserNotFound()
        if not granted and any(d.owner_id == principal_id for d in datasets):
            raise InvalidInput("A dataset's owner always holds every permission on it.")
        if not ids:
            return
        if granted:
            # Sharing passes on what the caller holds, never more: `share` alone does not let
            # anyone (themselves included) gain write or delete.
            if any(wanted not in held for _, held in found):
                raise PermissionDenied(wanted)
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
        action = AuditAction.PERMISSION_GRANT if granted else AuditAction.PERMISSION_REVOKE
        detail = {"permission": wanted.value}
        for dataset in datasets:
            record(session, caller, action, dataset=dataset, target_id=principal_id, detail=detail)
