"""Dataset permissions through HTTP: grant, revoke, and what each permission allows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import LiveServer
from tests.support import Api, add_files, grant, revoke, sign_up

DATASET_NOT_FOUND = {"detail": "Dataset not found. [DatasetNotFoundError]"}


def denied(permission: str) -> dict[str, str]:
    return {
        "detail": f"Request owner does not have necessary permission: [{permission}] "
        "for all datasets requested. [PermissionDeniedError]"
    }


@dataclass
class Shared:
    """Alice's dataset with one text item."""

    dataset_id: str
    data_id: str


@pytest.fixture
def shared(alice: Api) -> Shared:
    r = add_files(alice, "alice_ds", [("notes.txt", b"alice's notes")])
    assert r.status_code == 200, r.text
    body = r.json()
    return Shared(body["dataset_id"], body["data_ingestion_info"][0]["data_id"])


@pytest.fixture
def carol(server: LiveServer) -> Iterator[Api]:
    api = sign_up(server.base_url, "carol@example.com")
    yield api
    api.close()


def visible_ids(api: httpx.Client) -> list[str]:
    r = api.get("/api/v1/datasets")
    assert r.status_code == 200
    return [d["id"] for d in r.json()]


def item_ids(api: httpx.Client, dataset_id: str) -> list[str]:
    r = api.get(f"/api/v1/datasets/{dataset_id}/data")
    assert r.status_code == 200, r.text
    return [i["id"] for i in r.json()]


def test_grant_read_lets_the_grantee_see_list_and_download(
    alice: Api, bob: Api, shared: Shared
) -> None:
    assert visible_ids(bob) == []
    r = grant(alice, bob.user_id, "read", [shared.dataset_id])
    assert r.status_code == 200, r.text
    assert r.json() == {"message": "Permission assigned to principal"}

    [seen] = bob.get("/api/v1/datasets").json()
    assert seen["id"] == shared.dataset_id
    assert seen["name"] == "alice_ds"
    assert seen["ownerId"] == alice.user_id
    assert item_ids(bob, shared.dataset_id) == [shared.data_id]
    raw = bob.get(f"/api/v1/datasets/{shared.dataset_id}/data/{shared.data_id}/raw")
    assert raw.status_code == 200
    assert raw.content == b"alice's notes"
    assert bob.get(f"/api/v1/datasets/{shared.dataset_id}/graph").status_code == 200
    status = bob.get("/api/v1/datasets/status", params={"pipeline": "add_pipeline"})
    assert status.json() == {shared.dataset_id: "DATASET_PROCESSING_COMPLETED"}
    summary = bob.get("/api/v1/datasets/graph-summary").json()
    assert [s["datasetId"] for s in summary] == [shared.dataset_id]
    # Granting again is harmless.
    assert grant(alice, bob.user_id, "read", [shared.dataset_id]).status_code == 200
    assert visible_ids(bob) == [shared.dataset_id]


def test_read_alone_does_not_allow_adding_or_deleting(alice: Api, bob: Api, shared: Shared) -> None:
    assert grant(alice, bob.user_id, "read", [shared.dataset_id]).status_code == 200
    added = add_files(bob, "", [("b.txt", b"bob's bytes")], datasetId=shared.dataset_id)
    assert (added.status_code, added.json()) == (403, denied("write"))
    gone = bob.delete(f"/api/v1/datasets/{shared.dataset_id}")
    assert (gone.status_code, gone.json()) == (403, denied("delete"))
    gone_item = bob.delete(f"/api/v1/datasets/{shared.dataset_id}/data/{shared.data_id}")
    assert (gone_item.status_code, gone_item.json()) == (403, denied("delete"))
    # "Delete all" only touches datasets the caller may delete.
    assert bob.delete("/api/v1/datasets").status_code == 200
    assert item_ids(alice, shared.dataset_id) == [shared.data_id]
    assert visible_ids(bob) == [shared.dataset_id]
    assert bob.get("/api/v1/datasets").json()[0]["ownerId"] == alice.user_id


def test_write_and_delete_grants_allow_exactly_those(alice: Api, bob: Api, shared: Shared) -> None:
    assert grant(alice, bob.user_id, "read", [shared.dataset_id]).status_code == 200
    assert grant(alice, bob.user_id, "write", [shared.dataset_id]).status_code == 200
    added = add_files(bob, "", [("b.txt", b"bob's bytes")], datasetId=shared.dataset_id)
    assert added.status_code == 200, added.text
    assert added.json()["dataset_id"] == shared.dataset_id
    bob_item = added.json()["data_ingestion_info"][0]["data_id"]
    assert set(item_ids(alice, shared.dataset_id)) == {shared.data_id, bob_item}
    denied_delete = bob.delete(f"/api/v1/datasets/{shared.dataset_id}/data/{bob_item}")
    assert denied_delete.status_code == 403

    assert grant(alice, bob.user_id, "delete", [shared.dataset_id]).status_code == 200
    r = bob.delete(f"/api/v1/datasets/{shared.dataset_id}/data/{bob_item}")
    assert r.status_code == 200
    assert item_ids(alice, shared.dataset_id) == [shared.data_id]
    assert bob.delete(f"/api/v1/datasets/{shared.dataset_id}").status_code == 200
    assert visible_ids(alice) == []


