"""POST /api/v1/add through HTTP."""

from __future__ import annotations

import json
import uuid

import pytest

from graphmill.ingest import add as add_module
from tests.support import Api, add_files


def test_add_returns_pipeline_run_info_and_dataset_id_like_cognee(alice: Api) -> None:
    r = add_files(alice, "ds_a", [("alpha.txt", b"alpha text")])
    assert r.status_code == 200, r.text
    body = r.json()
    expected_id = uuid.uuid5(uuid.NAMESPACE_OID, f"ds_a{alice.user_id}None")
    assert body["dataset_id"] == str(expected_id)
    assert body["status"] == "PipelineRunCompleted"
    assert body["dataset_name"] == "ds_a"
    assert body["payload"] is None
    [entry] = body["data_ingestion_info"]
    assert entry["run_info"]["status"] == "PipelineRunCompleted"
    assert entry["run_info"]["pipeline_run_id"] == body["pipeline_run_id"]
    assert entry["run_info"]["data_ingestion_info"] is None
    items = alice.get(f"/api/v1/datasets/{body['dataset_id']}/data").json()
    assert [i["id"] for i in items] == [entry["data_id"]]
    assert items[0]["name"] == "alpha"
    assert items[0]["extension"] == "txt"
    assert items[0]["mimeType"] == "text/plain"


def test_readding_identical_bytes_returns_existing_id_and_creates_nothing(alice: Api) -> None:
    first = add_files(alice, "ds_a", [("a.txt", b"same bytes")]).json()
    again = add_files(alice, "ds_a", [("renamed.txt", b"same bytes")], labels='["x"]').json()
    [a] = first["data_ingestion_info"]
    [b] = again["data_ingestion_info"]
    assert b["data_id"] == a["data_id"]
    assert b["run_info"]["status"] == "PipelineRunAlreadyCompleted"
    items = alice.get(f"/api/v1/datasets/{first['dataset_id']}/data").json()
    assert len(items) == 1
    assert items[0]["name"] == "a"
    assert items[0]["label"] is None


def test_background_add_answers_started_shape(alice: Api) -> None:
    r = add_files(alice, "ds_bg", [("a.txt", b"bg")], run_in_background="true")
    body = r.json()
    assert r.status_code == 200
    assert body["status"] == "PipelineRunStarted"
    assert body["payload"] == []
    assert body["data_ingestion_info"] is None


def test_labels_metadata_and_node_set_are_stored(alice: Api) -> None:
    r = add_files(
        alice,
        "ds_meta",
        [("a.txt", b"one"), ("b.txt", b"two")],
        labels=json.dumps(["first", None]),
        external_metadata=json.dumps([{"source": "crm"}, None]),
        node_set=["n1", "n2"],
    )
    assert r.status_code == 200, r.text
    items = {
        i["name"]: i for i in alice.get(f"/api/v1/datasets/{r.json()['dataset_id']}/data").json()
    }
    assert items["a"]["label"] == "first"
    assert items["b"]["label"] is None
    assert items["a"]["externalMetadata"] == {"source": "crm", "node_set": ["n1", "n2"]}
    assert items["b"]["externalMetadata"] == {"node_set": ["n1", "n2"]}


def test_one_add_mixing_new_known_and_repeated_contents(
    alice: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows go in as one multi-row INSERT, contents already there are looked up in batches
    (of 1 here, so that several are needed): each file's entry, in the request's order, names
    its item; a content the dataset holds, or that came earlier in the same add, is the
    existing item, and no row is made twice."""
    monkeypatch.setattr(add_module, "LOOKUP_BATCH", 1)
    known = add_files(alice, "ds_mix", [("known.txt", b"known"), ("k2.txt", b"known 2")]).json()
    known_entry, known_2 = known["data_ingestion_info"]
    files = [
        ("n1.txt", b"new one"),
        ("known-again.txt", b"known"),
        ("n2.txt", b"new two"),
        ("n1-again.txt", b"new one"),
        ("n3.txt", b"new three"),
        ("k2-again.txt", b"known 2"),
    ]
    r = add_files(alice, "ds_mix", files)
    assert r.status_code == 200, r.text
    entries = r.json()["data_ingestion_info"]
    ids = [e["data_id"] for e in entries]
    statuses = [e["run_info"]["status"] for e in entries]
    assert ids[1] == known_entry["data_id"]
    assert ids[3] == ids[0]
    assert ids[5] == known_2["data_id"]
    assert len({ids[0], ids[2], ids[4], known_entry["data_id"]}) == 4
    assert statuses == [
        "PipelineRunCompleted",
        "PipelineRunAlreadyCompleted",
        "PipelineRunCompleted",
        "PipelineRunAlreadyCompleted",
        "PipelineRunCompleted",
        "PipelineRunAlreadyCompleted",
    ]
    items = alice.get(f"/api/v1/datasets/{known['dataset_id']}/data").json()
    assert sorted(i["name"] for i in items) == ["k2", "known", "n1", "n2", "n3"]
