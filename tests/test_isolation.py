"""Two users, every route: nothing of one is visible to the other, and existence never leaks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import pytest

from tests.support import Api, add_files

DATASET_NOT_FOUND = {"detail": "Dataset not found. [DatasetNotFoundError]"}


@dataclass
class Owned:
    """Alice's dataset with one item, as Alice sees it."""

    dataset_id: str
    data_id: str


@pytest.fixture
def owned(alice: Api) -> Owned:
    r = add_files(alice, "private", [("secret.txt", b"alice's secret")])
    assert r.status_code == 200, r.text
    body = r.json()
    return Owned(body["dataset_id"], body["data_ingestion_info"][0]["data_id"])


def assert_same_404(real: httpx.Response, missing: httpx.Response) -> None:
    """Bob's answer for Alice's real id is indistinguishable from one for a random id."""
    assert real.status_code == missing.status_code == 404
    assert real.content == missing.content
    assert real.headers.get("content-type") == missing.headers.get("content-type")
    assert real.headers.get("content-length") == missing.headers.get("content-length")


def alice_still_has_everything(alice: Api, owned: Owned) -> None:
    assert [d["id"] for d in alice.get("/api/v1/datasets").json()] == [owned.dataset_id]
    items = alice.get(f"/api/v1/datasets/{owned.dataset_id}/data").json()
    assert [i["id"] for i in items] == [owned.data_id]
    raw = alice.get(f"/api/v1/datasets/{owned.dataset_id}/data/{owned.data_id}/raw")
    assert raw.content == b"alice's secret"


def test_dataset_lists_show_only_the_callers_datasets(alice: Api, bob: Api, owned: Owned) -> None:
    bobs = add_files(bob, "bobs", [("b.txt", b"bob")]).json()["dataset_id"]
    for path in ("/api/v1/datasets", "/api/v1/datasets/"):
        assert [d["id"] for d in bob.get(path).json()] == [bobs]
        assert [d["id"] for d in alice.get(path).json()] == [owned.dataset_id]


def test_data_list_of_someone_elses_dataset_is_not_found(
    alice: Api, bob: Api, owned: Owned
) -> None:
    path = "/api/v1/datasets/{}/data"
    assert alice.get(path.format(owned.dataset_id)).status_code == 200
    real = bob.get(path.format(owned.dataset_id))
    assert real.json() == DATASET_NOT_FOUND
    assert_same_404(real, bob.get(path.format(uuid.uuid4())))


def test_raw_download_of_someone_elses_item_is_not_found(
    alice: Api, bob: Api, owned: Owned
) -> None:
    path = "/api/v1/datasets/{}/data/{}/raw"
    real_url = path.format(owned.dataset_id, owned.data_id)
    assert alice.get(real_url).status_code == 200
    assert alice.head(real_url).status_code == 200
    real = bob.get(real_url)
    assert real.json() == DATASET_NOT_FOUND
    assert b"secret" not in real.content
    for missing_url in (
        path.format(uuid.uuid4(), uuid.uuid4()),
        path.format(uuid.uuid4(), owned.data_id),
        path.format(owned.dataset_id, uuid.uuid4()),
    ):
        assert_same_404(real, bob.get(missing_url))
        head = bob.head(real_url)
        assert_same_404(head, bob.head(missing_url))
        assert head.content == b""
        assert "etag" not in head.headers
        assert "content-disposition" not in head.headers


def test_an_item_id_from_another_dataset_is_not_found_in_ones_own(
    alice: Api, bob: Api, owned: Owned
) -> None:
    bobs = add_files(bob, "bobs", [("b.txt", b"bob")]).json()["dataset_id"]
    path = "/api/v1/datasets/{}/data/{}/raw"
    real = bob.get(path.format(bobs, owned.data_id))
    missing = bob.get(path.format(bobs, uuid.uuid4()))
    assert real.json() == {"detail": "Data not found. [DataNotFoundError]"}
    assert_same_404(real, missing)
    assert_same_404(bob.head(path.format(bobs, owned.data_id)), bob.head(missing.url.path))
    gone = bob.delete(f"/api/v1/datasets/{bobs}/data/{owned.data_id}")
    assert_same_404(gone, bob.delete(f"/api/v1/datasets/{bobs}/data/{uuid.uuid4()}"))
    alice_still_has_everything(alice, owned)


