"""`graphmill serve` with the local executor runs its pipelines in a child process at a lower
CPU priority: the server's event loop only answers requests. Real OS processes."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from graphmill.config import Settings
from graphmill.pipelines.priority import Starvation
from tests.support import Api, ServerProcess, add_files, settings_env, sign_up

FAST = {
    "cognify_steps": "tests.fault_steps:pipeline",
    "heartbeat_seconds": 0.3,
    "lease_seconds": 3.0,
    "log_level": "WARNING",
    "pipeline_process": True,
    "pipeline_idle": False,  # nice 10; SCHED_IDLE below
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


def pipeline_child(server: ServerProcess, timeout: float = 30, exclude: int = 0) -> int:
    """The pid of the server's pipeline process, waiting for it (it may be restarting), or
    for one other than `exclude`, until the server's /health names it: the server gives it
    its CPU priority just after starting it, so its command line shows a moment before."""
    deadline = time.monotonic() + timeout
    while True:
        for pid in set(server.pids[1:]) - {exclude}:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if cmdline[-4:-1] != [b"worker", b"--for-server", str(server.pid).encode()]:
                continue
            health = httpx.get(f"{server.base_url}/health", timeout=10).json()
            if health["pipeline_process"]["pid"] == pid:
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


def lease_owner(api: Api, run_id: str, exclude: int = 0) -> str:
    """Who holds the run's lease, waiting for someone (other than the process `exclude`)."""
    deadline = time.monotonic() + 30
    while True:
        owner = (api.get(f"/api/v1/runs/{run_id}").json()["lease"] or {}).get("owner")
        if owner and f":{exclude}:" not in owner:
            return str(owner)
        assert time.monotonic() < deadline
        time.sleep(0.02)


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
            "priority": "nice 10",
            "starved_at": None,
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
            "priority": "nice 10",
            "starved_at": None,
        }
        _, second = cognify(api, "second", 3)
        assert wait_final(api, second)["state"] == "completed"
    finally:
        server.stop()
    # SIGTERM to the server stops its pipeline process too.
    assert gone_within(again, 5)


def test_the_runs_of_a_pipeline_process_that_died_resume_at_once(store: Settings) -> None:
    """The server reaps its pipeline process, so it knows that process is gone: the leases it
    held end then, and a new pipeline process resumes its runs at once instead of when the
    leases would have run out (a minute here)."""
    server = ServerProcess(settings_env(store) | {"GRAPHMILL_LEASE_SECONDS": "60"}).start()
    try:
        child = pipeline_child(server)
        api = sign_up(server.base_url)
        _, run_id = cognify(api, "ds", 10)
        assert f":{child}:" in lease_owner(api, run_id)
        os.kill(child, signal.SIGKILL)
        killed = time.monotonic()
        again = pipeline_child(server, exclude=child)
        assert f":{again}:" in lease_owner(api, run_id, exclude=child)
        assert wait_final(api, run_id)["counts"]["completed"] == 10
        assert time.monotonic() - killed < 30
    finally:
        server.stop()


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
        # Its pid (a busy host may have made it starve: then it runs on at nice, see below).
        assert f":{child}:" in lease_owner(api, run_id)
        assert wait_final(api, run_id)["state"] == "completed"
    finally:
        server.stop()


CPU = max(os.sched_getaffinity(0))


def pinned() -> None:
    """In the server's process before it starts: run on one CPU only (its pipeline process
    inherits this), the one the hog below keeps busy."""
    os.sched_setaffinity(0, {CPU})


def unprivileged() -> None:
    """`pinned`, and without the right to raise a process's CPU priority (CAP_SYS_NICE, which
    root has): dropped from the capability bounding set, so the server keeps it no more
    after exec. RLIMIT_NICE (0 here) then forbids leaving SCHED_IDLE."""
    import ctypes

    pinned()
    pr_capbset_drop, cap_sys_nice = 24, 23
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(pr_capbset_drop, cap_sys_nice, 0, 0, 0) != 0:
            os._exit(99)


