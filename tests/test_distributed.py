"""Distributed mode: an API process that only enqueues, and `graphmill worker` processes
taking runs from PostgreSQL through procrastinate; one worker is killed mid-run."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.support import ServerProcess, add_files, settings_env, sign_up
from tests.test_recovery import FAST, LEASE, attempts, chunk_counts

pytestmark = pytest.mark.parametrize("backend", ["postgresql-s3"], indirect=True)

ITEMS = 200


def test_two_workers_kill_one_mid_run_every_item_completes_once(settings_factory: Any) -> None:
    settings = settings_factory(**FAST | {"executor": "procrastinate", "item_concurrency": 8})
    env = settings_env(settings)
    api_process = ServerProcess(env).start()
    workers = [ServerProcess(env, "worker").start(), ServerProcess(env, "worker").start()]
    try:
        api = sign_up(api_process.base_url)
        assert api.get("/health").json()["backends"]["executor"] == "procrastinate"
        files = [(f"doc{i:03}.txt", f"@sleep=0.03 item {i}".encode()) for i in range(ITEMS)]
        ds = add_files(api, "big", files).json()["dataset_id"]
        run_id = api.post(
            "/api/v1/cognify", json={"datasetIds": [ds], "runInBackground": True}
        ).json()[ds]["pipeline_run_id"]

        seen: set[str] = set()
        deadline = time.monotonic() + 60
        while True:  # wait until a worker holds the run and has done some items
            run = api.get(f"/api/v1/runs/{run_id}").json()
            seen.add(api.get("/api/v1/datasets/status").json()[ds])
            if run["lease"] and run["counts"]["completed"] >= 20:
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        owner = run["lease"]["owner"]
        victim = next(w for w in workers if f":{w.pid}:" in owner)
        victim.kill()

        deadline = time.monotonic() + LEASE + 60
        while True:
            status = api.get("/api/v1/datasets/status").json()[ds]
            seen.add(status)
            if status == "DATASET_PROCESSING_COMPLETED":
                break
            assert time.monotonic() < deadline, api.get(f"/api/v1/runs/{run_id}").json()
            time.sleep(0.1)
        assert seen <= {
            "DATASET_PROCESSING_INITIATED",
            "DATASET_PROCESSING_STARTED",
            "DATASET_PROCESSING_COMPLETED",
        }
        run = api.get(f"/api/v1/runs/{run_id}").json()
        assert run["counts"] == {"total": ITEMS, "completed": ITEMS, "failed": 0, "skipped": 0}
        items = api.get(f"/api/v1/datasets/{ds}/data", params={"limit": 1000}).json()
        assert len(items) == ITEMS
        assert {i["pipelineStatus"]["cognify_pipeline"]["state"] for i in items} == {"completed"}
    finally:
        api_process.stop()
        for w in workers:
            w.stop()
    counts = chunk_counts(settings)
    assert len(counts) == ITEMS
    assert set(counts.values()) == {1}
    # Items in flight on the killed worker were redone once; nothing else was.
    assert sum(1 for a in attempts(settings) if a > 1) <= 8


def test_api_process_alone_only_enqueues(settings_factory: Any) -> None:
    settings = settings_factory(**FAST | {"executor": "procrastinate"})
    env = settings_env(settings)
    api_process = ServerProcess(env).start()
    try:
        api = sign_up(api_process.base_url)
        ds = add_files(api, "ds", [("a.txt", b"alpha")]).json()["dataset_id"]
        run_id = api.post(
            "/api/v1/cognify", json={"datasetIds": [ds], "runInBackground": True}
        ).json()[ds]["pipeline_run_id"]
        time.sleep(1.5)
        assert api.get(f"/api/v1/runs/{run_id}").json()["state"] == "queued"
        worker = ServerProcess(env, "worker").start()
        try:
            deadline = time.monotonic() + 30
            while api.get(f"/api/v1/runs/{run_id}").json()["state"] != "completed":
                assert time.monotonic() < deadline
                time.sleep(0.1)
        finally:
            worker.stop()
    finally:
        api_process.stop()


def _run_state(api: Any, run_id: str) -> dict[str, Any]:
    return dict(api.get(f"/api/v1/runs/{run_id}").json())


def _wait_completed_items(api: Any, run_id: str, n: int) -> None:
    deadline = time.monotonic() + 60
    while _run_state(api, run_id)["counts"]["completed"] < n:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_sigterm_hands_the_run_back_at_once(settings_factory: Any) -> None:
    """A stopped worker stops within seconds and its run goes back to the queue, instead of
    finishing the whole run first (issue 9, defect 12); the next worker completes it."""
    settings = settings_factory(
        **FAST | {"executor": "procrastinate", "worker_shutdown_seconds": 0.5}
    )
    env = settings_env(settings)
    api_process = ServerProcess(env).start()
    worker = ServerProcess(env, "worker").start()
    try:
        api = sign_up(api_process.base_url)
        files = [(f"doc{i:02}.txt", f"@sleep=0.2 item {i}".encode()) for i in range(60)]
        ds = add_files(api, "long", files).json()["dataset_id"]
        run_id = api.post(
            "/api/v1/cognify", json={"datasetIds": [ds], "runInBackground": True}
        ).json()[ds]["pipeline_run_id"]
        _wait_completed_items(api, run_id, 4)
        assert worker.process is not None
        worker.process.terminate()
        worker.process.wait(timeout=60)
        # Handed back, not finished first: no wall-clock bound (a loaded machine stretches
        # any), the counts tell — the worker stopped with items left.
        run = _run_state(api, run_id)
        assert run["state"] == "queued", run
        assert run["counts"]["completed"] < 60
        second = ServerProcess(env, "worker").start()
        try:
            deadline = time.monotonic() + 60
            while _run_state(api, run_id)["state"] != "completed":
                assert time.monotonic() < deadline, _run_state(api, run_id)
                time.sleep(0.1)
        finally:
            second.stop()
    finally:
        api_process.stop()
        worker.stop()
    assert set(chunk_counts(settings).values()) == {1}


def test_a_killed_workers_job_does_not_stay_doing(settings_factory: Any) -> None:
    """Jobs of a dead worker are closed once its heartbeats stop (issue 9, defect 13)."""
    settings = settings_factory(**FAST | {"executor": "procrastinate"})
    env = settings_env(settings)
    api_process = ServerProcess(env).start()
    victim = ServerProcess(env, "worker").start()
    try:
        api = sign_up(api_process.base_url)
        files = [(f"doc{i:02}.txt", f"@sleep=0.1 item {i}".encode()) for i in range(40)]
        ds = add_files(api, "crash", files).json()["dataset_id"]
        run_id = api.post(
            "/api/v1/cognify", json={"datasetIds": [ds], "runInBackground": True}
        ).json()[ds]["pipeline_run_id"]
        _wait_completed_items(api, run_id, 3)
        victim.kill()
        survivor = ServerProcess(env, "worker").start()
        try:
            deadline = time.monotonic() + LEASE + 60
            while _run_state(api, run_id)["state"] != "completed":
                assert time.monotonic() < deadline, _run_state(api, run_id)
                time.sleep(0.1)
            deadline = time.monotonic() + LEASE + 30
            while _procrastinate_jobs(settings, "doing"):
                assert time.monotonic() < deadline, _procrastinate_jobs(settings, "doing")
                time.sleep(0.2)
        finally:
            survivor.stop()
    finally:
        api_process.stop()
        victim.stop()


def _procrastinate_jobs(settings: Any, status: str) -> list[Any]:
    import asyncio

    from sqlalchemy import text

    from graphmill.db import Database

    async def read() -> list[Any]:
        db = Database(settings.sqlalchemy_url)
        async with db.read() as session:
            rows = await session.execute(
                text("SELECT id FROM procrastinate_jobs WHERE status = :s"), {"s": status}
            )
            found = list(rows)
        await db.dispose()
        return found

    return asyncio.run(read())