def test_deleting_someone_elses_item_is_not_found_and_changes_nothing(
    alice: Api, bob: Api, owned: Owned
) -> None:
    path = "/api/v1/datasets/{}/data/{}"
    real = bob.delete(path.format(owned.dataset_id, owned.data_id))
    assert real.json() == DATASET_NOT_FOUND
    assert_same_404(real, bob.delete(path.format(uuid.uuid4(), owned.data_id)))
    assert_same_404(real, bob.delete(path.format(uuid.uuid4(), uuid.uuid4())))
    alice_still_has_everything(alice, owned)


def test_deleting_someone_elses_dataset_is_not_found_and_changes_nothing(
    alice: Api, bob: Api, owned: Owned
) -> None:
    real = bob.delete(f"/api/v1/datasets/{owned.dataset_id}")
    assert real.json() == DATASET_NOT_FOUND
    assert_same_404(real, bob.delete(f"/api/v1/datasets/{uuid.uuid4()}"))
    assert bob.delete("/api/v1/datasets").status_code == 200
    alice_still_has_everything(alice, owned)


def test_graph_of_someone_elses_dataset_is_not_found(alice: Api, bob: Api, owned: Owned) -> None:
    assert alice.get(f"/api/v1/datasets/{owned.dataset_id}/graph").status_code == 200
    real = bob.get(f"/api/v1/datasets/{owned.dataset_id}/graph")
    assert real.json() == DATASET_NOT_FOUND
    assert_same_404(real, bob.get(f"/api/v1/datasets/{uuid.uuid4()}/graph"))


def test_graph_summary_leaves_out_someone_elses_datasets(
    alice: Api, bob: Api, owned: Owned
) -> None:
    path = "/api/v1/datasets/graph-summary"
    mine = alice.get(path, params={"dataset_ids": owned.dataset_id}).json()
    assert [s["datasetId"] for s in mine] == [owned.dataset_id]
    assert bob.get(path, params={"dataset_ids": owned.dataset_id}).json() == []
    assert bob.get(path).json() == []
    bobs = add_files(bob, "bobs", [("b.txt", b"bob")]).json()["dataset_id"]
    both = bob.get(path, params={"dataset_ids": [owned.dataset_id, bobs]}).json()
    assert [s["datasetId"] for s in both] == [bobs]


def test_status_leaves_out_someone_elses_datasets(alice: Api, bob: Api, owned: Owned) -> None:
    path = "/api/v1/datasets/status"
    add = {"pipeline": "add_pipeline"}
    both_pipelines = {"pipeline": ["add_pipeline", "cognify_pipeline"]}
    assert alice.get(path, params=add).json() == {owned.dataset_id: "DATASET_PROCESSING_COMPLETED"}
    assert alice.get(path, params={"dataset": owned.dataset_id, **both_pipelines}).json() == {
        owned.dataset_id: {"add_pipeline": "DATASET_PROCESSING_COMPLETED"}
    }
    for params in (
        {"dataset": owned.dataset_id, **add},
        {"dataset": owned.dataset_id, **both_pipelines},
        {"dataset": owned.dataset_id},
        add,
        both_pipelines,
        {},
    ):
        r = bob.get(path, params=params)
        assert (r.status_code, r.json()) == (200, {}), params
    bobs = add_files(bob, "bobs", [("b.txt", b"bob")]).json()["dataset_id"]
    r = bob.get(path, params={"dataset": [owned.dataset_id, bobs], **both_pipelines})
    assert r.json() == {bobs: {"add_pipeline": "DATASET_PROCESSING_COMPLETED"}}
    assert bob.get(path, params=add).json() == {bobs: "DATASET_PROCESSING_COMPLETED"}


def test_adding_to_someone_elses_dataset_by_id_is_not_found(
    alice: Api, bob: Api, owned: Owned
) -> None:
    files = [("intruder.txt", b"bob's bytes")]
    real = add_files(bob, "", files, datasetId=owned.dataset_id)
    assert real.json() == DATASET_NOT_FOUND
    assert_same_404(real, add_files(bob, "", files, datasetId=str(uuid.uuid4())))
    # A name sent alongside does not change where the id points.
    named = add_files(bob, "private", files, datasetId=owned.dataset_id)
    assert_same_404(real, named)
    assert bob.get("/api/v1/datasets").json() == []
    alice_still_has_everything(alice, owned)