@contextlib.contextmanager
def hog() -> Iterator[None]:
    """An ordinary process wanting all of CPU `CPU`, for the length of the block; one at a
    time across the suite's processes (two would slow each other's server down too)."""
    code = f"import os\nos.sched_setaffinity(0, {{{CPU}}})\nwhile True: pass"
    with open(Path(tempfile.gettempdir()) / "graphmill-tests-hog.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        process = subprocess.Popen([sys.executable, "-c", code])
        try:
            yield
        finally:
            process.kill()
            process.wait()


def policies(pid: int) -> set[tuple[int, int]]:
    """(scheduling policy, nice) of every thread of the process."""
    found = set()
    for tid in map(int, os.listdir(f"/proc/{pid}/task")):
        with contextlib.suppress(ProcessLookupError):
            found.add((os.sched_getscheduler(tid), os.getpriority(os.PRIO_PROCESS, tid)))
    return found


STARVING = {
    "GRAPHMILL_PIPELINE_IDLE": "true",
    "GRAPHMILL_PIPELINE_IDLE_STARVED_SECONDS": "1",
}


def test_an_idle_pipeline_process_that_starves_runs_on_at_nice_in_place_until_calm(
    store: Settings,
) -> None:
    """Every CPU it may use busy with an ordinary process: under SCHED_IDLE it would get
    about 0.3 % of one and the run would take for ever; the server sees it starve and moves
    all of its threads to nice 10 (as root, in place: the same process goes on). Once the
    CPU has been calm for six starvation windows, it moves them back to SCHED_IDLE."""
    server = ServerProcess(settings_env(store) | STARVING, preexec=pinned).start()
    try:
        child = pipeline_child(server)
        api = sign_up(server.base_url)
        _, run_id = cognify(api, "ds", 10)
        lease_owner(api, run_id)  # started (a busy host may have made it starve already)
        started = time.monotonic()
        with hog():
            while not at_nice(health := api.get("/health").json()["pipeline_process"]):
                assert time.monotonic() - started < 30, health
                time.sleep(0.05)
            # Within the calm window (six seconds here), so still at nice.
            moved = policies(child) if os.geteuid() == 0 else set()
        if os.geteuid() == 0:  # may raise its threads' priority
            assert (health["pid"], health["restarts"]) == (child, 0)
            assert moved == {(os.SCHED_OTHER, 10)}
        assert wait_final(api, run_id)["state"] == "completed"
        calm = back_to_idle(api)
        # (Once back under SCHED_IDLE, a loaded host may starve it again before this looks:
        # then it went through the same again, with a longer calm.)
        assert calm["pid"] == health["pid"] and calm["starved_at"] >= health["starved_at"]
        assert {policy for policy, _ in policies(calm["pid"])} == {os.SCHED_IDLE}
    finally:
        server.stop()


def at_nice(health: dict[str, Any]) -> bool:
    """Moved off SCHED_IDLE for starving, and not back yet (a busy host may have starved it
    before the test's own hog, and the CPUs calmed down since: then the hog starves it
    again)."""
    return health["starved_at"] is not None and health["priority"] == "nice 10"


def back_to_idle(api: Api) -> dict[str, Any]:
    """/health's pipeline process once the server has moved it back to SCHED_IDLE."""
    started = time.monotonic()
    while (health := api.get("/health").json()["pipeline_process"])["priority"] != "idle":
        assert time.monotonic() - started < 60, health
        time.sleep(0.1)
    return dict(health)


def test_a_starving_idle_pipeline_process_without_the_right_to_leave_it_is_restarted(
    store: Settings,
) -> None:
    """Without CAP_SYS_NICE nothing may take a process out of SCHED_IDLE: the server starts
    its pipeline process again at nice 10, and the run goes on; once the CPU is calm the
    server puts the new process under SCHED_IDLE (which needs no privilege)."""
    env = settings_env(store) | STARVING | {"GRAPHMILL_LEASE_SECONDS": "60"}
    server = ServerProcess(env, preexec=unprivileged).start()
    try:
        api = sign_up(server.base_url)
        _, run_id = cognify(api, "ds", 10)
        started = time.monotonic()
        with hog():  # (a busy host may have starved it already: then it was restarted then)
            while not at_nice(health := api.get("/health").json()["pipeline_process"]):
                assert time.monotonic() - started < 30, health
                time.sleep(0.05)
            again = pipeline_child(server)
            moved = policies(again)  # within the calm window: still at nice
        # The new process starts without the hog (at nice 10 its start-up would be slow).
        assert moved == {(os.SCHED_OTHER, 10)}
        assert health["restarts"] >= 1
        assert wait_final(api, run_id)["state"] == "completed"
        calm = back_to_idle(api)  # lowering a process to SCHED_IDLE needs no privilege
        # Once back under SCHED_IDLE, a loaded host may starve it again before this looks
        # (CI did, 12 s later): then it was started again at nice and came back once more.
        now = pipeline_child(server)
        assert calm == {
            "state": "running",
            "pid": now,
            "restarts": calm["restarts"],
            "last_exit_code": -signal.SIGKILL,
            "priority": "idle",
            "starved_at": calm["starved_at"],
        }
        assert calm["restarts"] >= health["restarts"] + (now != again)
        assert calm["starved_at"] >= health["starved_at"]
        assert {policy for policy, _ in policies(now)} == {os.SCHED_IDLE}
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("verdict", "starved", "calm"),
    [
        # Under SCHED_IDLE against a busy ordinary process: 0.3 % of what it wanted.
        (Starvation(seconds=10, waiting=9.9, share=0.003, spare=0.003), True, False),
        # Waiting only a little, though getting little: not starving (a short burst).
        (Starvation(seconds=10, waiting=4, share=0.003, spare=0.003), False, False),
        # At nice 10 against a busy ordinary process on its only CPU: ~10 %, not calm.
        (Starvation(seconds=60, waiting=50, share=0.09, spare=0.09), False, False),
        # Idle, on a machine whose CPUs are all busy: nothing to spare, not calm.
        (Starvation(seconds=60, waiting=0.1, share=0.2, spare=0.02), False, False),
        # Idle, with half a CPU idle on the machine: calm.
        (Starvation(seconds=60, waiting=0.1, share=0.2, spare=0.5), False, True),
        # Busy at nice 10 on a CPU nobody else wants (the others busy): calm.
        (Starvation(seconds=60, waiting=5, share=0.9, spare=0.9), False, True),
    ],
)
def test_starved_and_calm_verdicts(verdict: Starvation, starved: bool, calm: bool) -> None:
    assert (verdict.starved, verdict.calm) == (starved, calm)