def test_write_without_read_is_still_not_found(alice: Api, bob: Api, shared: Shared) -> None:
    assert grant(alice, bob.user_id, "write", [shared.dataset_id]).status_code == 200
    added = add_files(bob, "", [("b.txt", b"bob's bytes")], datasetId=shared.dataset_id)
    assert (added.status_code, added.json()) == (404, DATASET_NOT_FOUND)
    assert visible_ids(bob) == []
    assert item_ids(alice, shared.dataset_id) == [shared.data_id]


def test_granting_requires_share(alice: Api, bob: Api, carol: Api, shared: Shared) -> None:
    assert grant(alice, bob.user_id, "read", [shared.dataset_id]).status_code == 200
    r = grant(bob, carol.user_id, "read", [shared.dataset_id])
    assert (r.status_code, r.json()) == (403, denied("share"))
    assert visible_ids(carol) == []
    r = grant(bob, bob.user_id, "write", [shared.dataset_id])
    assert (r.status_code, r.json()) == (403, denied("share"))
    r = revoke(bob, alice.user_id, "read", [shared.dataset_id])
    assert (r.status_code, r.json()) == (403, denied("share"))
    assert visible_ids(alice) == [shared.dataset_id]

    assert grant(alice, bob.user_id, "share", [shared.dataset_id]).status_code == 200
    assert grant(bob, carol.user_id, "read", [shared.dataset_id]).status_code == 200
    assert visible_ids(carol) == [shared.dataset_id]


def test_sharing_passes_on_only_what_the_sharer_holds(
    alice: Api, bob: Api, carol: Api, shared: Shared
) -> None:
    """`share` alone never gains write or delete, for the sharer or anyone (issue 9)."""
    for permission in ("read", "share"):
        assert grant(alice, bob.user_id, permission, [shared.dataset_id]).status_code == 200
    for principal in (bob.user_id, carol.user_id):
        for permission in ("write", "delete"):
            r = grant(bob, principal, permission, [shared.dataset_id])
            assert (r.status_code, r.json()) == (403, denied(permission))
    added = add_files(bob, "", [("b.txt", b"bob's bytes")], datasetId=shared.dataset_id)
    assert added.status_code == 403
    assert grant(alice, bob.user_id, "write", [shared.dataset_id]).status_code == 200
    assert grant(bob, carol.user_id, "write", [shared.dataset_id]).status_code == 200


def test_unknown_permission_name_is_refused(alice: Api, bob: Api, shared: Shared) -> None:
    for name in ("admin", "READ", ""):
        r = grant(alice, bob.user_id, name, [shared.dataset_id])
        assert r.status_code == 400, name
        assert visible_ids(bob) == []
    r = grant(alice, bob.user_id, "admin", [shared.dataset_id])
    assert r.json() == {
        "detail": "admin not found or not in allowed permission types "
        "['read', 'write', 'delete', 'share'] [PermissionNotFoundError]"
    }
    assert revoke(alice, alice.user_id, "owner", [shared.dataset_id]).status_code == 400
    assert visible_ids(alice) == [shared.dataset_id]


def test_unknown_principal_is_not_found(alice: Api, shared: Shared) -> None:
    r = grant(alice, str(uuid.uuid4()), "read", [shared.dataset_id])
    assert (r.status_code, r.json()) == (404, {"detail": "User not found"})
    r = revoke(alice, str(uuid.uuid4()), "read", [shared.dataset_id])
    assert (r.status_code, r.json()) == (404, {"detail": "User not found"})
    r = grant(alice, "not-a-uuid", "read", [shared.dataset_id])
    assert r.status_code == 400


def test_malformed_grant_requests_are_refused(alice: Api, bob: Api, shared: Shared) -> None:
    url = f"/api/v1/permissions/datasets/{bob.user_id}"
    no_name = alice.post(url, json=[shared.dataset_id])
    assert no_name.status_code == 400
    assert set(no_name.json()) == {"detail", "body"}
    for body in ({"dataset_ids": [shared.dataset_id]}, ["not-a-uuid"], shared.dataset_id):
        r = alice.post(url, params={"permission_name": "read"}, json=body)
        assert r.status_code == 400, body
    assert alice.post(url, params={"permission_name": "read"}).status_code == 400
    assert visible_ids(bob) == []


