"""Teams: tenants, their members and their roles (cognee's model, without its 500s).

A tenant has an owner and members; roles group some of its members. The owner and members of
a role named `admin` manage it. A tenant or role the caller is not in does not exist for them
(404); one they are in but may not manage is 403.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from graphmill.auth.audit import record
from graphmill.auth.users import UserInfo
from graphmill.db import Database
from graphmill.db.models import Acl, AuditAction, Role, RoleMember, Tenant, TenantMember, User
from graphmill.errors import (
    AlreadyMember,
    InvalidInput,
    NotTenantManager,
    RoleAlreadyExists,
    RoleNotFound,
    TenantNotFound,
    TenantOwnerRemoval,
    UserNotFound,
)

ADMIN_ROLE = "admin"  # cognee's USER_MANAGEMENT_ALLOWED_ROLE_NAMES


@dataclass(frozen=True)
class Named:
    id: uuid.UUID
    name: str


@dataclass(frozen=True)
class RoleInfo:
    id: uuid.UUID
    name: str
    user_count: int


@dataclass(frozen=True)
class MemberInfo:
    id: uuid.UUID
    email: str
    roles: list[Named]


def parse_tenant_id(raw: str) -> uuid.UUID | None:
    """A tenant id as clients send it; "", "null" and "None" mean no tenant."""
    if raw.strip() in ("", "null", "None"):
        return None
    try:
        return uuid.UUID(raw.strip())
    except ValueError as exc:
        raise InvalidInput(f"Not a tenant id: {raw[:64]!r}") from exc


async def _member_tenant(
    session: AsyncSession, user_id: uuid.UUID, tenant_id: uuid.UUID | None
) -> Tenant:
    """The tenant, if the user is a member; TenantNotFound otherwise."""
    tenant = await session.scalar(
        select(Tenant)
        .join(TenantMember, TenantMember.tenant_id == Tenant.id)
        .where(Tenant.id == tenant_id, TenantMember.user_id == user_id)
    )
    if tenant is None:
        raise TenantNotFound(f"Could not find tenant: {tenant_id}")
    return tenant


async def _is_manager(session: AsyncSession, user_id: uuid.UUID, tenant: Tenant) -> bool:
    if tenant.owner_id == user_id:
        return True
    admin = (
        select(RoleMember.user_id)
        .join(Role, Role.id == RoleMember.role_id)
        .where(Role.tenant_id == tenant.id, Role.name == ADMIN_ROLE, RoleMember.user_id == user_id)
    )
    return bool(await session.scalar(select(exists(admin))))


async def _managed_tenant(
    session: AsyncSession, user_id: uuid.UUID, tenant_id: uuid.UUID | None
) -> Tenant:
    """The tenant, if the user may manage it: 404 to a non-member, 403 to a member."""
    tenant = await _member_tenant(session, user_id, tenant_id)
    if not await _is_manager(session, user_id, tenant):
        raise NotTenantManager()
    return tenant


async def _visible_role(session: AsyncSession, user_id: uuid.UUID, role_id: uuid.UUID) -> Role:
    """A role of a tenant the user is in; RoleNotFound otherwise."""
    role = await session.get(Role, role_id)
    if role is None or await session.get(TenantMember, (role.tenant_id, user_id)) is None:
        raise RoleNotFound()
    return role


async def _require_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    if await session.get(User, user_id) is None:
        raise UserNotFound()


async def member_tenant(db: Database, user_id: uuid.UUID, raw: str) -> uuid.UUID | None:
    """The tenant an `X-Tenant-Id` header names, if the user is a member (404 otherwise)."""
    tenant_id = parse_tenant_id(raw)
    if tenant_id is not None:
        async with db.read() as session:
            await _member_tenant(session, user_id, tenant_id)
    return tenant_id


async def create_tenant(db: Database, user: UserInfo, name: str) -> uuid.UUID:
    """A new tenant owned by the user, who becomes its member and works in it from now on."""
    if not name.strip() or len(name) > 255:
        raise InvalidInput("tenant_name must be 1 to 255 characters long.")
    tenant = Tenant(name=name, owner_id=user.id)
    async with db.write() as session:
        session.add(tenant)
        await session.flush()
        session.add(TenantMember(tenant_id=tenant.id, user_id=user.id))
        await session.execute(update(User).where(User.id == user.id).values(tenant_id=tenant.id))
        record(session, user, AuditAction.TENANT_CREATE, tenant_id=tenant.id, detail={"name": name})
    return tenant.id


async def select_tenant(db: Database, user: UserInfo, tenant_id: uuid.UUID | None) -> None:
    """Make the user work in one of their tenants, or in their own space (None)."""
    async with db.write() as session:
        if tenant_id is not None:
            await _member_tenant(session, user.id, tenant_id)
        await session.execute(update(User).where(User.id == user.id).values(tenant_id=tenant_id))


async def my_tenants(db: Database, user: UserInfo) -> list[Named]:
    async with db.read() as session:
        rows = await session.execute(
            select(Tenant.id, Tenant.name)
            .join(TenantMember, TenantMember.tenant_id == Tenant.id)
            .where(TenantMember.user_id == user.id)
            .order_by(Tenant.created_at)
        )
        return [Named(r.id, r.name) for r in rows]


async def add_tenant_member(
    db: Database, caller: UserInfo, user_id: uuid.UUID, tenant_id: uuid.UUID
) -> None:
    async with db.write() as session:
        await _managed_tenant(session, caller.id, tenant_id)
        await _require_user(session, user_id)
        if await session.get(TenantMember, (tenant_id, user_id)) is not None:
            raise AlreadyMember()
        session.add(TenantMember(tenant_id=tenant_id, user_id=user_id))
        record(
            session, caller, AuditAction.TENANT_MEMBER_ADD, tenant_id=tenant_id, target_id=user_id
        )


async def remove_tenant_member(
    db: Database, caller: UserInfo, tenant_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """Take a user out of a tenant and its roles; what those gave them is gone at once."""
    async with db.write() as session:
        tenant = await _managed_tenant(session, caller.id, tenant_id)
        if tenant.owner_id == user_id:
            raise TenantOwnerRemoval()
        if await session.get(TenantMember, (tenant_id, user_id)) is None:
            raise UserNotFound()
        roles = select(Role.id).where(Role.tenant_id == tenant_id)
        await session.execute(
            delete(RoleMember).where(RoleMember.user_id == user_id, RoleMember.role_id.in_(roles))
        )
        await session.execute(
            delete(TenantMember).where(
                TenantMember.tenant_id == tenant_id, TenantMember.user_id == user_id
            )
        )
        await session.execute(
            update(User)
            .where(User.id == user_id, User.tenant_id == tenant_id)
            .values(tenant_id=None)
        )
        record(
            session,
            caller,
            AuditAction.TENANT_MEMBER_REMOVE,
            tenant_id=tenant_id,
            target_id=user_id,
        )


async def tenant_members(db: Database, caller: UserInfo, tenant_id: uuid.UUID) -> list[MemberInfo]:
    async with db.read() as session:
        await _managed_tenant(session, caller.id, tenant_id)
        users = await session.execute(
            select(User.id, User.email)
            .join(TenantMember, TenantMember.user_id == User.id)
            .where(TenantMember.tenant_id == tenant_id)
            .order_by(User.email)
        )
        roles = await session.execute(
            select(RoleMember.user_id, Role.id, Role.name)
            .join(Role, Role.id == RoleMember.role_id)
            .where(Role.tenant_id == tenant_id)
            .order_by(Role.name)
        )
    by_user: dict[uuid.UUID, list[Named]] = {}
    for user_id, role_id, role_name in roles:
        by_user.setdefault(user_id, []).append(Named(role_id, role_name))
    return [MemberInfo(u.id, u.email, by_user.get(u.id, [])) for u in users]


async def create_role(db: Database, caller: UserInfo, name: str) -> tuple[uuid.UUID, uuid.UUID]:
    """A role in the tenant the caller works in; (role id, tenant id)."""
    if not name.strip() or len(name) > 255:
        raise InvalidInput("role_name must be 1 to 255 characters long.")
    try:
        async with db.write() as session:
            tenant = await _managed_tenant(session, caller.id, caller.tenant_id)
            role = Role(tenant_id=tenant.id, name=name)
            session.add(role)
            await session.flush()
            record(
                session,
                caller,
                AuditAction.ROLE_CREATE,
                tenant_id=tenant.id,
                target_id=role.id,
                detail={"role": name},
            )
    except IntegrityError as exc:
        raise RoleAlreadyExists() from exc
    return role.id, tenant.id


async def delete_role(db: Database, caller: UserInfo, role_id: uuid.UUID) -> None:
    """Delete a role, its memberships and its grants."""
    async with db.write() as session:
        role = await _visible_role(session, caller.id, role_id)
        await _managed_tenant(session, caller.id, role.tenant_id)
        await session.execute(delete(Acl).where(Acl.principal_id == role_id))
        record(
            session,
            caller,
            AuditAction.ROLE_DELETE,
            tenant_id=role.tenant_id,
            target_id=role_id,
            detail={"role": role.name},
        )
        await session.delete(role)


async def set_role_member(
    db: Database, caller: UserInfo, user_id: uuid.UUID, role_id: uuid.UUID, *, member: bool
) -> None:
    """Add a member of the role's tenant to the role, or take them out of it."""
    async with db.write() as session:
        role = await _visible_role(session, caller.id, role_id)
        await _managed_tenant(session, caller.id, role.tenant_id)
        await _require_user(session, user_id)
        held = await session.get(RoleMember, (role_id, user_id))
        if member:
            if await session.get(TenantMember, (role.tenant_id, user_id)) is None:
                raise TenantNotFound("The user is not a member of the role's tenant.")
            if held is not None:
                raise AlreadyMember()
            session.add(RoleMember(role_id=role_id, user_id=user_id))
        elif held is None:
            raise UserNotFound("The user is not in this role.")
        else:
            await session.delete(held)
        record(
            session,
            caller,
            AuditAction.ROLE_MEMBER_ADD if member else AuditAction.ROLE_MEMBER_REMOVE,
            tenant_id=role.tenant_id,
            target_id=user_id,
            detail={"roleId": str(role_id), "role": role.name},
        )


