"""The pipeline process's CPU priority: lower than the server's (Unix nice, or Linux's
SCHED_IDLE), and the guard that takes SCHED_IDLE away from a process it starves.

SCHED_IDLE gives the pipeline process a CPU only when nothing else wants one, which is what
keeps status reads flat during a run; on a host whose CPUs are all busy it gives it almost
nothing (about 0.3 % of a CPU against one ordinary process), and runs would never finish.
The server therefore watches how much of the CPU time the process waited for it actually got
(Linux's per-thread schedstat), and moves it to an ordinary lower priority when it got too
little for too long.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path

# Starved: over the window, the process waited for a CPU at least half of the time and got
# less than this share of the time it was runnable. An ordinary process on a host with 10
# runnable processes per CPU still gets 10 %; under SCHED_IDLE against one busy process, 0.3 %.
STARVED_SHARE = 0.05
STARVED_WAITING = 0.5


def idle_supported() -> bool:
    return sys.platform == "linux" and hasattr(os, "SCHED_IDLE")


def lower(pid: int, idle: bool, nice: int) -> str:
    """Give a just-started process (one thread; the ones it starts inherit this) its lower
    priority: SCHED_IDLE when `idle` (where `idle_supported`), else `nice`; returns it as
    /health shows it."""
    if idle:
        os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
        return "idle"
    if nice and hasattr(os, "setpriority"):
        os.setpriority(os.PRIO_PROCESS, pid, nice)
    return f"nice {nice}"


def threads(pid: int) -> list[int]:
    try:
        return [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    except FileNotFoundError:
        return []


def lift_idle(pid: int, nice: int) -> None:
    """Move every thread of the process from SCHED_IDLE to the ordinary policy at `nice`.
    PermissionError when this process may not (leaving SCHED_IDLE needs CAP_SYS_NICE or an
    RLIMIT_NICE allowing `nice`); threads started meanwhile are caught by the next pass."""
    for _ in range(5):
        moved = 0
        for tid in threads(pid):
            with contextlib.suppress(ProcessLookupError):  # the thread ended meanwhile
                if os.sched_getscheduler(tid) == os.SCHED_IDLE:
                    os.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0))
                    os.setpriority(os.PRIO_PROCESS, tid, nice)
                    moved += 1
        if not moved:
            return


def cpu_times(pid: int) -> dict[int, tuple[int, int]]:
    """Per thread: nanoseconds spent on a CPU and waiting for one, since it started."""
    times: dict[int, tuple[int, int]] = {}
    for tid in threads(pid):
        with contextlib.suppress(FileNotFoundError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()
            times[tid] = (int(fields[0]), int(fields[1]))
    return times


@dataclass
class Starvation:
    """What the window's samples show: seconds covered, and of the CPU time the process
    wanted (on a CPU or waiting for one) the share it got."""

    seconds: float
    waiting: float  # seconds spent waiting for a CPU, summed over threads
    share: float

    @property
    def starved(self) -> bool:
        return self.waiting >= STARVED_WAITING * self.seconds and self.share < STARVED_SHARE


class StarvationWatch:
    """Samples a process's per-thread CPU and wait times; judges the last `window` seconds."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.pid: int | None = None
        self.samples: deque[tuple[float, dict[int, tuple[int, int]]]] = deque()

    def sample(self, pid: int, now: float) -> Starvation | None:
        """Record one sample; the verdict once the samples span the window (None before)."""
        if pid != self.pid:  # another process: start over
            self.pid = pid
            self.samples.clear()
        self.samples.append((now, cpu_times(pid)))
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.window:
            self.samples.popleft()
        first, times_then = self.samples[0]
        if now - first < self.window:
            return None
        _, times_now = self.samples[-1]
        ran = waited = 0
        for tid, (run_ns, wait_ns) in times_now.items():
            before = times_then.get(tid, (0, 0))  # a thread started since: all of its time
            ran += run_ns - before[0]
            waited += wait_ns - before[1]
        wanted = ran + waited
        return Starvation(
            seconds=now - first,
            waiting=waited / 1e9,
            share=ran / wanted if wanted else 1.0,
        )
