"""The audit trail (issue 12, item 5): every access change, deletion and raw download leaves
exactly one event, written with the change; `GET /api/v1/audit` shows a tenant's events to its
owner and admins, a caller's own to anyone; retention by the janitor's pass."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from graphmill.auth import audit, teams
from graphmill.auth.users import UserInfo, get_user
from graphmill.client.local import LocalClient
from graphmill.db import Database
from graphmill.db.models import AuditEvent
from graphmill.errors import GraphmillError
from graphmill.services import close_services, open_services, sweep
from tests.conftest import LiveServer
from tests.support import Api, sign_up

TEXT = b"the quick brown fox jumps"


def events(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    r = api.get("/api/v1/audit", params=params)
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()
    return found


def actions(found: list[dict[str, Any]]) -> list[str]:
    return [e["action"] for e in found]


def new_dataset(api: Api, name: str, **headers: str) -> tuple[str, str]:
    """(dataset id, data id) of a new dataset holding one text item."""
    r = api.post(
        "/api/v1/add",
        files=[("data", (f"{name}.txt", TEXT + name.encode(), "text/plain"))],
        data={"datasetName": name},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    dataset_id = r.json()["dataset_id"]
    items = api.get(f"/api/v1/datasets/{dataset_id}/data", headers=headers).json()
    return dataset_id, items[0]["id"]


def with_api_key(api: Api) -> Api:
    """A client of the same user that presents a new API key instead of the token."""
    key = api.post("/api/v1/auth/api-keys", json={"name": "audit"}).json()["key"]
    keyed = Api(base_url=str(api.base_url), timeout=60, headers={"X-Api-Key": key})
    keyed.user_id, keyed.email = api.user_id, api.email
    return keyed


def in_store(server: LiveServer, work: Callable[[Database], Awaitable[Any]]) -> Any:
    """Run `work` on the live server's store from the test (its own engine)."""

    async def run() -> Any:
        db = Database(server.settings.sqlalchemy_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


def actor(db: Database, api: Api, tenant_id: uuid.UUID | None) -> Awaitable[UserInfo]:
    async def load() -> UserInfo:
        user = await get_user(db, uuid.UUID(api.user_id or ""))
        assert user is not None
        return replace(user, tenant_id=tenant_id, credential="token")

    return load()


def count_events(server: LiveServer) -> int:
    async def count(db: Database) -> int:
        async with db.read() as session:
            return int(await session.scalar(select(func.count()).select_from(AuditEvent)) or 0)

    return int(in_store(server, count))


def share(
    api: httpx.Client, principal: Any, permission: str, datasets: list[str], method: str = "POST"
) -> httpx.Response:
    """Grant (POST) or revoke (DELETE) a permission on datasets."""
    return api.request(
        method,
        f"/api/v1/permissions/datasets/{principal}",
        params={"permission_name": permission},
        json=datasets,
    )


def test_grants_and_revokes_record_actor_credential_and_ids(
    server: LiveServer, alice: Api, bob: Api
) -> None:
    first, _ = new_dataset(alice, "first")
    second, _ = new_dataset(alice, "second")
    r = share(alice, bob.user_id, "read", [first, second])
    assert r.status_code == 200, r.text
    granted = events(alice)
    assert actions(granted) == ["permission.grant", "permission.grant"]
    assert {e["datasetId"] for e in granted} == {first, second}
    for e in granted:
        assert e["actorId"] == alice.user_id and e["actorEmail"] == alice.email
        assert e["credential"] == "token" and e["targetId"] == bob.user_id
        assert e["tenantId"] is None and e["dataId"] is None
        assert e["detail"] == {"permission": "read"}
        assert datetime.fromisoformat(e["at"]) > datetime.now(UTC) - timedelta(minutes=5)

    keyed = with_api_key(alice)
    key_prefix = keyed.headers["X-Api-Key"][:8]
    r = share(keyed, bob.user_id, "read", [first], "DELETE")
    assert r.status_code == 200, r.text
    [revoked] = events(alice, action="permission.revoke")
    assert revoked["credential"] == f"api_key:{key_prefix}"
    assert (revoked["datasetId"], revoked["targetId"]) == (first, bob.user_id)
    keyed.close()

    before = count_events(server)
    refused = [
        # bob reads `second` but may not share it; `first` he cannot see at all
        share(bob, bob.user_id, "write", [second]),
        share(bob, bob.user_id, "read", [first]),
        share(alice, uuid.uuid4(), "read", [first]),
        share(alice, bob.user_id, "own", [first]),
        # all or nothing: one unreachable dataset refuses the whole grant
        share(alice, bob.user_id, "read", [first, str(uuid.uuid4())]),
        share(alice, alice.user_id, "read", [first], "DELETE"),
    ]
    assert [r.status_code for r in refused] == [403, 404, 404, 400, 404, 400]
    assert all(isinstance(r.json(), dict) for r in refused)
    assert count_events(server) == before
    assert events(bob) == []


def test_deletions_downloads_and_forget_leave_one_event_each(
    server: LiveServer, alice: Api, bob: Api
) -> None:
    dataset_id, data_id = new_dataset(alice, "files")
    raw = f"/api/v1/datasets/{dataset_id}/data/{data_id}/raw"
    assert alice.get(raw).status_code == 200
    ranged = alice.get(raw, headers={"Range": "bytes=0-3"})
    assert ranged.status_code == 206
    etag = ranged.headers["ETag"]
    # Neither a HEAD nor a 304 sends bytes; a stranger's attempt is a 404.
    assert alice.head(raw).status_code == 200
    assert alice.get(raw, headers={"If-None-Match": etag}).status_code == 304
    assert bob.get(raw).status_code == 404
    downloads = events(alice)
    assert actions(downloads) == ["data.raw_download", "data.raw_download"]
    size = len(TEXT + b"files")
    assert [e["detail"]["range"] for e in downloads] == [f"bytes 0-3/{size}", None]
    assert all(e["detail"]["name"] == "files.txt" for e in downloads)
    assert {(e["datasetId"], e["dataId"]) for e in downloads} == {(dataset_id, data_id)}

    async def download_in_process() -> bytes:
        client = await LocalClient.open(server.settings, email=alice.email)
        try:
            chunks = client.download(uuid.UUID(dataset_id), uuid.UUID(data_id))
            return b"".join([chunk async for chunk in chunks])
        finally:
            await client.aclose()

    assert asyncio.run(download_in_process()) == TEXT + b"files"
    in_process = events(alice, limit=1)[0]
    assert (in_process["action"], in_process["credential"]) == ("data.raw_download", "local")

    assert bob.delete(f"/api/v1/datasets/{dataset_id}/data/{data_id}").status_code == 404
    assert bob.delete(f"/api/v1/datasets/{dataset_id}").status_code == 404
    assert events(bob) == []
    assert alice.delete(f"/api/v1/datasets/{dataset_id}/data/{data_id}").status_code == 200
    assert alice.delete(f"/api/v1/datasets/{dataset_id}/data/{data_id}").status_code == 404
    [deleted] = events(alice, action="data.delete")
    assert (deleted["datasetId"], deleted["dataId"]) == (dataset_id, data_id)
    assert deleted["detail"] == {"name": "files.txt"}
    assert alice.delete(f"/api/v1/datasets/{dataset_id}").status_code == 200
    [gone] = events(alice, action="dataset.delete")
    assert gone["datasetId"] == dataset_id and gone["detail"] == {"name": "files"}

    kept_id, kept_item = new_dataset(alice, "kept")
    forgotten_id, _ = new_dataset(alice, "forgotten")
    r = alice.post("/api/v1/forget", json={"dataset_id": kept_id, "data_id": kept_item})
    assert r.status_code == 200, r.text
    r = alice.post("/api/v1/forget", json={"dataset": "forgotten"})
    assert r.status_code == 200, r.text
    assert alice.post("/api/v1/forget", json={"dataset": "forgotten"}).status_code == 404
    forgets = events(alice, action="forget")
    assert [(e["datasetId"], e["dataId"]) for e in forgets] == [
        (forgotten_id, None),
        (kept_id, kept_item),
    ]
    assert [e["detail"]["name"] for e in forgets] == ["forgotten", "kept.txt"]

    # deleting them all: one event per dataset (`kept` is still there)
    remaining = {kept_id} | {new_dataset(alice, name)[0] for name in ("left", "right")}
    assert alice.delete("/api/v1/datasets").status_code == 200
    assert {e["datasetId"] for e in events(alice, action="dataset.delete", limit=3)} == remaining
    assert len(events(alice)) == 10  # nothing else was recorded


def test_team_changes_are_seen_by_the_tenants_managers_only(
    server: LiveServer, alice: Api, bob: Api
) -> None:
    carol = sign_up(server.base_url, "carol@example.com")
    dave = sign_up(server.base_url, "dave@example.com")
    ids = {name: uuid.UUID(api.user_id or "") for name, api in [("bob", bob), ("carol", carol)]}

    async def build_teams(db: Database) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
        owner = await actor(db, alice, None)
        tenant = await teams.create_tenant(db, owner, "acme")
        owner = replace(owner, tenant_id=tenant)
        for name in ("bob", "carol"):
            await teams.add_tenant_member(db, owner, ids[name], tenant)
        admin, _ = await teams.create_role(db, owner, "admin")
        legal, _ = await teams.create_role(db, owner, "legal")
        await teams.set_role_member(db, owner, ids["bob"], admin, member=True)
        # bob, an admin, manages too: his changes are the tenant's events
        bob_in = await actor(db, bob, tenant)
        await teams.set_role_member(db, bob_in, ids["carol"], legal, member=True)
        await teams.set_role_member(db, bob_in, ids["carol"], legal, member=False)
        await teams.delete_role(db, bob_in, legal)
        # refused changes leave nothing: carol manages nothing, dave is no member
        carol_in = await actor(db, carol, tenant)
        dave_own = await actor(db, dave, None)
        other = await teams.create_tenant(db, dave_own, "globex")
        refusals = [
            teams.add_tenant_member(db, carol_in, uuid.UUID(dave.user_id or ""), tenant),
            teams.remove_tenant_member(db, replace(dave_own, tenant_id=other), tenant, ids["bob"]),
            teams.create_role(db, carol_in, "sneaky"),
            teams.remove_tenant_member(db, bob_in, tenant, uuid.UUID(alice.user_id or "")),
            teams.add_tenant_member(db, owner, ids["bob"], tenant),
            teams.create_role(db, owner, "admin"),  # fails in the database: a duplicate
        ]
        for refused in refusals:
            with pytest.raises(GraphmillError):
                await refused
        return tenant, legal, other

    tenant, legal, other = in_store(server, build_teams)
    acme = {"X-Tenant-Id": str(tenant)}
    # carol works in the tenant: her download is the tenant's event, and her own
    dataset_id, data_id = new_dataset(carol, "contracts", **acme)
    assert carol.get(f"/api/v1/datasets/{dataset_id}/data/{data_id}/raw", headers=acme).is_success

    expected = [
        "data.raw_download",
        "role.delete",
        "role.member.remove",
        "role.member.add",
        "role.member.add",
        "role.create",
        "role.create",
        "tenant.member.add",
        "tenant.member.add",
        "tenant.create",
    ]
    for manager in (alice, bob):
        seen = manager.get("/api/v1/audit", headers=acme).json()
        assert actions(seen) == expected
        assert {e["tenantId"] for e in seen} == {str(tenant)}
    seen = alice.get("/api/v1/audit", headers=acme).json()
    by_action = {e["action"]: e for e in seen}
    assert by_action["tenant.create"]["detail"] == {"name": "acme"}
    assert by_action["role.delete"]["targetId"] == str(legal)
    assert by_action["role.delete"]["actorId"] == bob.user_id
    assert by_action["role.member.remove"]["targetId"] == carol.user_id
    assert by_action["role.member.remove"]["detail"] == {"roleId": str(legal), "role": "legal"}
    added = [e["targetId"] for e in seen if e["action"] == "tenant.member.add"]
    assert sorted(added) == sorted([bob.user_id, carol.user_id])
    # a member sees their own events only; the tenant-less space holds none of these
    [own] = carol.get("/api/v1/audit", headers=acme).json()
    assert (own["action"], own["actorId"], own["dataId"]) == (
        "data.raw_download",
        carol.user_id,
        data_id,
    )
    assert events(carol) == []
    assert alice.get("/api/v1/audit", headers={"X-Tenant-Id": "null"}).json() == []
    # another tenant's owner sees only their own tenant, and cannot ask for acme's
    [created] = dave.get("/api/v1/audit", headers={"X-Tenant-Id": str(other)}).json()
    assert created["action"] == "tenant.create" and created["tenantId"] == str(other)
    assert dave.get("/api/v1/audit", headers=acme).status_code == 404
    # removing a member is the tenant's event, seen by its managers
    in_store(server, lambda db: _remove(db, alice, tenant, ids["carol"]))
    [removed] = alice.get(
        "/api/v1/audit", params={"action": "tenant.member.remove"}, headers=acme
    ).json()
    assert removed["targetId"] == carol.user_id and removed["tenantId"] == str(tenant)
    carol.close()
    dave.close()


async def _remove(db: Database, owner: Api, tenant: uuid.UUID, user_id: uuid.UUID) -> None:
    await teams.remove_tenant_member(db, await actor(db, owner, tenant), tenant, user_id)


def test_filters_paging_and_bad_filters(server: LiveServer, alice: Api, bob: Api) -> None:
    made = [new_dataset(alice, name) for name in ("one", "two")]
    start = datetime.now(UTC)
    for dataset_id, data_id in made * 2:
        raw = f"/api/v1/datasets/{dataset_id}/data/{data_id}/raw"
        assert alice.get(raw).status_code == 200
    assert share(alice, bob.user_id, "read", [made[0][0]]).status_code == 200
    everything = events(alice)
    assert len(everything) == 5
    assert [e["id"] for e in everything] == sorted((e["id"] for e in everything), reverse=True)
    assert [e["at"] for e in everything] == sorted((e["at"] for e in everything), reverse=True)
    pages = [events(alice, limit=2, offset=offset) for offset in (0, 2, 4, 6)]
    assert [len(p) for p in pages] == [2, 2, 1, 0]
    assert [e["id"] for p in pages for e in p] == [e["id"] for e in everything]

    assert len(events(alice, dataset_id=made[1][0])) == 2
    assert len(events(alice, action="data.raw_download")) == 4
    assert len(events(alice, action="permission.grant", dataset_id=made[0][0])) == 1
    assert len(events(alice, user_id=alice.user_id)) == 5
    assert events(alice, user_id=bob.user_id) == []
    assert len(events(alice, since=start.isoformat())) == 5
    assert events(alice, since=(start + timedelta(hours=1)).isoformat()) == []
    assert events(alice, until=(start - timedelta(hours=1)).isoformat()) == []
    naive_past = (start - timedelta(hours=1)).replace(tzinfo=None).isoformat()
    assert len(events(alice, since=naive_past)) == 5
    assert events(bob) == []  # the grant concerns bob but was alice's doing

    bad = [
        {"user_id": "nobody"},
        {"dataset_id": "1234"},
        {"action": "dataset.read"},
        {"since": "yesterday"},
        {"until": "2026-13-01T00:00:00"},
        {"since": start.isoformat(), "until": (start - timedelta(days=1)).isoformat()},
        {"limit": 0},
        {"limit": 1001},
        {"offset": -1},
    ]
    for params in bad:
        r = alice.get("/api/v1/audit", params=params)
        assert r.status_code == 400, (params, r.text)
        assert "detail" in r.json()
    assert alice.get("/api/v1/audit", params={"limit": 1000}).status_code == 200
    assert httpx.get(f"{server.base_url}/api/v1/audit").status_code == 401


def test_the_janitor_pass_deletes_events_past_retention(
    server: LiveServer, alice: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset_id, data_id = new_dataset(alice, "old")
    raw = f"/api/v1/datasets/{dataset_id}/data/{data_id}/raw"
    for _ in range(4):
        assert alice.get(raw).status_code == 200
    [newest, middle, old, oldest] = [e["id"] for e in events(alice)]
    monkeypatch.setattr(audit, "PRUNE_BATCH", 1)  # a backlog goes in several batches

    async def age_and_sweep(days: int) -> None:
        services = await open_services(
            server.settings.model_copy(update={"audit_retention_days": days}), role="client"
        )
        assert services.janitor is not None
        services.janitor.cancel()  # before its first pass: only the pass below runs
        try:
            now = datetime.now(UTC)
            async with services.db.write() as session:
                for event_id, age in ((middle, 29), (old, 31), (oldest, 40)):
                    await session.execute(
                        update(AuditEvent)
                        .where(AuditEvent.id == event_id)
                        .values(at=now - timedelta(days=age))
                    )
            await sweep(services)
        finally:
            await close_services(services)

    asyncio.run(age_and_sweep(0))  # 0 keeps events for ever
    assert [e["id"] for e in events(alice)] == [newest, middle, old, oldest]
    asyncio.run(age_and_sweep(30))
    assert [e["id"] for e in events(alice)] == [newest, middle]
