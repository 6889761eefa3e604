"""Teams: tenants, roles, grants to groups, through HTTP (cognee's wire shapes), and the
isolation they promise: a user sees exactly what the grants give them in the tenant they
work in, and loses it the moment a membership ends."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import LiveServer
from tests.support import (
    Api,
    add_files,
    grant,
    join_tenant,
    new_role,
    new_tenant,
    select_tenant,
    sign_up,
)

P = "/api/v1/permissions"
NOT_MANAGER = {
    "detail": "User is not authorized to manage users for this tenant [PermissionDeniedError]"
}
ALREADY = {"detail": "User is already part of group. [EntityAlreadyExistsError]"}


@pytest.fixture
def carol(server: LiveServer) -> Iterator[Api]:
    api = sign_up(server.base_url, "carol@example.com")
    yield api
    api.close()


def test_tenants_on_the_wire(alice: Api, bob: Api, carol: Api) -> None:
    tenant = new_tenant(alice, "acme")
    me = alice.get("/api/v1/users/me").json()
    assert me["tenant_id"] == tenant  # the creator works in it at once
    assert alice.get(f"{P}/tenants/me").json() == [{"id": tenant, "name": "acme"}]

    join_tenant(alice, bob, tenant)
    assert (
        alice.post(f"{P}/users/{bob.user_id}/tenants", params={"tenant_id": tenant}).json()
        == ALREADY
    )
    assert bob.get(f"{P}/tenants/me").json() == [{"id": tenant, "name": "acme"}]
    assert bob.get("/api/v1/users/me").json()["tenant_id"] is None  # joining selects nothing
    assert select_tenant(bob, tenant).json() == {"message": "Tenant selected.", "tenant_id": tenant}
    assert bob.get("/api/v1/users/me").json()["tenant_id"] == tenant

    users = alice.get(f"{P}/tenants/{tenant}/users").json()
    assert sorted(u["email"] for u in users) == ["alice@example.com", "bob@example.com"]
    assert all(set(u) == {"id", "email", "roles"} and u["roles"] == [] for u in users)

    # A member who does not manage is 403; someone outside the tenant is 404, as for a
    # tenant that does not exist.
    r = bob.get(f"{P}/tenants/{tenant}/users")
    assert (r.status_code, r.json()) == (403, NOT_MANAGER)
    outside = carol.get(f"{P}/tenants/{tenant}/users")
    missing = carol.get(f"{P}/tenants/{uuid.uuid4()}/users")
    assert outside.status_code == missing.status_code == 404
    assert "TenantNotFoundError" in outside.json()["detail"]
    assert (
        carol.post(f"{P}/users/{carol.user_id}/tenants", params={"tenant_id": tenant}).status_code
        == 404
    )
    assert select_tenant(carol, tenant).status_code == 404
    assert (
        bob.post(f"{P}/users/{carol.user_id}/tenants", params={"tenant_id": tenant}).status_code
        == 403
    )
    unknown_user = alice.post(f"{P}/users/{uuid.uuid4()}/tenants", params={"tenant_id": tenant})
    assert unknown_user.status_code == 404

    # The owner never leaves; others do, and their selection goes with them.
    r = alice.delete(f"{P}/tenants/{tenant}/users/{alice.user_id}")
    assert r.status_code == 400
    r = alice.delete(f"{P}/tenants/{tenant}/users/{bob.user_id}")
    assert r.json() == {"message": "User removed from tenant"}
    assert bob.get(f"{P}/tenants/me").json() == []
    assert bob.get("/api/v1/users/me").json()["tenant_id"] is None
    assert alice.delete(f"{P}/tenants/{tenant}/users/{bob.user_id}").status_code == 404

    r = alice.post(f"{P}/tenants/select", json={"tenantId": None})  # camelCase too
    assert r.json() == {"message": "Tenant selected.", "tenant_id": "None"}
    assert alice.post(f"{P}/tenants", params={"tenant_name": ""}).status_code == 400


def test_roles_on_the_wire(alice: Api, bob: Api, carol: Api) -> None:
    r = alice.post(f"{P}/roles", params={"role_name": "legal"})
    assert r.status_code == 404  # no tenant selected
    tenant = new_tenant(alice, "acme")
    r = alice.post(f"{P}/roles", params={"role_name": "legal"})
    legal = r.json()["role_id"]
    assert r.json() == {"message": "Role created for tenant", "role_id": legal, "tenant_id": tenant}
    dup = alice.post(f"{P}/roles", params={"role_name": "legal"})
    assert dup.status_code == 409  # cognee: 500
    assert alice.get(f"{P}/tenants/{tenant}/roles").json() == [
        {"id": legal, "name": "legal", "description": None, "user_count": 0}
    ]

    # A role takes only members of its tenant.
    r = alice.post(f"{P}/users/{bob.user_id}/roles", params={"role_id": legal})
    assert r.status_code == 404 and "TenantNotFoundError" in r.json()["detail"]
    join_tenant(alice, bob, tenant)
    join_tenant(alice, carol, tenant)
    r = alice.post(f"{P}/users/{bob.user_id}/roles", params={"role_id": legal})
    assert r.json() == {"message": "User added to role"}
    assert alice.post(f"{P}/users/{bob.user_id}/roles", params={"role_id": legal}).json() == ALREADY

    everyone = alice.get(f"{P}/tenants/{tenant}/roles").json()
    assert [(x["name"], x["user_count"]) for x in everyone] == [("legal", 1)]
    assert alice.get(f"{P}/tenants/{tenant}/roles/{legal}/users").json() == [
        {"id": bob.user_id, "name": "bob@example.com"}
    ]
    mine = [{"id": legal, "name": "legal"}]
    assert bob.get(f"{P}/tenants/{tenant}/roles/users/{bob.user_id}").json() == mine
    assert alice.get(f"{P}/tenants/{tenant}/roles/users/{bob.user_id}").json() == mine
    users = alice.get(f"{P}/tenants/{tenant}/users").json()
    assert {u["email"]: u["roles"] for u in users}["bob@example.com"] == mine

    # Carol, a plain member, sees only her own roles and may not manage.
    assert carol.get(f"{P}/tenants/{tenant}/roles").json() == []
    assert carol.get(f"{P}/tenants/{tenant}/roles/{legal}/users").status_code == 403
    assert carol.get(f"{P}/tenants/{tenant}/roles/users/{bob.user_id}").status_code == 403
    select_tenant(carol, tenant)
    assert carol.post(f"{P}/roles", params={"role_name": "x"}).json() == NOT_MANAGER
    # ... until she is an admin: cognee's management rights.
    admin = new_role(alice, "admin")
    alice.post(f"{P}/users/{carol.user_id}/roles", params={"role_id": admin})
    ops = new_role(carol, "ops")
    assert len(carol.get(f"{P}/tenants/{tenant}/roles").json()) == 3

    r = alice.delete(f"{P}/users/{bob.user_id}/roles", params={"role_id": legal})
    assert r.json() == {"message": "User removed from role"}
    assert bob.get(f"{P}/tenants/{tenant}/roles/users/{bob.user_id}").json() == []
    assert alice.delete(f"{P}/roles/{ops}").json() == {"message": "Role deleted"}
    assert alice.delete(f"{P}/roles/{ops}").status_code == 404
    assert bob.delete(f"{P}/roles/{legal}").status_code == 403
    outsider = sign_up(str(alice.base_url))
    assert outsider.delete(f"{P}/roles/{legal}").status_code == 404  # not 403: not in it
    outsider.close()


def test_a_role_grant_reaches_its_members_and_ends_with_membership(
    alice: Api, bob: Api, carol: Api
) -> None:
    tenant = new_tenant(alice, "acme")
    r = add_files(alice, "contracts", [("nda.txt", b"The NDA binds Acme for five years.")])
    ds = r.json()["dataset_id"]
    data_id = r.json()["data_ingestion_info"][0]["data_id"]
    assert ds == str(uuid.uuid5(uuid.NAMESPACE_OID, f"contracts{alice.user_id}{tenant}"))
    assert alice.get("/api/v1/datasets").json()[0]["tenantId"] == tenant
    assert alice.post("/api/v1/cognify", json={"datasetIds": [ds]}).json()[ds]["status"] == (
        "PipelineRunCompleted"
    )
    for member in (bob, carol):
        join_tenant(alice, member, tenant)
        select_tenant(member, tenant)
    legal = new_role(alice, "legal")
    alice.post(f"{P}/users/{bob.user_id}/roles", params={"role_id": legal})

    reads = [
        "/api/v1/datasets/{ds}/data",
        "/api/v1/datasets/{ds}/data/count",
        "/api/v1/datasets/{ds}/data/{data}/raw",
        "/api/v1/datasets/{ds}/graph",
        "/api/v1/datasets/{ds}/runs",
        "/api/v1/datasets/{ds}/schema",
    ]

    def sees(api: Api) -> bool:
        """Whether every read path agrees that the caller can read the dataset."""
        listed = ds in [d["id"] for d in api.get("/api/v1/datasets").json()]
        status = ds in api.get("/api/v1/datasets/status", params={"dataset": ds}).json()
        answers = [api.get(p.format(ds=ds, data=data_id)).status_code for p in reads]
        search = api.post(
            "/api/v1/search",
            json={"query": "NDA", "searchType": "CHUNKS_LEXICAL", "datasetIds": [ds]},
        )
        recall = api.post("/api/v1/recall", json={"query": "NDA", "dataset_ids": [ds]})
        found = [listed, status, *(a == 200 for a in answers), search.status_code == 200]
        found.append(recall.status_code == 200)
        assert len(set(found)) == 1, (api.email, found, answers)
        if not listed:
            random = api.get(f"/api/v1/datasets/{uuid.uuid4()}/data")
            assert api.get(f"/api/v1/datasets/{ds}/data").content == random.content
        return listed

    assert not sees(bob) and not sees(carol)
    assert grant(alice, legal, "read", [ds]).status_code == 200
    assert sees(bob) and not sees(carol)
    hits = bob.post(
        "/api/v1/search", json={"query": "NDA", "searchType": "CHUNKS", "datasetIds": [ds]}
    ).json()
    assert hits[0]["dataset_tenant_id"] == tenant and "NDA" in str(hits[0]["search_result"])
    # read only: no write, delete or share through the role
    assert add_files(bob, "contracts", [("x.txt", b"x")], datasetId=ds).status_code == 403
    assert bob.delete(f"/api/v1/datasets/{ds}").status_code == 403
    assert grant(bob, carol.user_id or "", "read", [ds]).status_code == 403

    alice.delete(f"{P}/users/{bob.user_id}/roles", params={"role_id": legal})
    assert not sees(bob)  # at once

    # A grant to the tenant reaches every member, present and future, until they leave.
    assert grant(alice, tenant, "read", [ds]).status_code == 200
    assert sees(bob) and sees(carol)
    alice.delete(f"{P}/tenants/{tenant}/users/{carol.user_id}")
    assert not sees(carol)
    # Revoking the tenant's grant leaves what a role gives; deleting the role takes that.
    alice.post(f"{P}/users/{bob.user_id}/roles", params={"role_id": legal})
    revoked = alice.request(
        "DELETE", f"{P}/datasets/{tenant}", params={"permission_name": "read"}, json=[ds]
    )
    assert revoked.status_code == 200
    assert sees(bob)  # legal still holds read
    alice.delete(f"{P}/roles/{legal}")
    assert not sees(bob)


def test_the_tenant_one_works_in_decides_what_one_sees(alice: Api, bob: Api) -> None:
    own = add_files(alice, "notes", [("a.txt", b"personal")]).json()["dataset_id"]
    tenant = new_tenant(alice, "acme")
    # cognee's rule: in a tenant, one's tenant-less datasets are out of sight, and the same
    # name is another dataset.
    assert alice.get("/api/v1/datasets").json() == []
    assert alice.get(f"/api/v1/datasets/{own}/data").status_code == 404
    in_tenant = add_files(alice, "notes", [("b.txt", b"team")]).json()["dataset_id"]
    assert in_tenant != own
    assert [d["id"] for d in alice.get("/api/v1/datasets").json()] == [in_tenant]
    # X-Tenant-Id chooses for one request only.
    r = alice.get("/api/v1/datasets", headers={"X-Tenant-Id": "null"})
    assert [d["id"] for d in r.json()] == [own]
    assert [d["id"] for d in alice.get("/api/v1/datasets").json()] == [in_tenant]
    select_tenant(alice, None)
    assert [d["id"] for d in alice.get("/api/v1/datasets").json()] == [own]
    r = alice.get("/api/v1/datasets", headers={"X-Tenant-Id": tenant})
    assert [d["id"] for d in r.json()] == [in_tenant]
    # Not a member, or not a tenant: 404; not an id: 400. Nothing else is told.
    assert bob.get("/api/v1/datasets", headers={"X-Tenant-Id": tenant}).status_code == 404
    assert (
        bob.get("/api/v1/datasets", headers={"X-Tenant-Id": str(uuid.uuid4())}).status_code == 404
    )
    assert bob.get("/api/v1/datasets", headers={"X-Tenant-Id": "acme"}).status_code == 400
    # An API key works in a tenant with the header, as cognee's MCP server sends it.
    key = alice.post("/api/v1/auth/api-keys", json={"name": "mcp"}).json()["key"]
    with httpx.Client(base_url=str(alice.base_url), timeout=60) as by_key:
        headers = {"X-Api-Key": key, "X-Tenant-Id": tenant}
        assert [d["id"] for d in by_key.get("/api/v1/datasets", headers=headers).json()] == [
            in_tenant
        ]


def test_grants_name_users_roles_or_tenants_and_list_back(alice: Api, bob: Api, carol: Api) -> None:
    tenant = new_tenant(alice, "acme")
    ds = add_files(alice, "contracts", [("a.txt", b"a")]).json()["dataset_id"]
    legal = new_role(alice, "legal")
    assert grant(alice, str(uuid.uuid4()), "read", [ds]).status_code == 404  # cognee: 500
    assert grant(alice, legal, "write", [ds]).status_code == 200

    r = alice.get(f"{P}/principals/{legal}/datasets", params={"permission_name": "write"})
    [shown] = r.json()
    assert shown["id"] == ds and shown["tenantId"] == tenant and shown["data"] == []
    assert set(shown) == {"id", "name", "createdAt", "updatedAt", "ownerId", "tenantId", "data"}
    assert alice.get(f"{P}/principals/{legal}/datasets").json() == []  # read: none given
    assert [d["id"] for d in alice.get(f"{P}/principals/{alice.user_id}/datasets").json()] == [ds]

    join_tenant(alice, bob, tenant)
    join_tenant(alice, carol, tenant)
    select_tenant(bob, tenant)
    assert bob.get(f"{P}/principals/{carol.user_id}/datasets").status_code == 403
    assert bob.get(f"{P}/principals/{legal}/datasets").status_code == 403  # not in the role
    assert bob.get(f"{P}/principals/{bob.user_id}/datasets").json() == []
    # Working in no tenant: cognee's 404; a role of another tenant: 404.
    assert carol.get(f"{P}/principals/{carol.user_id}/datasets").status_code == 404
    other = new_tenant(carol, "globex")
    assert carol.get(f"{P}/principals/{legal}/datasets").status_code == 404
    assert carol.get(f"{P}/principals/{other}/datasets").json() == []
    assert (
        alice.get(f"{P}/principals/{legal}/datasets", params={"permission_name": "own"}).status_code
        == 400
    )


def test_team_changes_are_in_the_audit_trail(alice: Api, bob: Api) -> None:
    tenant = new_tenant(alice, "acme")
    legal = new_role(alice, "legal")
    join_tenant(alice, bob, tenant)
    alice.post(f"{P}/users/{bob.user_id}/roles", params={"role_id": legal})
    ds = add_files(alice, "contracts", [("a.txt", b"a")]).json()["dataset_id"]
    assert grant(alice, legal, "read", [ds]).status_code == 200
    alice.delete(f"{P}/users/{bob.user_id}/roles", params={"role_id": legal})
    events = alice.get("/api/v1/audit").json()
    assert [e["action"] for e in events] == [  # newest first
        "role.member.remove",
        "permission.grant",
        "role.member.add",
        "tenant.member.add",
        "role.create",
        "tenant.create",
    ]
    assert all(e["tenantId"] == tenant and e["actorId"] == alice.user_id for e in events)
    granted = events[1]
    assert (granted["datasetId"], granted["targetId"], granted["credential"]) == (
        ds,
        legal,
        "token",
    )
    assert events[0]["targetId"] == bob.user_id
    # A plain member sees only what they did themselves; here, nothing.
    select_tenant(bob, tenant)
    assert bob.get("/api/v1/audit").json() == []
