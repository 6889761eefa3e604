"""`graphmill serve` with the local executor runs its pipelines in a child process at a lower
CPU priority: the server's event loop only answers requests. Real OS processes."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graphmill.config import Settings
from tests.support import Api, ServerProcess, add_files, settings_env, sign_up

FAST = {
    "cognify_steps": "tests.fault_steps:pipeline",
    "heartbeat_seconds": 0.3,
    "lease_seconds": 3.0,
    "log_level": "WARNING",
    "pipeline_process": True,
}


@pytest.fixture
def store(settings_factory: Any) -> Iterator[Settings]:
    settings = settings_factory(**FAST)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    yield settings


def stat(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name (state first), None once the process is gone
    (or a zombie: dead, waiting for its parent to read its exit code)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return None
    return None if fields[0] in ("Z", "X") else fields


def nice(pid: int) -> int:
    fields = stat(pid)
    assert fields is not None
    return int(fields[16])


def pipeline_child(server: ServerProcess, timeout: float = 30) -> int:
    """The pid of the server's pipeline process, waiting for it (it may be restarting)."""
    deadline = time.monotonic() + timeout
    while True:
        for pid in server.pids[1:]:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if cmdline[-4:-1] == [b"worker", b"--for-server", str(server.pid).encode()]:
                return pid
        assert time.monotonic() < deadline, "no pipeline process"
        time.sleep(0.05)


def gone_within(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while stat(pid) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def cognify(api: Api, name: str, docs: int) -> tuple[str, str]:
    files = [(f"{name}{i}.txt", f"@sleep=0.2 {name} item {i}".encode()) for i in range(docs)]
    ds = add_files(api, name, files).json()["dataset_id"]
    answer = api.post("/api/v1/cognify", json={"datasetIds": [ds], "runInBackground": True})
    return ds, answer.json()[ds]["pipeline_run_id"]


def wait_final(api: Api, run_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (run := api.get(f"/api/v1/runs/{run_id}").json())["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, run
        time.sleep(0.05)
    return run


def lease_owner(api: Api, run_id: str) -> str:
    deadline = time.monotonic() + 30
    while not (owner := (api.get(f"/api/v1/runs/{run_id}").json()["lease"] or {}).get("owner")):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return str(owner)


def test_the_child_runs_the_pipelines_at_lower_priority_comes_back_and_stops_with_it(
    store: Settings,
) -> None:
    server = ServerProcess(settings_env(store)).start()
    try:
        child = pipeline_child(server)
        assert nice(child) - nice(server.pid) == 10  # GRAPHMILL_PIPELINE_NICE
        api = sign_up(server.base_url)
        health = api.get("/health").json()
        assert health["pipeline_process"] == {
            "state": "running",
            "pid": child,
            "restarts": 0,
            "last_exit_code": None,
        }
        _, run_id = cognify(api, "first", 6)
        assert f":{child}:" in lease_owner(api, run_id)  # the child executes it
        assert wait_final(api, run_id)["counts"]["completed"] == 6

        # A pipeline process that dies is started again, and runs go on.
        os.kill(child, signal.SIGKILL)
        assert gone_within(child, 5)
        again = pipeline_child(server)
        assert again != child
        deadline = time.monotonic() + 10
        while (health := api.get("/health")).json()["pipeline_process"]["pid"] != again:
            assert health.status_code == 200  # the server itself never stopped answering
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert health.json()["pipeline_process"] == {
            "state": "running",
            "pid": again,
            "restarts": 1,
            "last_exit_code": -signal.SIGKILL,
        }
        _, second = cognify(api, "second", 3)
        assert wait_final(api, second)["state"] == "completed"
    finally:
        server.stop()
    # SIGTERM to the server stops its pipeline process too.
    assert gone_within(again, 5)


def test_a_killed_server_takes_its_pipeline_process_with_it(store: Settings) -> None:
    server = ServerProcess(settings_env(store)).start()
    try:
        child = pipeline_child(server)
        api = sign_up(server.base_url)
        _, run_id = cognify(api, "ds", 20)
        assert f":{child}:" in lease_owner(api, run_id)
    finally:
        server.kill()
    # The run's lease is left behind for recovery, as when the server ran it itself: no
    # orphan keeps working on a store nobody serves.
    assert gone_within(child, 5)


def test_without_a_pipeline_process_the_server_runs_the_pipelines_itself(
    store: Settings,
) -> None:
    server = ServerProcess(settings_env(store) | {"GRAPHMILL_PIPELINE_PROCESS": "false"}).start()
    try:
        assert server.pids == [server.pid]
        api = sign_up(server.base_url)
        assert "pipeline_process" not in api.get("/health").json()
        _, run_id = cognify(api, "ds", 3)
        assert f":{server.pid}:" in lease_owner(api, run_id)
        assert wait_final(api, run_id)["state"] == "completed"
    finally:
        server.stop()


def test_an_idle_pipeline_process_runs_under_sched_idle_and_still_completes_runs(
    store: Settings,
) -> None:
    server = ServerProcess(settings_env(store) | {"GRAPHMILL_PIPELINE_IDLE": "true"}).start()
    try:
        child = pipeline_child(server)
        assert os.sched_getscheduler(child) == os.SCHED_IDLE  # GRAPHMILL_PIPELINE_IDLE
        assert os.sched_getscheduler(server.pid) == os.SCHED_OTHER
        api = sign_up(server.base_url)
        _, run_id = cognify(api, "ds", 3)
        assert f":{child}:" in lease_owner(api, run_id)
        assert wait_final(api, run_id)["state"] == "completed"
    finally:
        server.stop()
