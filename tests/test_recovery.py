"""Crash recovery and sharing one store between processes, with real OS processes."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from graphmill.config import Settings
from graphmill.db import Database
from graphmill.db.models import Chunk, ItemStatus
from tests.support import Api, ServerProcess, add_files, servers, settings_env, sign_up

LEASE = 3.0
FAST = {
    "cognify_steps": "tests.fault_steps:pipeline",
    "heartbeat_seconds": 0.3,
    "lease_seconds": LEASE,
    "item_concurrency": 2,
    "log_level": "WARNING",
}


def chunk_counts(settings: Settings) -> dict[Any, int]:
    """Chunks per data item, read straight from the store of record."""

    async def read() -> dict[Any, int]:
        db = Database(settings.sqlalchemy_url)
        async with db.read() as session:
            rows = await session.execute(
                select(Chunk.data_id, func.count()).group_by(Chunk.data_id)
            )
            counts = {data_id: n for data_id, n in rows}
        await db.dispose()
        return counts

    return asyncio.run(read())


def attempts(settings: Settings) -> list[int]:
    async def read() -> list[int]:
        db = Database(settings.sqlalchemy_url)
        async with db.read() as session:
            found = list(
                await session.scalars(
                    select(ItemStatus.attempts).where(
                        ItemStatus.pipeline_name == "cognify_pipeline"
                    )
                )
            )
        await db.dispose()
        return found

    return asyncio.run(read())


def wait_status(api: Api, dataset_id: str, want: str, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        status = api.get("/api/v1/datasets/status").json().get(dataset_id)
        if status == want:
            return time.monotonic() - started
        assert status != "DATASET_PROCESSING_ERRORED"
        time.sleep(0.1)
    raise AssertionError(f"{dataset_id} did not reach {want} in {timeout} s")


def wait_completed_items(api: Api, run_id: str, at_least: int) -> None:
    deadline = time.monotonic() + 60
    while api.get(f"/api/v1/runs/{run_id}").json()["counts"]["completed"] < at_least:
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.fixture
def shared(settings_factory: Any) -> Iterator[Settings]:
    settings = settings_factory(**FAST)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    yield settings


def _docs(n: int, sleep: float) -> list[tuple[str, bytes]]:
    return [(f"doc{i:03}.txt", f"@sleep={sleep} item {i}".encode()) for i in range(n)]


def test_kill_9_mid_run_then_restart_resumes_and_completes(shared: Settings) -> None:
    with servers(settings_env(shared)) as running:
        api = sign_up(running.start().base_url)
        ds = add_files(api, "ds", _docs(20, 0.15)).json()["dataset_id"]
        run_id = api.post(
            "/api/v1/cognify", json={"datasetIds": [ds], "runInBackground": True}
        ).json()[ds]["pipeline_run_id"]
        wait_completed_items(api, run_id, 4)
        running.restart_killed(api)
        # Still leased by the dead process, or already requeued when the restart took longer
        # than the lease (a loaded machine): either way, never failed.
        assert api.get(f"/api/v1/runs/{run_id}").json()["state"] in ("running", "queued")
        elapsed = wait_status(api, ds, "DATASET_PROCESSING_COMPLETED", LEASE + 15)
        assert elapsed < LEASE + 15
        run = api.get(f"/api/v1/runs/{run_id}").json()
        assert run["state"] == "completed"
        assert run["counts"] == {"total": 20, "completed": 20, "failed": 0, "skipped": 0}
        states = {
            i["pipelineStatus"]["cognify_pipeline"]["state"]
            for i in api.get(f"/api/v1/datasets/{ds}/data").json()
        }
        assert states == {"completed"}
    counts = chunk_counts(shared)
    assert len(counts) == 20
    assert set(counts.values()) == {1}  # every item's output exactly once


def test_recovery_can_fail_abandoned_runs_instead(shared: Settings) -> None:
    env = settings_env(shared) | {"GRAPHMILL_RECOVERY": "fail"}
    first = ServerProcess(env).start()
    api = sign_up(first.base_url)
    ds = add_files(api, "ds", _docs(10, 0.3)).json()["dataset_id"]
    run_id = api.post("/api/v1/cognify", json={"datasetIds": [ds], "runInBackground": True}).json()[
        ds
    ]["pipeline_run_id"]
    wait_completed_items(api, run_id, 1)
    first.kill()
    second = ServerProcess(env).start()
    try:
        api.base_url = second.base_url  # type: ignore[assignment]
        deadline = time.monotonic() + LEASE + 15
        while api.get(f"/api/v1/runs/{run_id}").json()["state"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        run = api.get(f"/api/v1/runs/{run_id}").json()
        assert run["state"] == "failed"
        assert run["error"]["class"] == "abandoned"
        assert run["error"]["message"]
        assert api.get("/api/v1/datasets/status").json() == {ds: "DATASET_PROCESSING_ERRORED"}
        # Completed items keep their results; a new run does only the rest.
        again = api.post("/api/v1/cognify", json={"datasetIds": [ds]}).json()[ds]
        assert again["status"] == "PipelineRunCompleted"
        assert "PipelineRunAlreadyCompleted" in {
            e["run_info"]["status"] for e in again["data_ingestion_info"]
        }
    finally:
        second.stop()


def test_restarting_one_of_two_processes_leaves_the_others_run_alone(shared: Settings) -> None:
    env = settings_env(shared)
    processes = [ServerProcess(env).start(), ServerProcess(env).start()]
    try:
        api = sign_up(processes[0].base_url)
        ds = add_files(api, "ds", _docs(16, 0.2)).json()["dataset_id"]
        run_id = api.post(
            "/api/v1/cognify", json={"datasetIds": [ds], "runInBackground": True}
        ).json()[ds]["pipeline_run_id"]
        wait_completed_items(api, run_id, 2)
        owner = api.get(f"/api/v1/runs/{run_id}").json()["lease"]["owner"]
        # Either process may have claimed the run; restart the one that did not.
        running = next(p for p in processes if any(f":{pid}:" in owner for pid in p.pids))
        idle = next(p for p in processes if p is not running)
        api.base_url = running.base_url  # type: ignore[assignment]
        idle.stop()
        processes.remove(idle)
        processes.append(ServerProcess(env).start())
        wait_status(api, ds, "DATASET_PROCESSING_COMPLETED", 60)
        run = api.get(f"/api/v1/runs/{run_id}").json()
        assert run["counts"]["completed"] == 16
        runs = api.get(f"/api/v1/datasets/{ds}/runs").json()
        cognify_runs = [r for r in runs if r["pipeline_name"] == "cognify_pipeline"]
        assert [(r["run_id"], r["state"]) for r in cognify_runs] == [(run_id, "completed")]
    finally:
        for process in processes:
            process.stop()
    assert set(attempts(shared)) == {1}  # nothing was redone
    assert set(chunk_counts(shared).values()) == {1}


def test_two_processes_never_start_two_runs_for_one_dataset(shared: Settings) -> None:
    env = settings_env(shared)
    a, b = ServerProcess(env).start(), ServerProcess(env).start()
    try:
        api = sign_up(a.base_url)
        token = api.headers["Authorization"]
        ds = add_files(api, "ds", _docs(6, 0.2)).json()["dataset_id"]
        run_ids: list[str] = []

        def request(base_url: str) -> None:
            with Api(base_url=base_url, headers={"Authorization": token}, timeout=60) as c:
                r = c.post("/api/v1/cognify", json={"datasetIds": [ds], "runInBackground": True})
                run_ids.append(r.json()[ds]["pipeline_run_id"])

        threads = [
            threading.Thread(target=request, args=(url,)) for url in [a.base_url, b.base_url] * 5
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(run_ids) == 10
        assert len(set(run_ids)) == 1
        wait_status(api, ds, "DATASET_PROCESSING_COMPLETED", 60)
        runs = api.get(f"/api/v1/datasets/{ds}/runs").json()
        assert [r["pipeline_name"] for r in runs].count("cognify_pipeline") == 1
    finally:
        a.stop()
        b.stop()
    assert set(attempts(shared)) == {1}