async def tenant_roles(db: Database, caller: UserInfo, tenant_id: uuid.UUID) -> list[RoleInfo]:
    """The tenant's roles with their member counts: all of them to a manager, a member's
    own to anyone else."""
    async with db.read() as session:
        tenant = await _member_tenant(session, caller.id, tenant_id)
        count = (
            select(func.count())
            .select_from(RoleMember)
            .where(RoleMember.role_id == Role.id)
            .scalar_subquery()
        )
        query = select(Role.id, Role.name, count).where(Role.tenant_id == tenant_id)
        if not await _is_manager(session, caller.id, tenant):
            mine = select(RoleMember.role_id).where(RoleMember.user_id == caller.id)
            query = query.where(Role.id.in_(mine))
        rows = await session.execute(query.order_by(Role.name))
        return [RoleInfo(r[0], r[1], r[2]) for r in rows]


async def role_members(
    db: Database, caller: UserInfo, tenant_id: uuid.UUID, role_id: uuid.UUID
) -> list[Named]:
    """A role's members (id and email): to a manager or a member of the role."""
    async with db.read() as session:
        tenant = await _member_tenant(session, caller.id, tenant_id)
        role = await session.get(Role, role_id)
        if role is None or role.tenant_id != tenant_id:
            raise RoleNotFound()
        in_role = await session.get(RoleMember, (role_id, caller.id)) is not None
        if not in_role and not await _is_manager(session, caller.id, tenant):
            raise NotTenantManager()
        rows = await session.execute(
            select(User.id, User.email)
            .join(RoleMember, RoleMember.user_id == User.id)
            .where(RoleMember.role_id == role_id)
            .order_by(User.email)
        )
        return [Named(r.id, r.email) for r in rows]


