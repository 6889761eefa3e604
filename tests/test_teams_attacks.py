"""The teams access model attacked from outside: every route that takes an id, asked by a
user of another tenant, a member without a grant, a former member and a member working in
another tenant, answers exactly what a random id gets; no one escalates their rights."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from graphmill.config import Settings
from tests.conftest import LiveServer
from tests.support import (
    Api,
    add_files,
    grant,
    join_tenant,
    new_tenant,
    select_tenant,
    sign_up,
)

P = "/api/v1/permissions"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _user(server: LiveServer, name: str) -> Api:
    return sign_up(server.base_url, f"{name}@example.com")


@dataclass
class Ids:
    ds: str
    data: str
    run: str
    node: str


@dataclass
class Scene:
    tenant: str
    ids: Ids
    alice: Api  # the tenant's owner
    attackers: dict[str, tuple[Api, dict[str, str]]]  # who -> (client, extra headers)


# Every route of the OpenAPI document that takes a dataset, item, run or node id.
Call = Callable[[Api, Ids, dict[str, str]], httpx.Response]
ID_ROUTES: dict[str, Call] = {
    "data": lambda a, i, h: a.get(f"/api/v1/datasets/{i.ds}/data", headers=h),
    "count": lambda a, i, h: a.get(f"/api/v1/datasets/{i.ds}/data/count", headers=h),
    "runs": lambda a, i, h: a.get(f"/api/v1/datasets/{i.ds}/runs", headers=h),
    "events": lambda a, i, h: a.get(f"/api/v1/datasets/{i.ds}/events", headers=h),
    "graph": lambda a, i, h: a.get(f"/api/v1/datasets/{i.ds}/graph", headers=h),
    "sources": lambda a, i, h: a.get(
        f"/api/v1/datasets/{i.ds}/graph/nodes/{i.node}/sources", headers=h
    ),
    "schema": lambda a, i, h: a.get(f"/api/v1/datasets/{i.ds}/schema", headers=h),
    "put schema": lambda a, i, h: a.put(
        f"/api/v1/datasets/{i.ds}/schema", json={"custom_prompt": "leak"}, headers=h
    ),
    "raw": lambda a, i, h: a.get(f"/api/v1/datasets/{i.ds}/data/{i.data}/raw", headers=h),
    "delete item": lambda a, i, h: a.delete(f"/api/v1/datasets/{i.ds}/data/{i.data}", headers=h),
    "delete dataset": lambda a, i, h: a.delete(f"/api/v1/datasets/{i.ds}", headers=h),
    "run": lambda a, i, h: a.get(f"/api/v1/runs/{i.run}", headers=h),
    "cancel": lambda a, i, h: a.post(f"/api/v1/runs/{i.run}/cancel", headers=h),
    "visualize": lambda a, i, h: a.get("/api/v1/visualize", params={"dataset_id": i.ds}, headers=h),
    "inventory": lambda a, i, h: a.get(
        "/api/v1/schema/inventory", params={"dataset_id": i.ds}, headers=h
    ),
    "activity": lambda a, i, h: a.get(
        "/api/v1/activity/pipeline-runs", params={"dataset_id": i.ds}, headers=h
    ),
    "update": lambda a, i, h: a.patch(
        "/api/v1/update",
        params={"data_id": i.data, "dataset_id": i.ds},
        files=[("data", ("x.txt", b"overwritten", "text/plain"))],
        headers=h,
    ),
    "legacy delete": lambda a, i, h: a.delete(
        "/api/v1/delete", params={"data_id": i.data, "dataset_id": i.ds}, headers=h
    ),
    "improve": lambda a, i, h: a.post("/api/v1/improve", json={"dataset_id": i.ds}, headers=h),
    "cognify": lambda a, i, h: a.post("/api/v1/cognify", json={"datasetIds": [i.ds]}, headers=h),
    "search": lambda a, i, h: a.post(
        "/api/v1/search",
        json={"query": "NDA", "searchType": "CHUNKS_LEXICAL", "datasetIds": [i.ds]},
        headers=h,
    ),
    "recall": lambda a, i, h: a.post(
        "/api/v1/recall", json={"query": "NDA", "dataset_ids": [i.ds]}, headers=h
    ),
    "forget dataset": lambda a, i, h: a.post(
        "/api/v1/forget", json={"dataset_id": i.ds}, headers=h
    ),
    "forget item": lambda a, i, h: a.post(
        "/api/v1/forget", json={"dataset_id": i.ds, "data_id": i.data}, headers=h
    ),
    "forget memory": lambda a, i, h: a.post(
        "/api/v1/forget", json={"dataset_id": i.ds, "memory_only": True}, headers=h
    ),
    "add by id": lambda a, i, h: a.post(
        "/api/v1/add",
        files=[("data", ("x.txt", b"intruder", "text/plain"))],
        data={"datasetId": i.ds},
        headers=h,
    ),
    "remember by id": lambda a, i, h: a.post(
        "/api/v1/remember",
        files=[("data", ("x.txt", b"intruder", "text/plain"))],
        data={"datasetId": i.ds},
        headers=h,
    ),
    "remember entry": lambda a, i, h: a.post(
        "/api/v1/remember/entry",
        json={
            "entry": {"type": "qa", "question": "q", "answer": "a"},
            "dataset_id": i.ds,
            "session_id": "s",
        },
        headers=h,
    ),
    "grant self": lambda a, i, h: a.post(
        f"{P}/datasets/{a.user_id}", params={"permission_name": "read"}, json=[i.ds], headers=h
    ),
    "revoke owner": lambda a, i, h: a.request(
        "DELETE",
        f"{P}/datasets/{a.user_id}",
        params={"permission_name": "read"},
        json=[i.ds],
        headers=h,
    ),
}


# Every route that reads a dataset by name: the owner's name answers as a random one. (cognify
# and add by name work on the caller's own dataset of that name, created if need be.)
NameCall = Callable[[Api, str, dict[str, str]], httpx.Response]
NAME_ROUTES: dict[str, NameCall] = {
    "search": lambda a, n, h: a.post(
        "/api/v1/search",
        json={"query": "NDA", "searchType": "CHUNKS_LEXICAL", "datasets": [n]},
        headers=h,
    ),
    "recall": lambda a, n, h: a.post(
        "/api/v1/recall", json={"query": "NDA", "datasets": [n]}, headers=h
    ),
    "improve": lambda a, n, h: a.post("/api/v1/improve", json={"dataset_name": n}, headers=h),
    "forget": lambda a, n, h: a.post("/api/v1/forget", json={"dataset": n}, headers=h),
}


def random_ids() -> Ids:
    return Ids(*(str(uuid.uuid4()) for _ in range(4)))


def assert_uniform_404(
    real: httpx.Response, missing: httpx.Response, where: str, echo: tuple[str, str] | None = None
) -> None:
    """The same answer, but for the ids asked about (in the URL, or `asked`: the real and the
    random one) that an answer may echo."""
    assert real.status_code == missing.status_code == 404, (where, real.text, missing.text)
    echoed = real.content
    pairs = list(zip(UUID.findall(str(real.url)), UUID.findall(str(missing.url)), strict=True))
    for asked, other in pairs + ([echo] if echo else []):
        echoed = echoed.replace(asked.encode(), other.encode())
    assert echoed == missing.content, (where, real.text, missing.text)
    assert real.headers.get("content-type") == missing.headers.get("content-type"), where


@pytest.fixture
def scene(server: LiveServer) -> Scene:
    alice, bob, carol, dave, erin = (
        _user(server, n) for n in ("alice", "bob", "carol", "dave", "erin")
    )
    tenant = new_tenant(alice, "acme")
    r = add_files(alice, "contracts", [("nda.txt", b"The NDA binds Acme for five years.")])
    ds, data = r.json()["dataset_id"], r.json()["data_ingestion_info"][0]["data_id"]
    done = alice.post("/api/v1/cognify", json={"datasetIds": [ds]}).json()
    assert done[ds]["status"] == "PipelineRunCompleted"
    run = alice.get(f"/api/v1/datasets/{ds}/runs").json()[0]["run_id"]
    node = alice.get(f"/api/v1/datasets/{ds}/graph").json()["nodes"][0]["id"]
    # carol: another tenant's owner. bob: a member with no grant. dave: a former member who
    # held read, write, delete and share directly. erin: a member holding read who works in
    # her own tenant (selected) or in her tenant-less space (X-Tenant-Id: null).
    new_tenant(carol, "globex")
    for member in (bob, dave, erin):
        join_tenant(alice, member, tenant)
        assert select_tenant(member, tenant).status_code == 200
    for permission in ("read", "write", "delete", "share"):
        assert grant(alice, str(dave.user_id), permission, [ds]).status_code == 200
    assert grant(alice, str(erin.user_id), "read", [ds]).status_code == 200
    assert dave.get(f"/api/v1/datasets/{ds}/data").status_code == 200
    assert alice.delete(f"{P}/tenants/{tenant}/users/{dave.user_id}").status_code == 200
    assert erin.get(f"/api/v1/datasets/{ds}/data").status_code == 200
    new_tenant(erin, "initech")
    attackers = {
        "other tenant": (carol, {}),
        "other tenant, X-Tenant-Id: null": (carol, {"X-Tenant-Id": "null"}),
        "member without grant": (bob, {}),
        "former member": (dave, {}),
        "member working in another tenant": (erin, {}),
        "member in her own space by header": (erin, {"X-Tenant-Id": "null"}),
    }
    return Scene(tenant, Ids(ds, data, run, node), alice, attackers)


def owner_still_has_everything(scene: Scene) -> None:
    alice, ids = scene.alice, scene.ids
    assert [d["id"] for d in alice.get("/api/v1/datasets").json()] == [ids.ds]
    assert alice.get(f"/api/v1/datasets/{ids.ds}/data/{ids.data}/raw").content == (
        b"The NDA binds Acme for five years."
    )
    assert alice.get(f"/api/v1/datasets/{ids.ds}/graph").json()["nodes"]
    assert alice.get(f"/api/v1/datasets/{ids.ds}/schema").json()["custom_prompt"] is None
    events = alice.get("/api/v1/audit").json()
    assert {e["actorId"] for e in events} == {alice.user_id}, events


def test_every_id_route_is_the_uniform_404_to_outsiders(scene: Scene) -> None:
    for who, (api, headers) in scene.attackers.items():
        for route, call in ID_ROUTES.items():
            real = call(api, scene.ids, headers)
            # the real dataset with random item, run and node ids, and all ids random
            half = Ids(scene.ids.ds, *(str(uuid.uuid4()) for _ in range(3)))
            assert_uniform_404(real, call(api, half, headers), f"{who}: {route} (half)")
            assert_uniform_404(real, call(api, random_ids(), headers), f"{who}: {route}")
        for route, by_name in NAME_ROUTES.items():
            real = by_name(api, "contracts", headers)
            missing = by_name(api, "nothing_here", headers)
            assert real.status_code == missing.status_code, (who, route, real.text, missing.text)
            assert scene.ids.ds not in real.text and "binds" not in real.text, (who, route)
            echoed = real.content.replace(b"contracts", b"nothing_here")
            assert echoed == missing.content, (who, route, real.text, missing.text)
    owner_still_has_everything(scene)


def test_lists_and_pages_leave_the_dataset_out(scene: Scene) -> None:
    ids = scene.ids
    for who, (api, headers) in scene.attackers.items():

        def get(
            path: str, api: Api = api, headers: dict[str, str] = headers, **params: str
        ) -> httpx.Response:
            r = api.get(path, params=params, headers=headers)
            assert r.status_code == 200, (path, r.text)
            return r

        assert ids.ds not in get("/api/v1/datasets").text, who
        assert get("/api/v1/datasets/status", dataset=ids.ds).json() == {}, who
        assert get("/api/v1/datasets/status/progress", dataset=ids.ds).json() in ({}, []), who
        assert get("/api/v1/datasets/graph-summary", dataset_ids=ids.ds).json() == [], who
        assert ids.ds not in get("/api/v1/activity/pipeline-runs").text, who
        assert ids.run not in get("/api/v1/activity/pipeline-runs").text, who
        page = get("/api/v1/schema/provenance", include_memory="true").text
        assert ids.ds not in page and "nda.txt" not in page and ids.node not in page, who
        assert get("/api/v1/audit", dataset_id=ids.ds).json() == [], who
        found = api.post(
            "/api/v1/search",
            json={"query": "NDA binds Acme", "searchType": "CHUNKS_LEXICAL"},
            headers=headers,
        )
        assert "NDA" not in found.text and ids.ds not in found.text, (who, found.text)
        assert api.get("/api/v1/search", headers=headers).status_code == 200
    owner_still_has_everything(scene)


# Calls on another tenant's role or tenant (the id), naming a user of it (the victim).
TeamCall = Callable[[Api, str, str], httpx.Response]
FOREIGN_TEAM_CALLS: list[tuple[str, TeamCall]] = [
    ("role", lambda a, role, _: a.delete(f"{P}/roles/{role}")),
    ("role", lambda a, role, _: a.post(f"{P}/users/{a.user_id}/roles", params={"role_id": role})),
    ("role", lambda a, role, v: a.delete(f"{P}/users/{v}/roles", params={"role_id": role})),
    ("tenant", lambda a, t, _: a.post(f"{P}/users/{a.user_id}/tenants", params={"tenant_id": t})),
    ("tenant", lambda a, t, v: a.delete(f"{P}/tenants/{t}/users/{v}")),
    ("tenant", lambda a, t, _: a.post(f"{P}/tenants/select", json={"tenant_id": t})),
    ("tenant", lambda a, t, _: a.get("/api/v1/audit", headers={"X-Tenant-Id": t})),
    ("tenant", lambda a, t, _: a.get("/api/v1/datasets", headers={"X-Tenant-Id": t})),
]


def test_members_cannot_escalate_or_reach_another_tenants_team(server: LiveServer) -> None:
    alice, bob, carol = (_user(server, n) for n in ("alice", "bob", "carol"))
    tenant = new_tenant(alice, "acme")
    admin = alice.post(f"{P}/roles", params={"role_name": "admin"}).json()["role_id"]
    ds = add_files(alice, "contracts", [("a.txt", b"a")]).json()["dataset_id"]
    join_tenant(alice, bob, tenant)
    assert select_tenant(bob, tenant).status_code == 200
    assert grant(alice, tenant, "read", [ds]).status_code == 200
    assert grant(alice, str(bob.user_id), "share", [ds]).status_code == 200
    other = new_tenant(carol, "globex")
    carols_role = carol.post(f"{P}/roles", params={"role_name": "admin"}).json()["role_id"]

    # A plain member: no admin role, no roles, no write through a grant, no owner removal.
    refused = [
        bob.post(f"{P}/users/{bob.user_id}/roles", params={"role_id": admin}),
        bob.post(f"{P}/roles", params={"role_name": "admin2"}),
        bob.delete(f"{P}/roles/{admin}"),
        bob.delete(f"{P}/tenants/{tenant}/users/{alice.user_id}"),
        bob.get(f"{P}/tenants/{tenant}/users"),
        bob.get(f"{P}/tenants/{tenant}/roles/{admin}/users"),
        bob.get(f"{P}/tenants/{tenant}/roles/users/{alice.user_id}"),
        bob.get(f"{P}/principals/{alice.user_id}/datasets"),
        grant(bob, tenant, "write", [ds]),
        grant(bob, str(bob.user_id), "write", [ds]),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused), [r.text for r in refused]
    assert bob.get(f"{P}/tenants/{tenant}/roles").json() == []
    assert add_files(bob, "", [("x.txt", b"x")], datasetId=ds).status_code == 403
    assert [e["actorId"] for e in bob.get("/api/v1/audit").json()] == []

    # An admin manages, but never removes the owner.
    alice.post(f"{P}/users/{bob.user_id}/roles", params={"role_id": admin})
    r = bob.delete(f"{P}/tenants/{tenant}/users/{alice.user_id}")
    assert r.status_code == 400, r.text
    assert alice.get(f"{P}/tenants/me").json() == [{"id": tenant, "name": "acme"}]

    # Another tenant's team is the uniform 404, for its admin as for anyone.
    for api in (bob, alice):
        pairs = [
            (f"{P}/tenants/{other}/users", f"{P}/tenants/{uuid.uuid4()}/users"),
            (f"{P}/tenants/{other}/roles", f"{P}/tenants/{uuid.uuid4()}/roles"),
            (
                f"{P}/tenants/{other}/roles/{carols_role}/users",
                f"{P}/tenants/{uuid.uuid4()}/roles/{uuid.uuid4()}/users",
            ),
            (
                f"{P}/tenants/{tenant}/roles/{carols_role}/users",
                f"{P}/tenants/{tenant}/roles/{uuid.uuid4()}/users",
            ),
            (
                f"{P}/tenants/{other}/roles/users/{carol.user_id}",
                f"{P}/tenants/{uuid.uuid4()}/roles/users/{carol.user_id}",
            ),
            (f"{P}/principals/{carols_role}/datasets", f"{P}/principals/{uuid.uuid4()}/datasets"),
            (f"{P}/principals/{carol.user_id}/datasets", f"{P}/principals/{uuid.uuid4()}/datasets"),
            (f"{P}/principals/{other}/datasets", f"{P}/principals/{uuid.uuid4()}/datasets"),
        ]
        for real, missing in pairs:
            assert_uniform_404(api.get(real), api.get(missing), real)
        for kind, call in FOREIGN_TEAM_CALLS:
            real_id = carols_role if kind == "role" else other
            random_id = str(uuid.uuid4())
            real = call(api, real_id, str(carol.user_id))
            missing = call(api, random_id, str(carol.user_id))
            assert_uniform_404(real, missing, str(real.url), (real_id, random_id))
    # Another tenant's role or the tenant itself is no principal for acme's datasets: a grant
    # naming one answers as for a random id (the id's existence is not told), changing nothing.
    for foreign in (carols_role, other):
        for method in ("POST", "DELETE"):
            path, random_path = f"{P}/datasets/{foreign}", f"{P}/datasets/{uuid.uuid4()}"
            read = {"permission_name": "read"}
            real = alice.request(method, path, params=read, json=[ds])
            missing = alice.request(method, random_path, params=read, json=[ds])
            assert_uniform_404(real, missing, f"{method} {path}")
        assert carol.get(f"{P}/principals/{foreign}/datasets").json() == []
    assert carol.get(f"{P}/tenants/{other}/roles").json()[0]["id"] == carols_role
    assert [e["actorId"] for e in carol.get("/api/v1/audit").json()] == [carol.user_id] * 2


def test_a_former_member_sees_nothing_through_another_process(
    server: LiveServer, settings: Settings
) -> None:
    """Another process of the deployment still holds the former member's identity (its user
    cache: the tenant they had selected): their direct grant on the tenant's dataset must not
    outlive their membership there either."""
    alice, dave = (_user(server, n) for n in ("alice", "dave"))
    tenant = new_tenant(alice, "acme")
    ds = add_files(alice, "contracts", [("a.txt", b"secret")]).json()["dataset_id"]
    join_tenant(alice, dave, tenant)
    assert select_tenant(dave, tenant).status_code == 200
    assert grant(alice, str(dave.user_id), "read", [ds]).status_code == 200
    own = add_files(dave, "daves", [("d.txt", b"dave's")]).json()["dataset_id"]
    with LiveServer(settings) as second, Api(base_url=second.base_url, timeout=60) as elsewhere:
        elsewhere.headers["Authorization"] = dave.headers["Authorization"]
        assert elsewhere.get(f"/api/v1/datasets/{ds}/data").status_code == 200  # now cached
        assert alice.delete(f"{P}/tenants/{tenant}/users/{dave.user_id}").status_code == 200
        real = elsewhere.get(f"/api/v1/datasets/{ds}/data")
        assert_uniform_404(real, elsewhere.get(f"/api/v1/datasets/{uuid.uuid4()}/data"), ds)
        assert elsewhere.get("/api/v1/datasets").json() == []
        assert elsewhere.get("/api/v1/datasets/status").json() == {}
        # What he owns there is out of his reach too: "everything" is what he can see.
        gone = elsewhere.post("/api/v1/forget", json={"everything": True})
        assert gone.json() == {"datasets_removed": 0, "status": "success"}
        assert elsewhere.get(f"/api/v1/datasets/{own}/data").status_code == 404