def test_revoke_removes_access(alice: Api, bob: Api, shared: Shared) -> None:
    data_url = f"/api/v1/datasets/{shared.dataset_id}/data"
    raw_url = f"{data_url}/{shared.data_id}/raw"
    assert grant(alice, bob.user_id, "read", [shared.dataset_id]).status_code == 200
    assert bob.get(raw_url).status_code == 200

    r = revoke(alice, bob.user_id, "read", [shared.dataset_id])
    assert r.status_code == 200
    assert r.json() == {"message": "Permission revoked from principal"}
    assert visible_ids(bob) == []
    for response in (bob.get(data_url), bob.get(raw_url)):
        assert (response.status_code, response.json()) == (404, DATASET_NOT_FOUND)
    status = bob.get("/api/v1/datasets/status", params={"dataset": shared.dataset_id})
    assert status.json() == {}
    # Revoking what is not held changes nothing and succeeds.
    assert revoke(alice, bob.user_id, "read", [shared.dataset_id]).status_code == 200
    assert item_ids(alice, shared.dataset_id) == [shared.data_id]


def test_revoking_read_leaves_other_grants_unusable(alice: Api, bob: Api, shared: Shared) -> None:
    for name in ("read", "write"):
        assert grant(alice, bob.user_id, name, [shared.dataset_id]).status_code == 200
    assert revoke(alice, bob.user_id, "read", [shared.dataset_id]).status_code == 200
    added = add_files(bob, "", [("b.txt", b"late")], datasetId=shared.dataset_id)
    assert (added.status_code, added.json()) == (404, DATASET_NOT_FOUND)
    assert item_ids(alice, shared.dataset_id) == [shared.data_id]


def test_grant_is_all_or_nothing(alice: Api, bob: Api, carol: Api, shared: Shared) -> None:
    carols = add_files(carol, "carol_ds", [("c.txt", b"carol")]).json()["dataset_id"]
    for others in ([str(uuid.uuid4())], [carols]):
        r = grant(alice, bob.user_id, "read", [shared.dataset_id, *others])
        assert (r.status_code, r.json()) == (404, DATASET_NOT_FOUND)
        assert visible_ids(bob) == []
    assert grant(alice, bob.user_id, "read", [shared.dataset_id]).status_code == 200
    r = revoke(alice, bob.user_id, "read", [shared.dataset_id, str(uuid.uuid4())])
    assert r.status_code == 404
    assert visible_ids(bob) == [shared.dataset_id]


def test_grants_are_per_dataset_and_per_principal(
    alice: Api, bob: Api, carol: Api, shared: Shared
) -> None:
    other = add_files(alice, "alice_other", [("o.txt", b"other")]).json()["dataset_id"]
    assert grant(alice, bob.user_id, "read", [shared.dataset_id]).status_code == 200
    assert visible_ids(bob) == [shared.dataset_id]
    assert visible_ids(carol) == []
    assert bob.get(f"/api/v1/datasets/{other}/data").status_code == 404
    assert grant(alice, carol.user_id, "read", [other, shared.dataset_id]).status_code == 200
    assert set(visible_ids(carol)) == {other, shared.dataset_id}
    assert revoke(alice, carol.user_id, "read", [shared.dataset_id]).status_code == 200
    assert visible_ids(carol) == [other]
    assert visible_ids(bob) == [shared.dataset_id]


def test_a_shared_dataset_is_not_addressed_by_name(alice: Api, bob: Api, shared: Shared) -> None:
    assert grant(alice, bob.user_id, "write", [shared.dataset_id]).status_code == 200
    assert grant(alice, bob.user_id, "read", [shared.dataset_id]).status_code == 200
    r = add_files(bob, "alice_ds", [("b.txt", b"bob's own")])
    assert r.status_code == 200
    assert r.json()["dataset_id"] != shared.dataset_id
    assert item_ids(alice, shared.dataset_id) == [shared.data_id]
    assert sorted(visible_ids(bob)) == sorted([shared.dataset_id, r.json()["dataset_id"]])


def test_the_owner_cannot_revoke_their_own_permissions(alice: Api) -> None:
    ds = alice.post("/api/v1/datasets", json={"name": "mine"}).json()["id"]
    r = alice.request(
        "DELETE",
        f"/api/v1/permissions/datasets/{alice.user_id}",
        params={"permission_name": "read"},
        json=[ds],
    )
    assert r.status_code == 400
    assert "owner" in r.json()["error"]
    assert alice.get(f"/api/v1/datasets/{ds}/data").status_code == 200


def test_granting_on_a_dataset_you_cannot_see_never_reveals_whether_a_user_exists(
    alice: Api, bob: Api
) -> None:
    ds = alice.post("/api/v1/datasets", json={"name": "mine"}).json()["id"]
    real = bob.post(
        f"/api/v1/permissions/datasets/{alice.user_id}",
        params={"permission_name": "read"},
        json=[ds],
    )
    fake = bob.post(
        f"/api/v1/permissions/datasets/{uuid.uuid4()}",
        params={"permission_name": "read"},
        json=[ds],
    )
    assert real.status_code == fake.status_code == 404
    assert real.content == fake.content