async def user_roles(
    db: Database, caller: UserInfo, tenant_id: uuid.UUID, user_id: uuid.UUID
) -> list[Named]:
    """A user's roles in a tenant: to the user themselves or a manager."""
    async with db.read() as session:
        tenant = await _member_tenant(session, caller.id, tenant_id)
        if user_id != caller.id and not await _is_manager(session, caller.id, tenant):
            raise NotTenantManager()
        rows = await session.execute(
            select(Role.id, Role.name)
            .join(RoleMember, RoleMember.role_id == Role.id)
            .where(Role.tenant_id == tenant_id, RoleMember.user_id == user_id)
            .order_by(Role.name)
        )
        return [Named(r.id, r.name) for r in rows]


async def principal_scope(
    session: AsyncSession, caller: UserInfo, principal_id: uuid.UUID
) -> uuid.UUID:
    """The tenant (the caller's current one) in which the caller may list a principal's
    grants: themselves, the tenant, a role they are in, or (managing the tenant) any member or
    role of it; cognee's rules. TenantNotFound when the caller works in no tenant; any id
    outside the tenant (another tenant's role too) is the UserNotFound of an unknown id."""
    tenant = await _member_tenant(session, caller.id, caller.tenant_id)
    if principal_id in (caller.id, tenant.id):
        return tenant.id
    manager = await _is_manager(session, caller.id, tenant)
    role = await session.get(Role, principal_id)
    if role is not None and role.tenant_id == tenant.id:
        allowed = manager or await session.get(RoleMember, (principal_id, caller.id)) is not None
    elif await session.get(TenantMember, (tenant.id, principal_id)) is None:
        raise UserNotFound()
    else:
        allowed = manager
    if not allowed:
        raise NotTenantManager()
    return tenant.id
