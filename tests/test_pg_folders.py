"""The sweep of the test PostgreSQL folders that killed sessions left in /tmp
(tests/pg_folders.py): a dead owner's server is stopped and its folder deleted; a live
session's folder, one being set up and one of an older layout still in use are kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import pg_folders


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.kill()
        process.wait(timeout=30)


def _server(processes: list[subprocess.Popen[bytes]], data: Path) -> subprocess.Popen[bytes]:
    """A stand-in postmaster: a real process with PGDATA on its command line, named in
    `data/postmaster.pid` as pg_ctl writes it."""
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(300)", "-D", str(data)]
    )
    processes.append(process)
    (data / "postmaster.pid").write_text(f"{process.pid}\n{data}\n")
    return process


def _dead_owner(folder: Path) -> None:
    """Record as owner a process that has exited (a SIGKILLed pytest)."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    started = pg_folders._started(gone.pid)
    gone.wait(timeout=30)
    (folder / pg_folders.OWNER).write_text(json.dumps({"pid": gone.pid, "started": started}))


def test_sweep_stops_and_removes_only_dead_sessions(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    dead = pg_folders.claim_folder(tmp_path)
    _dead_owner(dead)
    dead_server = _server(processes, dead / "data")
    (dead / "data" / "base").mkdir()
    (dead / "data" / "base" / "16384").write_bytes(b"x" * 4096)

    live = pg_folders.claim_folder(tmp_path)  # this process's own session
    live_server = _server(processes, live / "data")

    reused = pg_folders.claim_folder(tmp_path)  # owner's pid now names another process
    (reused / pg_folders.OWNER).write_text(json.dumps({"pid": os.getpid(), "started": 1.0}))

    in_setup = tmp_path / f"{pg_folders.PREFIX}new"  # mkdtemp done, owner.json not yet
    in_setup.mkdir()
    old_layout = tmp_path / f"{pg_folders.PREFIX}old"  # before owner.json: pgserver's list
    old_layout.mkdir()
    (old_layout / ".handle_pids.json").write_text(json.dumps([os.getpid()]))
    old_dead = tmp_path / f"{pg_folders.PREFIX}olddead"
    old_dead.mkdir()
    (old_dead / ".handle_pids.json").write_text(json.dumps([_exited_pid()]))
    other = tmp_path / "not-ours"
    other.mkdir()

    removed = pg_folders.sweep_dead(tmp_path)

    assert sorted(removed) == sorted([dead, reused, old_dead])
    assert not dead.exists() and not reused.exists() and not old_dead.exists()
    assert dead_server.poll() is not None  # stopped (and reaped) by the sweep
    assert live.exists() and live_server.poll() is None
    assert in_setup.exists() and old_layout.exists() and other.exists()
    # Once past the set-up grace, an ownerless folder is a leftover too.
    old = time.time() - pg_folders.SETUP_GRACE_SECONDS - 60
    os.utime(in_setup, (old, old))
    assert pg_folders.sweep_dead(tmp_path) == [in_setup]
    assert live.exists() and live_server.poll() is None


def test_sweep_spares_a_postmaster_pid_that_names_another_process(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """A pid read from a dead session's postmaster.pid may belong to an unrelated process
    by now: it is not signalled, the folder is still removed."""
    dead = pg_folders.claim_folder(tmp_path)
    _dead_owner(dead)
    unrelated = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    processes.append(unrelated)
    (dead / "data" / "postmaster.pid").write_text(f"{unrelated.pid}\n{dead / 'data'}\n")
    assert pg_folders.sweep_dead(tmp_path) == [dead]
    assert unrelated.poll() is None


def _exited_pid() -> int:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=30)
    return gone.pid


def test_sweep_detaches_a_volume_a_killed_disk_full_test_left_mounted(tmp_path: Path) -> None:
    """A session killed in the middle of the disk-full test leaves its tmpfs mounted in its
    folder: the sweep detaches it before deleting the folder."""
    dead = pg_folders.claim_folder(tmp_path)
    _dead_owner(dead)
    point = dead / "full_volume"
    point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(point)],
        capture_output=True,
        text=True,
    )
    assert mounted.returncode == 0, f"mounting a tmpfs needs root (CI has it): {mounted.stderr}"
    try:
        (point / "table").write_bytes(b"x" * 4096)
        assert pg_folders.sweep_dead(tmp_path) == [dead]
        assert not dead.exists()
    finally:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)
    assert str(point) not in Path("/proc/self/mounts").read_text()
