"""The test PostgreSQL's folder in /tmp: claimed by one pytest process, swept once it is dead.

A session folder `graphmill-pg-*` holds `owner.json` (the pytest process that made it: pid and
start time, so a reused pid is not taken for the owner), `data/` (pgserver's PGDATA) and any
volume a test mounts for a tablespace. A normal exit stops the server and deletes the folder;
a killed session (SIGKILL, OOM, a CI timeout) leaves a running postgres and 1-3 GB behind,
which the next session's sweep stops and removes. Several sessions share /tmp (xdist workers,
other runs): only folders whose owner is gone are touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

PREFIX = "graphmill-pg-"
OWNER = "owner.json"
# A folder without any owner record is being set up (or left by a run that predates
# owner.json and was killed before pgserver listed its pid): left alone until this old.
SETUP_GRACE_SECONDS = 900.0


def _started(pid: int) -> float | None:
    """The process's start time, None when there is no such process."""
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None


def claim_folder(parent: Path | None = None) -> Path:
    """A new session folder owned by this process; pgserver's PGDATA is `data/` in it."""
    folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=parent))
    owner = {"pid": os.getpid(), "started": _started(os.getpid())}
    (folder / OWNER).write_text(json.dumps(owner))
    (folder / "data").mkdir()
    return folder


def _owner_alive(folder: Path, grace: float) -> bool:
    try:
        owner = json.loads((folder / OWNER).read_text())
    except FileNotFoundError:
        owner = None
    except (OSError, ValueError):
        return True  # being written: not dead for sure
    if owner is not None:
        started = _started(int(owner["pid"]))
        return started is not None and abs(started - float(owner["started"])) < 0.5
    # A folder from before owner.json: pgserver's own list of the processes using it.
    for handles in (folder / ".handle_pids.json", folder / "data" / ".handle_pids.json"):
        with contextlib.suppress(OSError, ValueError):
            return any(psutil.pid_exists(int(pid)) for pid in json.loads(handles.read_text()))
    return time.time() - folder.stat().st_mtime < grace


def _stop_postmaster(folder: Path) -> None:
    """Stop the server whose PGDATA is in `folder`, if one runs (immediate shutdown)."""
    for data in (folder / "data", folder):
        try:
            pid = int((data / "postmaster.pid").read_text().split("\n", 1)[0])
            process = psutil.Process(pid)
            # A pid read from a file may have been reused: only the server of this folder.
            if str(data) not in " ".join(process.cmdline()):
                continue
        except (OSError, ValueError, psutil.Error):
            continue
        with contextlib.suppress(psutil.Error):
            process.send_signal(signal.SIGQUIT)
            try:
                process.wait(10)
            except psutil.TimeoutExpired:
                process.kill()
                process.wait(10)


def _unmount_under(folder: Path) -> None:
    """Detach volumes mounted inside the folder (a disk-full test's tablespace)."""
    prefix = f"{folder}/"
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for point in sorted(points, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)


def sweep_dead(parent: Path | None = None, grace: float = SETUP_GRACE_SECONDS) -> list[Path]:
    """Stop the servers of session folders whose owner is gone and delete the folders; the
    folders removed."""
    removed: list[Path] = []
    for folder in Path(parent or tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            if not folder.is_dir() or _owner_alive(folder, grace):
                continue
        except FileNotFoundError:
            continue  # removed meanwhile
        _stop_postmaster(folder)
        _unmount_under(folder)
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(folder)
    return removed