def test_granting_oneself_someone_elses_dataset_is_not_found(
    alice: Api, bob: Api, owned: Owned
) -> None:
    def grant(dataset_id: str, principal: str | None = bob.user_id) -> httpx.Response:
        return bob.post(
            f"/api/v1/permissions/datasets/{principal}",
            params={"permission_name": "read"},
            json=[dataset_id],
        )

    real = grant(owned.dataset_id)
    assert real.json() == DATASET_NOT_FOUND
    assert_same_404(real, grant(str(uuid.uuid4())))
    assert_same_404(grant(owned.dataset_id, alice.user_id), grant(str(uuid.uuid4())))
    revoked = bob.request(
        "DELETE",
        f"/api/v1/permissions/datasets/{alice.user_id}",
        params={"permission_name": "read"},
        json=[owned.dataset_id],
    )
    assert_same_404(revoked, real)
    assert bob.get("/api/v1/datasets").json() == []
    alice_still_has_everything(alice, owned)


def test_same_dataset_name_in_two_accounts_is_two_datasets(alice: Api, bob: Api) -> None:
    a = add_files(alice, "reports", [("a.txt", b"alice report")]).json()
    b = add_files(bob, "reports", [("b.txt", b"bob report")]).json()
    assert a["dataset_id"] != b["dataset_id"]
    assert a["dataset_id"] == str(uuid.uuid5(uuid.NAMESPACE_OID, f"reports{alice.user_id}None"))
    assert b["dataset_id"] == str(uuid.uuid5(uuid.NAMESPACE_OID, f"reports{bob.user_id}None"))
    created = bob.post("/api/v1/datasets", json={"name": "reports"})
    assert created.status_code == 200
    assert created.json()["id"] == b["dataset_id"]
    assert created.json()["ownerId"] == bob.user_id

    for api, mine, text in ((alice, a, b"alice report"), (bob, b, b"bob report")):
        [ds] = api.get("/api/v1/datasets").json()
        assert (ds["id"], ds["name"], ds["ownerId"]) == (mine["dataset_id"], "reports", api.user_id)
        [item] = api.get(f"/api/v1/datasets/{mine['dataset_id']}/data").json()
        raw = api.get(f"/api/v1/datasets/{mine['dataset_id']}/data/{item['id']}/raw")
        assert raw.content == text

    assert bob.delete(f"/api/v1/datasets/{b['dataset_id']}").status_code == 200
    assert bob.get("/api/v1/datasets").json() == []
    assert [d["id"] for d in alice.get("/api/v1/datasets").json()] == [a["dataset_id"]]


def test_same_bytes_in_two_accounts_stay_separate(alice: Api, bob: Api) -> None:
    a = add_files(alice, "docs", [("same.txt", b"identical bytes")]).json()
    b = add_files(bob, "docs", [("same.txt", b"identical bytes")]).json()
    a_item = a["data_ingestion_info"][0]
    b_item = b["data_ingestion_info"][0]
    assert b_item["run_info"]["status"] == "PipelineRunCompleted"
    assert a_item["data_id"] != b_item["data_id"]
    # Deleting Bob's copy leaves Alice's item and bytes in place.
    r = bob.delete(f"/api/v1/datasets/{b['dataset_id']}/data/{b_item['data_id']}")
    assert r.status_code == 200
    raw = alice.get(f"/api/v1/datasets/{a['dataset_id']}/data/{a_item['data_id']}/raw")
    assert (raw.status_code, raw.content) == (200, b"identical bytes")
    assert bob.get(f"/api/v1/datasets/{b['dataset_id']}/data").json() == []


def test_api_keys_are_private(alice: Api, bob: Api, owned: Owned) -> None:
    key = alice.post("/api/v1/auth/api-keys", json={"name": "alice"}).json()
    assert bob.get("/api/v1/auth/api-keys").json() == []
    with httpx.Client(base_url=str(bob.base_url), headers={"X-Api-Key": key["key"]}) as c:
        assert c.get("/api/v1/auth/me").json() == {"email": "alice@example.com"}
        assert [d["id"] for d in c.get("/api/v1/datasets").json()] == [owned.dataset_id]
    bobs_key = bob.post("/api/v1/auth/api-keys", json={}).json()
    with httpx.Client(base_url=str(bob.base_url), headers={"X-Api-Key": bobs_key["key"]}) as c:
        real = c.get(f"/api/v1/datasets/{owned.dataset_id}/data")
        assert_same_404(real, c.get(f"/api/v1/datasets/{uuid.uuid4()}/data"))
