"""`/api/v1/permissions`: dataset grants to users, roles and tenants; tenants and roles
(cognee's shapes; its 500s are 404 or 409 here, and a tenant one is not in is 404, never 403)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from graphmill.api.deps import ServicesDep, UserDep
from graphmill.api.dto import InDTO
from graphmill.auth import teams
from graphmill.auth.permissions import set_permission
from graphmill.catalog.datasets import principal_datasets

router = APIRouter()

DatasetIds = Annotated[list[uuid.UUID], Body(max_length=10_000)]
PermissionName = Annotated[str, Query(max_length=32)]
Name = Annotated[str, Query(max_length=255)]


class TenantSelection(InDTO):
    tenant_id: uuid.UUID | None = None


def _named(found: list[teams.Named]) -> list[dict[str, str]]:
    return [{"id": str(n.id), "name": n.name} for n in found]


@router.post("/datasets/{principal_id}")
async def grant(
    principal_id: uuid.UUID,
    permission_name: PermissionName,
    dataset_ids: DatasetIds,
    services: ServicesDep,
    user: UserDep,
) -> dict[str, str]:
    """Grant a permission on datasets to a user, a role or a tenant (the caller needs
    `share` and the permission granted)."""
    await set_permission(
        services.db, user, principal_id, dataset_ids, permission_name, granted=True
    )
    return {"message": "Permission assigned to principal"}


@router.delete("/datasets/{principal_id}")
async def revoke(
    principal_id: uuid.UUID,
    permission_name: PermissionName,
    dataset_ids: DatasetIds,
    services: ServicesDep,
    user: UserDep,
) -> dict[str, str]:
    await set_permission(
        services.db, user, principal_id, dataset_ids, permission_name, granted=False
    )
    return {"message": "Permission revoked from principal"}


@router.get("/principals/{principal_id}/datasets")
async def get_principal_datasets(
    principal_id: uuid.UUID,
    services: ServicesDep,
    user: UserDep,
    permission_name: PermissionName = "read",
) -> list[dict[str, Any]]:
    """Datasets of the caller's tenant on which a user, role or tenant holds a permission
    directly (cognee's `Dataset.to_json()` shape)."""
    found = await principal_datasets(services.db, user, principal_id, permission_name)
    return [
        {
            "id": str(d.id),
            "name": d.name,
            "createdAt": d.created_at.isoformat(),
            "updatedAt": d.updated_at.isoformat(),
            "ownerId": str(d.owner_id),
            "tenantId": str(d.tenant_id),
            "data": [],
        }
        for d in found
    ]


@router.post("/tenants")
async def create_tenant(tenant_name: Name, services: ServicesDep, user: UserDep) -> dict[str, str]:
    """A new tenant owned by the caller, who works in it from now on."""
    tenant_id = await teams.create_tenant(services.db, user, tenant_name)
    services.users.forget(user.id)
    return {"message": "Tenant created.", "tenant_id": str(tenant_id)}


@router.post("/tenants/select")
async def select_tenant(
    selection: TenantSelection, services: ServicesDep, user: UserDep
) -> dict[str, str]:
    """Work in one of the caller's tenants, or (null) in their own space."""
    await teams.select_tenant(services.db, user, selection.tenant_id)
    services.users.forget(user.id)
    return {"message": "Tenant selected.", "tenant_id": str(selection.tenant_id)}


@router.get("/tenants/me")
async def my_tenants(services: ServicesDep, user: UserDep) -> list[dict[str, str]]:
    return _named(await teams.my_tenants(services.db, user))


@router.post("/users/{user_id}/tenants")
async def add_user_to_tenant(
    user_id: uuid.UUID, tenant_id: uuid.UUID, services: ServicesDep, user: UserDep
) -> dict[str, str]:
    await teams.add_tenant_member(services.db, user, user_id, tenant_id)
    return {"message": "User added to tenant"}


@router.delete("/tenants/{tenant_id}/users/{user_id}")
async def remove_user_from_tenant(
    tenant_id: uuid.UUID, user_id: uuid.UUID, services: ServicesDep, user: UserDep
) -> dict[str, str]:
    """Take a user out of the tenant and its roles (never its owner)."""
    await teams.remove_tenant_member(services.db, user, tenant_id, user_id)
    services.users.forget(user_id)
    return {"message": "User removed from tenant"}


@router.get("/tenants/{tenant_id}/users")
async def tenant_users(
    tenant_id: uuid.UUID, services: ServicesDep, user: UserDep
) -> list[dict[str, Any]]:
    members = await teams.tenant_members(services.db, user, tenant_id)
    return [{"id": str(m.id), "email": m.email, "roles": _named(m.roles)} for m in members]


@router.post("/roles")
async def create_role(role_name: Name, services: ServicesDep, user: UserDep) -> dict[str, str]:
    """A role in the tenant the caller works in (the tenant's owner or an admin)."""
    role_id, tenant_id = await teams.create_role(services.db, user, role_name)
    return {
        "message": "Role created for tenant",
        "role_id": str(role_id),
        "tenant_id": str(tenant_id),
    }


@router.delete("/roles/{role_id}")
async def delete_role(role_id: uuid.UUID, services: ServicesDep, user: UserDep) -> dict[str, str]:
    """Delete a role, its memberships and its grants."""
    await teams.delete_role(services.db, user, role_id)
    return {"message": "Role deleted"}


@router.post("/users/{user_id}/roles")
async def add_user_to_role(
    user_id: uuid.UUID, role_id: uuid.UUID, services: ServicesDep, user: UserDep
) -> dict[str, str]:
    await teams.set_role_member(services.db, user, user_id, role_id, member=True)
    return {"message": "User added to role"}


@router.delete("/users/{user_id}/roles")
async def remove_user_from_role(
    user_id: uuid.UUID, role_id: uuid.UUID, services: ServicesDep, user: UserDep
) -> dict[str, str]:
    await teams.set_role_member(services.db, user, user_id, role_id, member=False)
    return {"message": "User removed from role"}


@router.get("/tenants/{tenant_id}/roles")
async def tenant_roles(
    tenant_id: uuid.UUID, services: ServicesDep, user: UserDep
) -> list[dict[str, Any]]:
    """All roles to a manager, a member's own roles to anyone else."""
    roles = await teams.tenant_roles(services.db, user, tenant_id)
    return [
        {"id": str(r.id), "name": r.name, "description": None, "user_count": r.user_count}
        for r in roles
    ]


# Before `/tenants/{tenant_id}/roles/{role_id}/users`, which it would otherwise shadow.
@router.get("/tenants/{tenant_id}/roles/users/{user_id}")
async def user_roles(
    tenant_id: uuid.UUID, user_id: uuid.UUID, services: ServicesDep, user: UserDep
) -> list[dict[str, str]]:
    return _named(await teams.user_roles(services.db, user, tenant_id, user_id))


@router.get("/tenants/{tenant_id}/roles/{role_id}/users")
async def role_users(
    tenant_id: uuid.UUID, role_id: uuid.UUID, services: ServicesDep, user: UserDep
) -> list[dict[str, str]]:
    return _named(await teams.role_members(services.db, user, tenant_id, role_id))
