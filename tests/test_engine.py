"""The pipeline engine through HTTP: states, failures, retries, exclusion, cancel, events."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer
from tests.support import Api, add_files, sign_up
from tests.support import wait_run_final as _wait_final

FAULTS = "tests.fault_steps:pipeline"


@pytest.fixture
def engine(settings_factory: Any) -> Iterator[LiveServer]:
    settings = settings_factory(
        cognify_steps=FAULTS,
        heartbeat_seconds=0.2,
        lease_seconds=5,
        retry_base_seconds=0.01,
        item_concurrency=2,
    )
    with LiveServer(settings) as live:
        yield live


@pytest.fixture
def user(engine: LiveServer) -> Iterator[Api]:
    api = sign_up(engine.base_url)
    yield api
    api.close()


def _files(*texts: str) -> list[tuple[str, bytes]]:
    return [(f"doc{i}.txt", f"{text} (item {i})".encode()) for i, text in enumerate(texts)]


def _cognify(api: Api, dataset_id: str, background: bool = False) -> dict[str, Any]:
    r = api.post(
        "/api/v1/cognify", json={"datasetIds": [dataset_id], "runInBackground": background}
    )
    assert r.status_code == 200, r.text
    return r.json()[dataset_id]


def _states(api: Api, dataset_id: str) -> dict[str, str]:
    items = api.get(f"/api/v1/datasets/{dataset_id}/data").json()
    return {i["name"]: i["pipelineStatus"].get("cognify_pipeline", {}).get("state") for i in items}


def test_blocking_cognify_completes_every_item(user: Api) -> None:
    ds = add_files(user, "ds", _files("alpha", "beta", "gamma")).json()["dataset_id"]
    result = _cognify(user, ds)
    assert result["status"] == "PipelineRunCompleted"
    assert {e["run_info"]["status"] for e in result["data_ingestion_info"]} == {
        "PipelineRunCompleted"
    }
    assert len(result["data_ingestion_info"]) == 3
    assert user.get("/api/v1/datasets/status").json() == {ds: "DATASET_PROCESSING_COMPLETED"}
    run = user.get(f"/api/v1/runs/{result['pipeline_run_id']}").json()
    assert run["state"] == "completed"
    assert run["counts"] == {"total": 3, "completed": 3, "failed": 0, "skipped": 0}
    assert run["started_at"] and run["finished_at"]
    assert set(_states(user, ds).values()) == {"completed"}


def test_rerun_costs_nothing_for_completed_items(user: Api) -> None:
    ds = add_files(user, "ds", _files("alpha", "beta")).json()["dataset_id"]
    _cognify(user, ds)
    again = _cognify(user, ds)
    assert again["status"] == "PipelineRunCompleted"
    assert {e["run_info"]["status"] for e in again["data_ingestion_info"]} == {
        "PipelineRunAlreadyCompleted"
    }
    run = user.get(f"/api/v1/runs/{again['pipeline_run_id']}").json()
    assert run["counts"] == {"total": 2, "completed": 0, "failed": 0, "skipped": 2}


def test_add_after_cognify_marks_pending_and_only_new_items_run(user: Api) -> None:
    ds = add_files(user, "ds", _files("alpha")).json()["dataset_id"]
    _cognify(user, ds)
    add_files(user, "ds", [("new.txt", b"brand new")])
    nested = user.get(
        "/api/v1/datasets/status", params={"pipeline": ["add_pipeline", "cognify_pipeline"]}
    ).json()
    assert nested == {
        ds: {
            "add_pipeline": "DATASET_PROCESSING_COMPLETED",
            "cognify_pipeline": "DATASET_PROCESSING_INITIATED",
        }
    }
    result = _cognify(user, ds)
    statuses = sorted(e["run_info"]["status"] for e in result["data_ingestion_info"])
    assert statuses == ["PipelineRunAlreadyCompleted", "PipelineRunCompleted"]


def test_one_failure_never_stops_its_siblings(user: Api) -> None:
    ds = add_files(user, "ds", _files("ok", "ok", "@fail", "ok")).json()["dataset_id"]
    result = _cognify(user, ds)
    assert result["status"] == "PipelineRunErrored"
    assert result["payload"]["state"] == "completed_with_errors"
    run = user.get(f"/api/v1/runs/{result['pipeline_run_id']}").json()
    assert run["state"] == "completed_with_errors"
    assert run["counts"] == {"total": 4, "completed": 3, "failed": 1, "skipped": 0}
    assert user.get("/api/v1/datasets/status").json() == {ds: "DATASET_PROCESSING_ERRORED"}
    failed = user.get(f"/api/v1/datasets/{ds}/data", params={"status": "failed"}).json()
    assert [f["name"] for f in failed] == ["doc2"]
    state = failed[0]["pipelineStatus"]["cognify_pipeline"]
    assert state["errorClass"] == "value_error"
    assert "planted failure" in state["errorMessage"]
    assert state["attempts"] == 1  # permanent errors are not retried
    completed = user.get(f"/api/v1/datasets/{ds}/data", params={"status": "completed"}).json()
    assert len(completed) == 3


def test_all_items_failing_fails_the_run(user: Api) -> None:
    ds = add_files(user, "ds", _files("@fail", "@fail")).json()["dataset_id"]
    result = _cognify(user, ds)
    run = user.get(f"/api/v1/runs/{result['pipeline_run_id']}").json()
    assert run["state"] == "failed"
    assert run["error"]["class"] == "items_failed"
    assert run["error"]["message"]


def test_transient_failures_are_retried_up_to_the_cap(user: Api) -> None:
    ds = add_files(user, "ds", _files("@transient=2", "@transient=9")).json()["dataset_id"]
    _cognify(user, ds)
    items = {
        i["name"]: i["pipelineStatus"]["cognify_pipeline"]
        for i in user.get(f"/api/v1/datasets/{ds}/data").json()
    }
    assert items["doc0"]["state"] == "completed"
    assert items["doc0"]["attempts"] == 3
    assert items["doc1"]["state"] == "failed"
    assert items["doc1"]["attempts"] == 3  # the default cap
    assert items["doc1"]["errorClass"] == "connection_error"


def test_a_hanging_step_times_out(settings_factory: Any) -> None:
    settings = settings_factory(
        cognify_steps=FAULTS, step_timeout_seconds=0.3, max_attempts=2, retry_base_seconds=0
    )
    with LiveServer(settings) as live:
        api = sign_up(live.base_url)
        ds = add_files(api, "ds", _files("@hang", "fine")).json()["dataset_id"]
        _cognify(api, ds)
        items = {
            i["name"]: i["pipelineStatus"]["cognify_pipeline"]
            for i in api.get(f"/api/v1/datasets/{ds}/data").json()
        }
        assert items["doc0"]["state"] == "failed"
        assert items["doc0"]["errorClass"] == "timeout"
        assert items["doc0"]["errorMessage"]
        assert items["doc0"]["attempts"] == 2
        assert items["doc1"]["state"] == "completed"


def test_concurrent_requests_share_one_run(user: Api, engine: LiveServer) -> None:
    ds = add_files(user, "ds", _files(*["@sleep=0.2"] * 4)).json()["dataset_id"]
    run_ids: list[str] = []

    def request() -> None:
        r = user.post("/api/v1/cognify", json={"datasetIds": [ds], "runInBackground": True})
        run_ids.append(r.json()[ds]["pipeline_run_id"])

    threads = [threading.Thread(target=request) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(run_ids)) == 1
    blocking = _cognify(user, ds)  # joins the running run and waits for it
    assert blocking["pipeline_run_id"] == run_ids[0]
    runs = user.get(f"/api/v1/datasets/{ds}/runs").json()
    assert [r["pipeline_name"] for r in runs].count("cognify_pipeline") == 1


def test_a_request_joining_a_running_run_covers_data_added_before_it(
    user: Api, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    ds = add_files(user, "ds", _files(f"@waitfor={release}")).json()["dataset_id"]
    started = _cognify(user, ds, background=True)
    deadline = time.monotonic() + 30
    while user.get(f"/api/v1/runs/{started['pipeline_run_id']}").json()["state"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    add_files(user, "ds", [("late.txt", b"added while the run runs")])
    # The first item waits for the release: the add above landed while the run was running.
    threading.Timer(0.3, release.touch).start()
    joined = _cognify(user, ds)
    assert joined["status"] == "PipelineRunCompleted"
    assert len(joined["data_ingestion_info"]) == 2
    assert set(_states(user, ds).values()) == {"completed"}
    first = _wait_final(user, started["pipeline_run_id"])
    assert first["state"] == "completed"
    assert first["counts"] == {"total": 2, "completed": 2, "failed": 0, "skipped": 0}


def test_background_cognify_answers_started_then_status_completes(user: Api) -> None:
    ds = add_files(user, "ds", _files("@sleep=0.3")).json()["dataset_id"]
    started = _cognify(user, ds, background=True)
    assert started["status"] == "PipelineRunStarted"
    assert started["payload"] == []
    assert started["data_ingestion_info"] is None
    status = user.get("/api/v1/datasets/status").json()[ds]
    assert status in ("DATASET_PROCESSING_INITIATED", "DATASET_PROCESSING_STARTED")
    progress = user.get("/api/v1/datasets/status/progress", params={"dataset": ds}).json()
    assert set(progress[ds]) == {"status", "progress"}
    assert progress[ds]["progress"]["total"] in (0, 1)
    _wait_final(user, started["pipeline_run_id"])
    assert user.get("/api/v1/datasets/status").json() == {ds: "DATASET_PROCESSING_COMPLETED"}
    done = user.get("/api/v1/datasets/status/progress").json()[ds]
    assert done["progress"] == {
        "completed_items": 1,
        "total_items": 1,
        "current_stage": None,
        "completed": 1,
        "failed": 0,
        "skipped": 0,
        "total": 1,
        "stage": None,
    }


def test_cancel_stops_new_work_and_keeps_completed_items(user: Api) -> None:
    ds = add_files(user, "ds", _files(*["@sleep=0.15"] * 12)).json()["dataset_id"]
    run_id = _cognify(user, ds, background=True)["pipeline_run_id"]
    deadline = time.monotonic() + 20
    while user.get(f"/api/v1/runs/{run_id}").json()["counts"]["completed"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    cancelled = user.post(f"/api/v1/runs/{run_id}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "cancelled"
    assert user.get("/api/v1/datasets/status").json() == {ds: "DATASET_PROCESSING_ERRORED"}
    time.sleep(0.5)  # in-flight items finish
    states = _states(user, ds)
    done = [n for n, s in states.items() if s == "completed"]
    assert 2 <= len(done) < 12
    assert set(states.values()) == {"completed", "cancelled"}
    # The dataset can be processed again right away; completed items are not redone.
    again = _cognify(user, ds)
    assert again["pipeline_run_id"] != run_id
    assert again["status"] == "PipelineRunCompleted"
    redone = [
        e for e in again["data_ingestion_info"] if e["run_info"]["status"] == "PipelineRunCompleted"
    ]
    assert len(redone) == 12 - len(done)
    assert set(_states(user, ds).values()) == {"completed"}


def test_events_cover_every_transition_and_resume(user: Api) -> None:
    ds = add_files(user, "ds", _files("a", "b", "@fail")).json()["dataset_id"]
    run_id = _cognify(user, ds)["pipeline_run_id"]

    def read(headers: dict[str, str]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        with user.stream("GET", f"/api/v1/datasets/{ds}/events", headers=headers) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            current: dict[str, Any] = {}
            for line in stream.iter_lines():
                if line.startswith("id: "):
                    current["id"] = int(line[4:])
                elif line.startswith("data: "):
                    current["data"] = json.loads(line[6:])
                elif line == "" and "data" in current:
                    events.append(current)
                    if current["data"]["kind"] == "run" and current["data"]["state"] in (
                        "completed",
                        "completed_with_errors",
                        "failed",
                    ):
                        break
                    current = {}
        return events

    events = read({})
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    transitions = [(e["data"]["kind"], e["data"]["state"]) for e in events]
    assert transitions[0] == ("run", "queued")
    assert transitions[1] == ("run", "running")
    assert transitions.count(("item", "processing")) == 3
    assert transitions.count(("item", "completed")) == 2
    assert transitions.count(("item", "failed")) == 1
    assert transitions[-1] == ("run", "completed_with_errors")
    assert {e["data"]["run_id"] for e in events} == {run_id}
    resumed = read({"Last-Event-ID": str(ids[2])})
    assert [e["id"] for e in resumed] == ids[3:]


def test_pipeline_routes_respect_permissions(user: Api, engine: LiveServer) -> None:
    ds = add_files(user, "ds", _files("alpha")).json()["dataset_id"]
    run_id = _cognify(user, ds)["pipeline_run_id"]
    other = sign_up(engine.base_url)
    missing = other.post("/api/v1/cognify", json={"datasetIds": [ds]})
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Dataset not found. [DatasetNotFoundError]"}
    assert other.get(f"/api/v1/runs/{run_id}").status_code == 404
    assert other.post(f"/api/v1/runs/{run_id}/cancel").status_code == 404
    assert other.get(f"/api/v1/datasets/{ds}/runs").status_code == 404
    assert other.get(f"/api/v1/datasets/{ds}/events").status_code == 404
    assert other.get("/api/v1/datasets/status/progress").json() == {}
    grant = user.post(
        f"/api/v1/permissions/datasets/{other.user_id}",
        params={"permission_name": "read"},
        json=[ds],
    )
    assert grant.status_code == 200
    forbidden = other.post("/api/v1/cognify", json={"datasetIds": [ds]})
    assert forbidden.status_code == 403
    assert other.post(f"/api/v1/runs/{run_id}/cancel").status_code == 403
    assert other.get(f"/api/v1/runs/{run_id}").json()["state"] == "completed"
    other.close()


def test_cognify_bad_input(user: Api) -> None:
    r = user.post("/api/v1/cognify", json={})
    assert r.status_code == 400
    assert r.json() == {"error": "No datasets or dataset_ids provided", "detail": None}
    assert user.post("/api/v1/cognify", json={"datasetIds": ["nope"]}).status_code == 400
    assert user.post("/api/v1/cognify", content=b"[").status_code == 400
    assert user.post("/api/v1/cognify", json={"datasets": ["bad name"]}).status_code == 400


def test_unknown_dataset_names_are_created_empty(user: Api) -> None:
    r = user.post("/api/v1/cognify", json={"datasets": ["fresh"]})
    assert r.status_code == 200
    [(ds, info)] = r.json().items()
    assert info["status"] == "PipelineRunCompleted"
    assert info["data_ingestion_info"] == []
    assert [d["name"] for d in user.get("/api/v1/datasets").json()] == ["fresh"]
    assert user.get("/api/v1/datasets/status").json() == {ds: "DATASET_PROCESSING_COMPLETED"}


def test_blocking_cognify_of_a_dataset_deleted_mid_run_answers_404(user: Api) -> None:
    """The dataset is gone, as for any later request: 404, never a 500 (issue 9, defect 6)."""
    ds = add_files(user, "doomed", _files(*["@sleep=0.4"] * 6)).json()["dataset_id"]
    answer: dict[str, Any] = {}

    def blocking() -> None:
        r = user.post("/api/v1/cognify", json={"datasetIds": [ds], "runInBackground": False})
        answer["status"], answer["body"] = r.status_code, r.json()

    thread = threading.Thread(target=blocking)
    thread.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = user.get("/api/v1/datasets/status", params={"dataset": ds}).json()
        if status.get(ds) == "DATASET_PROCESSING_STARTED":
            break
        time.sleep(0.02)
    assert user.delete(f"/api/v1/datasets/{ds}").status_code == 200
    thread.join(timeout=30)
    assert answer["status"] == 404, answer
    assert "deleted while its cognify run was in progress" in answer["body"]["detail"]
    assert user.get(f"/api/v1/datasets/{ds}/data").status_code == 404
