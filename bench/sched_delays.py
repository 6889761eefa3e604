"""Who kept a process waiting for a CPU: the scheduling delays of chosen threads, from a
`perf sched record`, each blamed on what ran on that CPU while the thread waited.

A status request that takes 4 ms instead of 2 ms during a run has, on a small machine, most
often spent the difference runnable but not running: woken by the request, it waited for a
CPU that another task held. `perf sched timehist` gives, for every switch, the thread's
scheduling delay (woken to running); this script finds, for each delay of the chosen
threads over --min-ms, the tasks that ran on that CPU during it, and sums them per process.

    perf sched record -a -o sched.data -- sleep 10     # while pipeline_overhead.py samples
    python bench/sched_delays.py sched.data --pids SERVER_PID[,SAMPLER_PID...] \\
        [--window START:END ...]

Threads are named as perf prints them (comm[tid] or comm[tid/pid]); a pid given with --pids
covers all its threads' delays only where perf prints the thread's tid, so give the tids
(the main thread's tid is the pid). --window limits the delays counted to perf's clock
interval START:END (seconds, as timehist prints), e.g. while a run was going.
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

TASK = re.compile(r"\[(\d+)(?:/(\d+))?\]$")


@dataclass(frozen=True)
class Switch:
    """One line of `perf sched timehist -w`: `task` left `cpu` at `at` (seconds) after
    running `run_ms`, having waited `delay_ms` for the CPU since it was woken."""

    at: float
    cpu: str
    task: str
    delay_ms: float
    run_ms: float

    @property
    def ran(self) -> tuple[float, float]:
        return self.at - self.run_ms / 1e3, self.at

    @property
    def waited(self) -> tuple[float, float]:
        start = self.at - self.run_ms / 1e3
        return start - self.delay_ms / 1e3, start

    def process(self) -> str:
        """The task's name with its process id (threads of one process together)."""
        found = TASK.search(self.task)
        if not found:
            return self.task
        return TASK.sub(f"[{found.group(2) or found.group(1)}]", self.task)

    def thread(self) -> str:
        found = TASK.search(self.task)
        return found.group(1) if found else ""


def switches(lines: Iterable[str]) -> Iterator[Switch]:
    for line in lines:
        fields = line.split()
        if len(fields) < 6 or not fields[1].startswith("[") or "awakened" in line:
            continue
        try:  # time, [cpu], task, wait, sch delay, run time; headers are not numbers
            yield Switch(float(fields[0]), fields[1], fields[2], float(fields[4]), float(fields[5]))
        except ValueError:
            continue


def timehist(path: Path) -> list[str]:
    """The text of `perf sched timehist -w` for a perf.data file (or the file itself, when
    it is that text already)."""
    with path.open("rb") as head:
        is_perf_data = head.read(8) == b"PERFILE2"
    if not is_perf_data:
        return path.read_text().splitlines()
    result = subprocess.run(
        ["perf", "sched", "timehist", "-w", "-i", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.splitlines()


def blame(
    all_switches: list[Switch],
    victims: set[str],
    windows: list[tuple[float, float]],
    min_ms: float,
) -> tuple[int, int, float, collections.Counter[str], collections.Counter[str]]:
    """(delays counted, switch-ins of the victims, their total ms, ms per culprit process,
    delays per culprit process)."""
    by_cpu: dict[str, list[Switch]] = collections.defaultdict(list)
    for switch in all_switches:
        by_cpu[switch.cpu].append(switch)
    mine = [
        s
        for s in all_switches
        if s.thread() in victims and (not windows or any(a <= s.at <= b for a, b in windows))
    ]
    ms: collections.Counter[str] = collections.Counter()
    count: collections.Counter[str] = collections.Counter()
    long = [s for s in mine if s.delay_ms >= min_ms]
    for delay in long:
        start, end = delay.waited
        for other in by_cpu[delay.cpu]:
            ran_from, ran_to = other.ran
            overlap = min(ran_to, end) - max(ran_from, start)
            if overlap > 0:
                ms[other.process()] += overlap * 1e3
                count[other.process()] += 1
    return len(long), len(mine), sum(s.delay_ms for s in long), ms, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="perf.data of `perf sched record`, or timehist")
    parser.add_argument("--pids", required=True, help="comma-separated thread ids")
    parser.add_argument("--window", action="append", default=[], help="START:END, seconds")
    parser.add_argument("--min-ms", type=float, default=0.2, help="shortest delay counted")
    args = parser.parse_args()
    windows = [(float(a), float(b)) for a, b in (w.split(":") for w in args.window)]
    counted, total, delayed, ms, count = blame(
        list(switches(timehist(args.data))), set(args.pids.split(",")), windows, args.min_ms
    )
    print(
        f"delays of {args.min_ms} ms or more: {counted} of {total} switch-ins, "
        f"{delayed:.1f} ms in all; what ran on their CPU meanwhile:"
    )
    for who, spent in ms.most_common(12):
        print(f"  {who:32} {spent:8.1f} ms  in {count[who]} delays")


if __name__ == "__main__":
    main()
