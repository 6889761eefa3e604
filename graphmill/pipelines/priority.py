"""The pipeline process's CPU priority: lower than the server's (Unix nice, or Linux's
SCHED_IDLE), and the guard that takes SCHED_IDLE away from a process it starves and gives it
back once the CPUs are calm again.

SCHED_IDLE gives the pipeline process a CPU only when nothing else wants one, which is what
keeps status reads flat during a run; on a host whose CPUs are all busy it gives it almost
nothing (about 0.3 % of a CPU against one ordinary process), and runs would never finish.
The server therefore watches how much of the CPU time the process waited for it actually got
(Linux's per-thread schedstat), and moves it to an ordinary lower priority when it got too
little for too long; at that priority it keeps watching, and once the machine has had CPU
time to spare for long enough (what SCHED_IDLE would give the process), moves it back.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# Starved: over the window, the process waited for a CPU at least half of the time and got
# less than this share of the time it was runnable. An ordinary process on a host with 10
# runnable processes per CPU still gets 10 %; under SCHED_IDLE against one busy process, 0.3 %.
STARVED_SHARE = 0.05
STARVED_WAITING = 0.5
# Calm: over a longer window, the idle time of the CPUs the process may run on plus the CPU
# it used itself came to at least this many CPUs on average: under SCHED_IDLE it would have
# had that much (three times what starving means for a process wanting a whole CPU). At nice
# 10 against one busy ordinary process on its only CPU it gets about 0.1, which is not calm.
CALM_SPARE_CPUS = 0.15


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
    RLIMIT_NICE allowing `nice`)."""

    def lift(tid: int) -> bool:
        if os.sched_getscheduler(tid) != os.SCHED_IDLE:
            return False
        os.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0))
        os.setpriority(os.PRIO_PROCESS, tid, nice)
        return True

    _each_thread(pid, lift)


def to_idle(pid: int) -> None:
    """Move every thread of the process to SCHED_IDLE (no privilege needed: it only lowers
    their priority)."""

    def lower_to_idle(tid: int) -> bool:
        if os.sched_getscheduler(tid) == os.SCHED_IDLE:
            return False
        os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
        return True

    _each_thread(pid, lower_to_idle)


def _each_thread(pid: int, move: Callable[[int], bool]) -> None:
    """`move` every thread of the process (it says whether it changed the thread), again
    while a pass changed any: threads started meanwhile are caught by the next pass."""
    for _ in range(5):
        moved = 0
        for tid in threads(pid):
            with contextlib.suppress(ProcessLookupError):  # the thread ended meanwhile
                moved += move(tid)
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
    spare: float  # CPUs idle or used by the process, on average over the window

    @property
    def starved(self) -> bool:
        return self.waiting >= STARVED_WAITING * self.seconds and self.share < STARVED_SHARE

    @property
    def calm(self) -> bool:
        """The machine had CPU time to spare: SCHED_IDLE would not starve the process."""
        return self.spare >= CALM_SPARE_CPUS


class StarvationWatch:
    """Samples a process's per-thread CPU and wait times; judges the last `window` seconds."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.pid: int | None = None
        self.samples: deque[tuple[float, dict[int, tuple[int, int]], float]] = deque()

    def sample(self, pid: int, now: float) -> Starvation | None:
        """Record one sample; the verdict once the samples span the window (None before)."""
        if pid != self.pid:  # another process: start over
            self.pid = pid
            self.samples.clear()
        self.samples.append((now, cpu_times(pid), idle_cpu_seconds(pid)))
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.window:
            self.samples.popleft()
        first, times_then, idle_then = self.samples[0]
        if now - first < self.window:
            return None
        _, times_now, idle_now = self.samples[-1]
        ran = waited = 0
        for tid, (run_ns, wait_ns) in times_now.items():
            before = times_then.get(tid, (0, 0))  # a thread started since: all of its time
            ran += run_ns - before[0]
            waited += wait_ns - before[1]
        wanted = ran + waited
        seconds = now - first
        return Starvation(
            seconds=seconds,
            waiting=waited / 1e9,
            share=ran / wanted if wanted else 1.0,
            spare=(idle_now - idle_then + ran / 1e9) / seconds,
        )


def idle_cpu_seconds(pid: int) -> float:
    """CPU seconds the CPUs that process `pid` may run on have spent idle (or idle waiting
    for I/O) since boot, summed over those CPUs (/proc/stat); 0 where there is no such
    count."""
    try:
        allowed = os.sched_getaffinity(pid)
        ticks = 0
        with open("/proc/stat") as stat:
            for line in stat:
                name, *fields = line.split()
                if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in allowed:
                    ticks += int(fields[3]) + int(fields[4])
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0
