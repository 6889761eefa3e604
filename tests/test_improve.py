"""improve as a pipeline run (memify_pipeline) through HTTP: in the ledger, visible in
status and progress under its name, joined, cancelled, resumed without paying twice; and
cognee's data_per_batch honoured."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from graphmill.config import Settings
from tests.conftest import LiveServer
from tests.support import Api, add_files, servers, settings_env, sign_up, wait_run_final
from tests.test_recovery import wait_completed_items

FAULTS = "tests.fault_steps:pipeline"
IMPROVE_FAULTS = "tests.fault_steps:improve_pipeline"


@pytest.fixture
def user(settings_factory: Any) -> Iterator[Api]:
    settings = settings_factory(
        cognify_steps=FAULTS,
        improve_steps=IMPROVE_FAULTS,
        heartbeat_seconds=0.2,
        lease_seconds=5,
        item_concurrency=2,
    )
    with LiveServer(settings) as live:
        api = sign_up(live.base_url)
        yield api
        api.close()


def _until(check: Callable[[], Any], what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.02)
    return found


def _states(api: Api, ds: str, pipeline: str) -> dict[str, dict[str, Any]]:
    items = api.get(f"/api/v1/datasets/{ds}/data").json()
    return {i["name"]: i["pipelineStatus"].get(pipeline, {}) for i in items}


def test_improve_is_a_run_in_the_ledger_cancellable_and_never_paid_twice(
    user: Api, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    go.touch()
    files = [(f"doc{i}.txt", f"note {i} @waitfor={go}".encode()) for i in range(4)]
    ds = add_files(user, "notes", files).json()["dataset_id"]
    r = user.post("/api/v1/cognify", json={"datasetIds": [ds]})
    assert r.json()[ds]["status"] == "PipelineRunCompleted"
    go.unlink()  # the merge step of every item now waits for it

    r = user.post("/api/v1/improve", json={"dataset_id": ds, "run_in_background": True})
    assert r.status_code == 200, r.text
    started = r.json()
    assert started["status"] == "running" and started["finished"] is False
    assert started["background"] is True
    fold, merge = started["stages"]
    assert fold == {
        "stage": "fold_session_answers",
        "status": "skipped",
        "reason": "no_useful_session_answers",
        "error": None,
        "counts": {},
        "duration_ms": 0,
        "run": None,
    }
    assert merge["stage"] == "merge_duplicate_entities" and merge["status"] == "completed"
    assert merge["run"]["status"] == "PipelineRunStarted"
    run_id = merge["run"]["pipeline_run_id"]

    # visible under its pipeline name: the run, status, progress with the item's stage
    def progress() -> Any:
        body = user.get(
            "/api/v1/datasets/status/progress",
            params={"dataset": ds, "pipeline": "memify_pipeline"},
        ).json()
        return body if body[ds]["progress"]["current_stage"] == "misbehave" else None

    body = _until(progress, "the merge run shows its items' stage")
    assert body[ds]["status"] == "DATASET_PROCESSING_STARTED"
    assert body[ds]["progress"]["total_items"] == 4
    status = user.get(
        "/api/v1/datasets/status",
        params={"dataset": ds, "pipeline": ["cognify_pipeline", "memify_pipeline"]},
    ).json()
    assert status == {
        ds: {
            "cognify_pipeline": "DATASET_PROCESSING_COMPLETED",
            "memify_pipeline": "DATASET_PROCESSING_STARTED",
        }
    }
    runs = user.get(f"/api/v1/datasets/{ds}/runs").json()
    assert [r["pipeline_name"] for r in runs if r["run_id"] == run_id] == ["memify_pipeline"]
    # a second improve joins the running run instead of starting another
    joined = user.post("/api/v1/improve", json={"dataset_name": "notes", "runInBackground": True})
    assert joined.json()["stages"][1]["run"]["pipeline_run_id"] == run_id

    cancelled = user.post(f"/api/v1/runs/{run_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    go.touch()  # items in flight finish; the others stay cancelled
    _until(
        lambda: (
            "processing" not in {s["state"] for s in _states(user, ds, "memify_pipeline").values()}
        ),
        "the items in flight settle",
    )
    done = [n for n, s in _states(user, ds, "memify_pipeline").items() if s["state"] == "completed"]
    assert len(done) < 4
    assert user.get(
        "/api/v1/datasets/status", params={"dataset": ds, "pipeline": "memify_pipeline"}
    ).json() == {ds: "DATASET_PROCESSING_ERRORED"}

    # the next improve does only what the cancelled run left, then nothing at all
    result = user.post("/api/v1/improve", json={"dataset_id": ds}).json()
    assert result["status"] == "completed" and result["finished"] is True
    merge = result["stages"][1]
    assert merge["run"]["pipeline_run_id"] != run_id
    assert merge["run"]["status"] == "PipelineRunCompleted"
    assert merge["counts"] == {
        "items": 4 - len(done),
        "items_already_merged": len(done),
        "merged_entities": 0,
    }
    again = user.post("/api/v1/improve", json={"dataset_id": ds}).json()
    assert again["status"] == "completed"
    assert again["stages"][1]["status"] == "already_completed"
    assert again["stages"][1]["counts"]["items"] == 0

    # cognifying an item again makes it improve's work again (its graph changed)
    replaced = user.patch(
        "/api/v1/update",
        params={
            "data_id": user.get(f"/api/v1/datasets/{ds}/data").json()[0]["id"],
            "dataset_id": ds,
        },
        files={"data": ("doc9.txt", b"a new note", "text/plain")},
    )
    assert replaced.status_code == 200, replaced.text
    after = user.post("/api/v1/improve", json={"dataset_id": ds}).json()
    assert after["stages"][1]["counts"]["items"] == 1


def test_improve_refuses_what_it_does_not_do_and_answers_404_for_others(user: Api) -> None:
    ds = add_files(user, "notes", [("a.txt", b"alpha")]).json()["dataset_id"]
    for option, value in (
        ("build_truth_subspace", True),
        ("review_conflicts", True),
        ("feedback_alpha", 0.5),
        ("build_global_context_index", True),
    ):
        r = user.post("/api/v1/improve", json={"dataset_id": ds, option: value})
        assert r.status_code == 400 and option in r.json()["error"], (option, r.text)
    r = user.post("/api/v1/improve", json={})
    assert r.status_code == 400, r.text
    assert user.get(f"/api/v1/datasets/{ds}/runs").json()[0]["pipeline_name"] == "add_pipeline"
    r = user.post("/api/v1/improve", json={"dataset_name": "nope"})
    assert r.status_code == 404 and r.json() == {
        "detail": "Dataset not found. [DatasetNotFoundError]"
    }
    # an empty dataset: nothing to merge
    empty = user.post("/api/v1/datasets", json={"name": "empty"}).json()["id"]
    result = user.post("/api/v1/improve", json={"dataset_id": empty}).json()
    assert result["status"] == "skipped"
    assert [s["reason"] for s in result["stages"]] == ["no_useful_session_answers", "no_data"]


def test_data_per_batch_runs_that_many_items_at_a_time(user: Api, tmp_path: Path) -> None:
    gates = [tmp_path / f"go{i}" for i in range(3)]
    files = [(f"doc{i}.txt", f"note {i} @waitfor={g}".encode()) for i, g in enumerate(gates)]
    ds = add_files(user, "notes", files).json()["dataset_id"]
    r = user.post(
        "/api/v1/cognify", json={"datasetIds": [ds], "runInBackground": True, "dataPerBatch": 1}
    )
    run_id = r.json()[ds]["pipeline_run_id"]

    def first_waits() -> bool:
        return _states(user, ds, "cognify_pipeline")["doc0"].get("stage") == "misbehave"

    _until(first_waits, "the first item is in its step")
    # item_concurrency is 2, but a batch of one: the second item has not started
    assert _states(user, ds, "cognify_pipeline")["doc1"]["state"] == "pending"
    for gate in gates:
        gate.touch()
    assert wait_run_final(user, run_id)["state"] == "completed"
    r = user.post("/api/v1/cognify", json={"datasetIds": [ds], "dataPerBatch": 0})
    assert r.status_code == 400 and "dataPerBatch" in r.text
    # remember takes it too (a form field)
    form = {"datasetName": "notes", "data_per_batch": "1"}
    r = user.post("/api/v1/remember", files=[("data", ("b.txt", b"beta"))], data=form)
    assert r.status_code == 200 and r.json()["status"] == "completed", r.text
    form["data_per_batch"] = "0"
    r = user.post("/api/v1/remember", files=[("data", ("c.txt", b"gamma"))], data=form)
    assert r.status_code == 400 and "data_per_batch" in r.text
    assert len(user.get(f"/api/v1/datasets/{ds}/data").json()) == 4


# Two server processes per run: on the embedded default only (CI time). The leases and
# recovery the run relies on are the ledger's, tested on both backends in test_recovery.py.
@pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)
def test_a_merge_run_cut_off_by_a_crash_is_resumed_by_the_next_process(
    settings_factory: Any,
) -> None:
    settings: Settings = settings_factory(
        cognify_steps=FAULTS,
        improve_steps=IMPROVE_FAULTS,
        heartbeat_seconds=0.3,
        lease_seconds=3,
        item_concurrency=2,
        log_level="WARNING",
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    files = [(f"doc{i:02}.txt", f"@sleep=0.15 note {i}".encode()) for i in range(8)]
    with servers(settings_env(settings)) as running:
        api = sign_up(running.start().base_url)
        ds = add_files(api, "notes", files).json()["dataset_id"]
        api.post("/api/v1/cognify", json={"datasetIds": [ds]})
        started = api.post("/api/v1/improve", json={"dataset_id": ds, "run_in_background": True})
        run_id = started.json()["stages"][1]["run"]["pipeline_run_id"]
        wait_completed_items(api, run_id, 2)
        running.restart_killed(api)
        run = wait_run_final(api, run_id, timeout=60)
        assert run["pipeline_name"] == "memify_pipeline" and run["state"] == "completed"
        assert run["counts"] == {"total": 8, "completed": 8, "failed": 0, "skipped": 0}
        again = api.post("/api/v1/improve", json={"dataset_id": ds}).json()
        assert again["stages"][1]["status"] == "already_completed"
