"""/api/v1/datasets: list, create, delete, data items, graph views."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from graphmill.config import Settings
from tests.support import Api, add_files


def _blob_files(settings: Settings) -> list[Path]:
    return [p for p in (settings.data_dir / "blobs").rglob("*") if p.is_file()]


def test_list_answers_with_and_without_trailing_slash(alice: Api) -> None:
    created = alice.post("/api/v1/datasets", json={"name": "ds_a"}).json()
    for path in ("/api/v1/datasets", "/api/v1/datasets/"):
        r = alice.get(path)
        assert r.status_code == 200
        assert r.json() == [created]
    assert set(created) == {"id", "name", "createdAt", "updatedAt", "ownerId", "tenantId"}
    assert created["ownerId"] == alice.user_id


def test_create_is_idempotent_by_owned_name_and_uses_cognees_id(alice: Api) -> None:
    first = alice.post("/api/v1/datasets", json={"name": "ds_a"})
    second = alice.post("/api/v1/datasets", json={"name": "ds_a"})
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["id"] == str(uuid.uuid5(uuid.NAMESPACE_OID, f"ds_a{alice.user_id}None"))


def test_create_rejects_bad_names_and_bodies(alice: Api) -> None:
    assert alice.post("/api/v1/datasets", json={"name": "bad name"}).status_code == 400
    assert alice.post("/api/v1/datasets", json={"name": "bad.name"}).status_code == 400
    assert alice.post("/api/v1/datasets", json={}).status_code == 400
    assert alice.post("/api/v1/datasets", content=b"{not json").status_code == 400
    assert alice.get("/api/v1/datasets").json() == []


def test_data_listing_is_camel_case_and_sorted_by_size(alice: Api) -> None:
    r = add_files(alice, "ds", [("small.txt", b"x"), ("big.txt", b"x" * 100)])
    items = alice.get(f"/api/v1/datasets/{r.json()['dataset_id']}/data").json()
    assert [i["name"] for i in items] == ["big", "small"]
    assert {
        "id",
        "name",
        "createdAt",
        "updatedAt",
        "extension",
        "mimeType",
        "rawDataLocation",
        "datasetId",
        "label",
        "externalMetadata",
    } <= set(items[0])


def test_delete_item_removes_row_and_unshared_blob(
    alice: Api, settings: Settings, backend: str
) -> None:
    r = add_files(alice, "a", [("one.txt", b"one"), ("shared.txt", b"shared")])
    add_files(alice, "b", [("shared.txt", b"shared")])
    ds = r.json()["dataset_id"]
    ids = [e["data_id"] for e in r.json()["data_ingestion_info"]]
    for data_id in ids:
        d = alice.delete(f"/api/v1/datasets/{ds}/data/{data_id}")
        assert d.status_code == 200
        assert d.json() is None
    assert alice.get(f"/api/v1/datasets/{ds}/data").json() == []
    if backend == "sqlite-local":
        # "one" is gone; "shared" is still used by dataset b.
        assert len(_blob_files(settings)) == 1
    again = alice.delete(f"/api/v1/datasets/{ds}/data/{ids[0]}")
    assert again.status_code == 404
    assert again.json() == {"detail": "Data not found. [DataNotFoundError]"}


def test_delete_dataset_and_delete_all(alice: Api, settings: Settings, backend: str) -> None:
    a = add_files(alice, "a", [("one.txt", b"one")]).json()["dataset_id"]
    add_files(alice, "b", [("two.txt", b"two")])
    r = alice.delete(f"/api/v1/datasets/{a}")
    assert r.status_code == 200
    assert r.json() is None
    assert [d["name"] for d in alice.get("/api/v1/datasets").json()] == ["b"]
    assert alice.get(f"/api/v1/datasets/{a}/data").status_code == 404
    r = alice.delete("/api/v1/datasets")
    assert r.status_code == 200
    assert alice.get("/api/v1/datasets").json() == []
    if backend == "sqlite-local":
        assert _blob_files(settings) == []


def test_graph_and_summary_are_empty_before_any_graph(alice: Api) -> None:
    ds = add_files(alice, "a", [("one.txt", b"one")]).json()["dataset_id"]
    graph = alice.get(f"/api/v1/datasets/{ds}/graph")
    assert graph.status_code == 200
    assert graph.json() == {"nodes": [], "edges": []}
    summary = alice.get("/api/v1/datasets/graph-summary").json()
    assert summary == [
        {"datasetId": ds, "pipelineRunId": None, "numNodes": 0, "numEdges": 0, "computedAt": None}
    ]
    only = alice.get("/api/v1/datasets/graph-summary", params={"dataset_ids": str(uuid.uuid4())})
    assert only.json() == []


def test_root_and_health_report_backends(anon: httpx.Client, backend: str) -> None:
    assert anon.get("/").json() == {"message": "Hello, World, I am alive!"}
    health = anon.get("/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ready"
    assert body["health"] == "healthy"
    database, blobs = backend.split("-")
    assert body["backends"] == {"database": database, "blobs": blobs, "executor": "local"}
    assert body["embedder"] == {"status": "ready", "model": "all-MiniLM-L6-v2"}


def test_unknown_routes_and_methods_answer_json(anon: httpx.Client) -> None:
    r = anon.get("/api/v1/nope")
    assert r.status_code == 404
    assert r.json() == {"detail": "Not Found"}
    r = anon.put("/api/v1/datasets")
    assert r.status_code == 405
    assert "detail" in r.json()


def test_openapi_schema_is_served(anon: httpx.Client) -> None:
    """cognee's clients and docs read the schema; it must build without duplicate ids."""
    schema = anon.get("/openapi.json")
    assert schema.status_code == 200, schema.text
    paths = schema.json()["paths"]
    raw = paths["/api/v1/datasets/{dataset_id}/data/{data_id}/raw"]
    assert "get" in raw
    assert "/api/v1/datasets/status" in paths
