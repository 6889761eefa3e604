"""Cognify pipeline overhead per document, and status latency while a large run is going.

Workload (every dataset is fresh and gets --docs small unique text files, added in requests
of --batch files):

1. `blocking`: POST /api/v1/cognify with `runInBackground: false`, --repeat times, each on
   its own dataset, with nothing else going on: items/s and ms per item (wall clock of
   the request / items).
2. `blocking+sampled`: the same once more while a sampler keeps sampling, in turn,
   GET /api/v1/datasets/status?dataset=<the running dataset>, GET /api/v1/datasets/status
   (no parameters: every readable dataset) and `GET /` (the HTTP floor, to tell a slower
   status query from a slower server), pausing --sample-interval seconds after each. The
   sampler is a process of its own, so that this benchmark's thread waiting on or polling
   the run never holds the interpreter lock a sample needs.
3. `background`: `runInBackground: true`, then polling `?dataset=<id>` every
   --poll-interval seconds until the dataset is COMPLETED (or ERRORED), with the sampler
   running too.
4. `fanout` (--fanout K > 0): K datasets of docs/K files each in one background cognify
   request, polled until all are done (with several workers, runs of different datasets
   go to different processes), with the sampler running.
5. `recognify`: cognify the first dataset again, every item already completed.

When the server has graphmill's `GET /api/v1/runs/{id}` extension, the run's own
timestamps give the time from the request to the claim (queue) and from the claim to
the end (engine), so polling granularity and HTTP are out of those figures.

The status latency distributions while runs were going are printed next to the idle ones
(sampled the same way before the first and after the last cognify), with p50/p90/p99/max
ratios during : idle, and once more over the samples of every sampled run together (each
of them taken while a run was going): a run's ~115 samples of a kind make its p99 their
second-largest, so that two slow requests decide it. On a virtual machine that reports
stolen time (`steal` in /proc/stat: the hypervisor running something else on its CPUs), the
p99 ratio is printed a second time counting only the samples, idle and during, in which none
was stolen. While it samples, this client's own garbage collector is off (as `timeit` does;
`--client-gc` leaves it on): a full collection of this client took 27-29 ms and was, when it
fell in a run, that run's slowest sample.

    python bench/pipeline_overhead.py --base-url http://127.0.0.1:8000 --docs 1000

The per-item figure is the wall clock divided by items, so it includes everything the
server does for an item (claim, state transitions, events, counters, the steps) amortized
over the items it processes at once. With no-op steps it is the engine's own overhead.

With --server-pids (and --pg-pid for a PostgreSQL postmaster) on the server's machine, each
run also reports the CPU time those processes used per item, read from /proc: on a shared
machine it varies much less with other load than wall time does.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import multiprocessing
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import httpx
from _common import Dist, base_parser, check, client, cpu_times, header, written_bytes

STATUS = "/api/v1/datasets/status"
COMPLETED = "DATASET_PROCESSING_COMPLETED"
ERRORED = "DATASET_PROCESSING_ERRORED"

VOCABULARY = (
    "graph memory pipeline dataset vector chunk entity relation document summary token "
    "engine worker lease status event cognify search ontology embedding retrieval"
)
WORDS = VOCABULARY.split()


def document(tag: str, index: int, words: int) -> bytes:
    """A small unique text document of about `words` words."""
    body = " ".join(WORDS[(index * 7 + k) % len(WORDS)] for k in range(words))
    return f"Document {index} of {tag} ({uuid.uuid4()}).\n\n{body}.\n".encode()


def add_documents(
    api: httpx.Client, dataset_name: str, count: int, batch: int, words: int
) -> tuple[str, list[float]]:
    """Add `count` small documents in requests of `batch` files; dataset id, durations."""
    durations = []
    dataset_id = ""
    for start in range(0, count, batch):
        files = [
            ("data", (f"doc{i:05}.txt", document(dataset_name, i, words), "text/plain"))
            for i in range(start, min(count, start + batch))
        ]
        began = time.perf_counter()
        response = check(api.post("/api/v1/add", files=files, data={"datasetName": dataset_name}))
        durations.append(time.perf_counter() - began)
        dataset_id = str(response.json()["dataset_id"])
    return dataset_id, durations


# --- status sampling ---------------------------------------------------------------------


@dataclass
class Samples:
    """Status latencies (seconds) per query kind."""

    by_kind: dict[str, list[float]] = field(default_factory=dict)
    # the same, only the samples during which the hypervisor took no CPU time (`stolen`)
    unstolen: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0
    # (when the request ended, on the perf_counter clock; kind; seconds) of each sample
    timeline: list[tuple[float, str, float]] = field(default_factory=list)

    def add(self, kind: str, seconds: float, stolen: int = 0) -> None:
        self.by_kind.setdefault(kind, []).append(seconds)
        if not stolen:
            self.unstolen.setdefault(kind, []).append(seconds)
        self.timeline.append((time.perf_counter(), kind, seconds))

    def slowest(self, began: float, ended: float, count: int = 5) -> str:
        """The `count` slowest samples, each as its latency @ when it began, in ms from the
        run's request (negative: before it) or, past the run's end, "end+" ms after it."""
        worst = sorted(self.timeline, key=lambda sample: -sample[2])[:count]
        parts = []
        for at, kind, seconds in worst:
            start = at - seconds
            where = (
                f"end+{(start - ended) * 1e3:.0f}"
                if start > ended
                else f"{(start - began) * 1e3:+.0f}"
            )
            parts.append(f"{seconds * 1e3:.1f} ({kind.split()[0]}) @{where}")
        return ", ".join(parts)


KINDS = ("dataset=<id>", "no params", "GET / (floor)")


def probe(api: httpx.Client, kind: str, dataset_ids: Sequence[str]) -> tuple[float, Any, int]:
    """One request of a sampled kind: the status query with or without ids, or `GET /`; with
    the ticks stolen from the machine meanwhile (read outside the request's timing)."""
    before = stolen_ticks()
    if kind == "GET / (floor)":
        began = time.perf_counter()
        response = api.get("/")
        elapsed, body = time.perf_counter() - began, response.status_code == 200 or None
    else:
        elapsed, body = status_once(api, dataset_ids if kind == "dataset=<id>" else None)
    return elapsed, body, stolen_ticks() - before


def stolen_ticks() -> int:
    """Clock ticks the hypervisor has given this (virtual) machine's CPUs to others since
    boot (`steal` in /proc/stat); 0 where there is no such count."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return 0
    return int(fields[8]) if len(fields) > 8 else 0


def status_once(api: httpx.Client, dataset_ids: Sequence[str] | None) -> tuple[float, Any]:
    params = [("dataset", d) for d in dataset_ids] if dataset_ids else None
    began = time.perf_counter()
    response = api.get(STATUS, params=params)
    elapsed = time.perf_counter() - began
    return elapsed, response.json() if response.status_code == 200 else None


@dataclass(frozen=True)
class SamplerConfig:
    """What the sampling process needs of the benchmark's arguments (picklable)."""

    base_url: str
    timeout: float
    headers: dict[str, str]
    interval: float
    pause_gc: bool

    @classmethod
    def of(cls, args: argparse.Namespace, headers: httpx.Headers) -> SamplerConfig:
        return cls(
            args.base_url, args.timeout, dict(headers), args.sample_interval, not args.client_gc
        )


class Sampler:
    """Cycles through the ids query, the no-parameter query and `GET /`, pausing the sample
    interval after each, until stopped (or for `rounds` rounds: the idle samples), in a
    process of its own: the benchmark's thread that waits on or polls the run would
    otherwise share this client's interpreter lock with the samples it is meant to leave
    alone. The process warms its connection up before `start` returns."""

    def __init__(
        self,
        config: SamplerConfig,
        dataset_ids: Sequence[str],
        rounds: int | None = None,
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self.ready, self.stopping = context.Event(), context.Event()
        self.receiving, sending = context.Pipe(duplex=False)
        self.process = context.Process(
            target=sample_until,
            args=(config, list(dataset_ids), rounds, self.ready, self.stopping, sending),
            daemon=True,
        )

    def start(self) -> Sampler:
        self.process.start()
        if not self.ready.wait(60) or not self.process.is_alive():
            raise SystemExit("the status sampler did not start")
        return self

    def stop(self) -> Samples:
        self.stopping.set()
        return self.result()

    def result(self) -> Samples:
        """The samples, once the process has stopped or done its rounds."""
        samples: Samples = self.receiving.recv()
        self.process.join()
        return samples


def sample_until(
    config: SamplerConfig,
    dataset_ids: list[str],
    rounds: int | None,
    ready: Any,
    stopping: Any,
    results: Any,
) -> None:
    """The sampling process: its samples go back through `results` once it is stopped or
    has done its rounds (`perf_counter` is the system's monotonic clock, which the
    benchmark's process shares)."""
    samples = Samples()
    with httpx.Client(
        base_url=config.base_url, timeout=config.timeout, headers=config.headers
    ) as api:
        for _ in range(5):  # warm-up
            status_once(api, dataset_ids)
        ready.set()
        with collector_paused(config.pause_gc):
            done = 0
            while not stopping.is_set() and (rounds is None or done < rounds):
                for kind in KINDS:
                    try:
                        elapsed, body, stolen = probe(api, kind, dataset_ids)
                    except httpx.HTTPError:
                        samples.errors += 1
                        continue
                    if body is None:
                        samples.errors += 1
                    samples.add(kind, elapsed, stolen)
                    if config.interval:
                        stopping.wait(config.interval)
                done += 1
    results.send(samples)
    results.close()


@contextlib.contextmanager
def collector_paused(pause: bool) -> Iterator[None]:
    """The sampling process's garbage collector off while it measures, as `timeit` does: a
    full collection of the benchmark's client (27-29 ms, about once per benchmark) held
    whichever request was in flight, and was each time the slowest sample of its run.
    Garbage is collected first."""
    if not pause:
        yield
        return
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def sample_idle(config: SamplerConfig, dataset_ids: Sequence[str], rounds: int) -> Samples:
    """The same alternation as during runs, with nothing else going on."""
    return Sampler(config, dataset_ids, rounds).start().result()


# --- server CPU (only when the server's processes run on this machine) -----------------


class CpuMeter:
    """CPU seconds of the server's processes and, optionally, of a PostgreSQL postmaster
    with its backends (live ones read directly, exited ones through the postmaster's
    children times). CPU time, unlike wall time, hardly depends on other load."""

    def __init__(self, pids: Sequence[int], pg_pid: int | None) -> None:
        self.pids = list(pids)
        self.pg_pid = pg_pid

    def _pg(self) -> float:
        """The postmaster, its live backends and the ones it has reaped."""
        return sum(cpu_times(self.pg_pid)) if self.pg_pid is not None else 0.0

    def read(self) -> tuple[float, float, int]:
        """(CPU seconds of the server's processes with their descendants, of PostgreSQL;
        bytes the server's processes wrote to storage)."""
        app, written = 0.0, 0
        for pid in self.pids:
            with contextlib.suppress(OSError):
                app += sum(cpu_times(pid))
            written += written_bytes(pid)
        return app, self._pg(), written


# --- runs --------------------------------------------------------------------------------


@dataclass
class RunResult:
    phase: str
    items: int
    wall_s: float
    ok: bool
    run_ids: list[str]
    queue_s: float | None = None  # request -> claimed (server timestamps)
    engine_s: float | None = None  # claimed -> finished (server timestamps)
    counts: dict[str, int] | None = None
    samples: Samples | None = None
    cpu_s: float | None = None  # server processes' CPU during the run
    pg_cpu_s: float | None = None  # PostgreSQL's CPU during the run
    written: int | None = None  # bytes the server's processes wrote to storage in the run
    span: tuple[float, float] | None = None  # (request sent, run seen done), perf_counter

    @property
    def items_per_s(self) -> float:
        return self.items / self.wall_s if self.wall_s else float("nan")

    @property
    def ms_per_item(self) -> float:
        return self.wall_s / self.items * 1e3 if self.items else float("nan")


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def server_times(
    api: httpx.Client, run_ids: Sequence[str]
) -> tuple[float | None, float | None, dict[str, int] | None]:
    """(queue, engine, summed counts) from GET /api/v1/runs/{id}; Nones without it."""
    runs = []
    for run_id in run_ids:
        response = api.get(f"/api/v1/runs/{run_id}")
        if response.status_code != 200:
            return None, None, None
        runs.append(response.json())
    created = [_ts(r["created_at"]) for r in runs]
    started = [_ts(r["started_at"]) for r in runs]
    finished = [_ts(r["finished_at"]) for r in runs]
    if any(t is None for t in (*created, *started, *finished)):
        return None, None, None
    counts: dict[str, int] = {}
    for r in runs:
        for key, value in r["counts"].items():
            counts[key] = counts.get(key, 0) + value
    queue = max((s - c).total_seconds() for s, c in zip(started, created, strict=True))  # type: ignore[operator]
    engine = (max(finished) - min(started)).total_seconds()  # type: ignore[type-var,operator]
    return queue, engine, counts


def cognify(api: httpx.Client, dataset_ids: Sequence[str], background: bool) -> dict[str, Any]:
    body = {"datasetIds": list(dataset_ids), "runInBackground": background}
    return dict(check(api.post("/api/v1/cognify", json=body)).json())


def run_blocking(
    api: httpx.Client,
    args: argparse.Namespace,
    phase: str,
    dataset_id: str,
    items: int,
    sample: bool,
) -> RunResult:
    sampler = Sampler(args.sampling, [dataset_id]).start() if sample else None
    cpu_before = args.cpu.read() if args.cpu else None
    began = time.perf_counter()
    answer = cognify(api, [dataset_id], background=False)
    wall = time.perf_counter() - began
    cpu_after = args.cpu.read() if args.cpu else None
    samples = sampler.stop() if sampler else None
    info = answer[dataset_id]
    result = RunResult(
        phase,
        items,
        wall,
        info["status"] == "PipelineRunCompleted",
        [str(info["pipeline_run_id"])],
        samples=samples,
        span=(began, began + wall),
    )
    result.queue_s, result.engine_s, result.counts = server_times(api, result.run_ids)
    add_cpu(result, cpu_before, cpu_after)
    return result


def add_cpu(
    result: RunResult,
    before: tuple[float, float, int] | None,
    after: tuple[float, float, int] | None,
) -> None:
    if before is not None and after is not None:
        result.cpu_s = after[0] - before[0]
        result.pg_cpu_s = after[1] - before[1]
        result.written = after[2] - before[2]


def run_background(
    api: httpx.Client,
    args: argparse.Namespace,
    phase: str,
    dataset_ids: Sequence[str],
    items: int,
) -> RunResult:
    sampler = Sampler(args.sampling, dataset_ids).start()
    polls: list[float] = []
    cpu_before = args.cpu.read() if args.cpu else None
    began = time.perf_counter()
    answer = cognify(api, dataset_ids, background=True)
    accepted = time.perf_counter() - began
    deadline = began + args.timeout
    while True:
        elapsed, body = status_once(api, dataset_ids)
        polls.append(elapsed)
        states = [body.get(d) for d in dataset_ids] if body else []
        if states and all(s in (COMPLETED, ERRORED) for s in states):
            break
        if time.perf_counter() > deadline:
            raise SystemExit(f"{phase}: not finished after {args.timeout} s: {body}")
        time.sleep(args.poll_interval)
    wall = time.perf_counter() - began
    cpu_after = args.cpu.read() if args.cpu else None
    samples = sampler.stop()
    samples.by_kind["poll (main thread)"] = polls
    result = RunResult(
        phase,
        items,
        wall,
        all(s == COMPLETED for s in states),
        [str(answer[d]["pipeline_run_id"]) for d in dataset_ids],
        samples=samples,
        span=(began, began + wall),
    )
    result.queue_s, result.engine_s, result.counts = server_times(api, result.run_ids)
    add_cpu(result, cpu_before, cpu_after)
    print(f"  {phase}: background request answered in {accepted * 1e3:.1f} ms", flush=True)
    return result


# --- report ------------------------------------------------------------------------------


def describe(result: RunResult) -> str:
    line = (
        f"{result.phase:<18} items={result.items:<5} wall={result.wall_s:7.2f} s "
        f"{result.items_per_s:8.1f} items/s {result.ms_per_item:7.2f} ms/item"
    )
    if result.engine_s is not None and result.queue_s is not None:
        per_item = result.engine_s / result.items * 1e3 if result.items else float("nan")
        line += (
            f" | server: queue {result.queue_s * 1e3:7.1f} ms, engine {result.engine_s:6.2f} s "
            f"= {per_item:6.2f} ms/item"
        )
    if result.cpu_s is not None and result.items:
        line += f" | server CPU {result.cpu_s / result.items * 1e3:6.2f} ms/item"
        if result.pg_cpu_s:
            line += f" + PostgreSQL {result.pg_cpu_s / result.items * 1e3:5.2f} ms/item"
    if result.written is not None and result.items:
        line += f" | written {result.written / result.items / 1024:6.1f} KiB/item"
    if result.counts is not None:
        line += f" | counts {result.counts}"
    if not result.ok:
        line += "  ** NOT COMPLETED **"
    return line


def ratios(during: Dist, idle: Dist) -> str:
    def r(a: float, b: float) -> str:
        return f"{a / b:5.2f}x" if b else "  n/a"

    return (
        f"p50 {r(during.p50, idle.p50)}  p90 {r(during.p90, idle.p90)}  "
        f"p99 {r(during.p99, idle.p99)}  max {r(during.max, idle.max)}"
    )


def every_sampled_run(results: list[RunResult], kind: str) -> list[float]:
    """The samples of `kind` taken during any of the runs, together."""
    return [v for r in results if r.samples for v in r.samples.by_kind.get(kind, [])]


def report_status(idle_before: Samples, idle_after: Samples, results: list[RunResult]) -> None:
    header("GET /api/v1/datasets/status latency")
    for kind in KINDS:
        print(f"-- {kind}")
        base = Dist.of(idle_before.by_kind[kind])
        print(f"  {'idle before':<30} {base.ms()}")
        after = Dist.of(idle_after.by_kind[kind])
        print(f"  {'idle after':<30} {after.ms()}")
        for result in results:
            if result.samples is None or kind not in result.samples.by_kind:
                continue
            during = Dist.of(result.samples.by_kind[kind])
            print(f"  {'during ' + result.phase:<30} {during.ms()}")
            print(f"  {'  ratio during : idle before':<30} {ratios(during, base)}")
            over = sum(v > 2 * base.p99 for v in result.samples.by_kind[kind])
            print(f"  {'  over 2x idle p99 before':<30} {over} of {during.n}")
            kept, idle_kept = result.samples.unstolen.get(kind, []), idle_before.unstolen.get(kind)
            if len(kept) < during.n and kept and idle_kept:
                clean, clean_base = Dist.of(kept), Dist.of(idle_kept)
                print(
                    f"  {'  without stolen CPU':<30} p99 {clean.p99 * 1e3:.2f} ms : idle p99 "
                    f"{clean_base.p99 * 1e3:.2f} ms = {clean.p99 / clean_base.p99:.2f}x "
                    f"({len(kept)} of {during.n} samples, {len(idle_kept)} of {base.n} idle)"
                )
            print(f"  {'  ratio during : idle after':<30} {ratios(during, after)}")
        if sum(bool(r.samples and kind in r.samples.by_kind) for r in results) > 1:
            # One run's ~115 samples make its p99 their second-largest: two slow requests decide
            # it. Each of these samples too was taken while a run of --docs items was going.
            pooled = every_sampled_run(results, kind)
            during = Dist.of(pooled)
            over = sum(v > 2 * base.p99 for v in pooled)
            print(f"  {'during every sampled run':<30} {during.ms()}")
            print(f"  {'  ratio during : idle before':<30} {ratios(during, base)}")
            print(f"  {'  over 2x idle p99 before':<30} {over} of {during.n}")
    for result in results:
        if result.samples is not None:
            polls = result.samples.by_kind.get("poll (main thread)")
            if polls:
                print(f"-- polling during {result.phase}: {Dist.of(polls).ms()}")
            if result.samples.errors:
                print(f"-- {result.phase}: {result.samples.errors} sampler errors")
            if result.span is not None:
                print(f"-- slowest during {result.phase}, ms @ ms from its request:")
                print(f"   {result.samples.slowest(*result.span)}")


def dist_json(values: list[float]) -> dict[str, float]:
    return {k: v for k, v in asdict(Dist.of(values)).items()}


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--docs", type=int, default=1000, help="documents per run")
    parser.add_argument("--batch", type=int, default=100, help="files per add request")
    parser.add_argument("--words", type=int, default=60, help="words per document")
    parser.add_argument("--repeat", type=int, default=2, help="blocking runs without sampler")
    parser.add_argument(
        "--fanout", type=int, default=4, help="datasets in the fan-out run (0 skips it)"
    )
    parser.add_argument(
        "--sample-interval",
        type=float,
        default=0.01,
        help="pause of the status sampler between requests (0: back to back)",
    )
    parser.add_argument("--idle-samples", type=int, default=200, help="idle samples per query")
    parser.add_argument(
        "--client-gc",
        action="store_true",
        help="leave this client's garbage collector on while it samples (off by default)",
    )
    parser.add_argument("--poll-interval", type=float, default=0.05, help="background polling")
    parser.add_argument("--label", default="", help="shown in the summary")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="do not delete the datasets")
    parser.add_argument(
        "--server-pids",
        default="",
        help="comma-separated PIDs of the server's processes (API, workers) on this machine: "
        "report their CPU time per item",
    )
    parser.add_argument("--pg-pid", type=int, help="PostgreSQL postmaster PID, for its CPU")
    args = parser.parse_args()
    pids = [int(p) for p in args.server_pids.split(",") if p.strip()]
    args.cpu = CpuMeter(pids, args.pg_pid) if pids or args.pg_pid else None

    api = client(args)
    args.sampling = SamplerConfig.of(args, api.headers)
    tag = uuid.uuid4().hex[:6]
    n = args.docs
    made: list[str] = []

    def fresh(name: str, count: int) -> str:
        before = args.cpu.read() if args.cpu else None
        began = time.perf_counter()
        dataset_id, durations = add_documents(
            api, f"ovh_{tag}_{name}", count, args.batch, args.words
        )
        total = time.perf_counter() - began
        made.append(dataset_id)
        written = (
            f"; written {(args.cpu.read()[2] - before[2]) / count / 1024:.1f} KiB/doc"
            if args.cpu and before
            else ""
        )
        print(
            f"  added {count} docs to {name} in {total:.2f} s ({count / total:.0f} docs/s; "
            f"per request of {args.batch}: {Dist.of(durations).ms()}{written})",
            flush=True,
        )
        return dataset_id

    header(f"pipeline overhead {args.label} ({args.base_url}, {n} docs per run)")
    floor = [status_once(api, None)[0] for _ in range(3)]  # warm-up
    began = time.perf_counter()
    for _ in range(50):
        api.get("/")
    floor_ms = (time.perf_counter() - began) / 50 * 1e3
    print(f"  GET / mean {floor_ms:.2f} ms (HTTP floor)")
    del floor

    results: list[RunResult] = []
    first = fresh("blocking0", n)
    idle_before = sample_idle(args.sampling, [first], args.idle_samples)
    print(f"  idle status sampled: {Dist.of(idle_before.by_kind['dataset=<id>']).ms()}")

    for i in range(args.repeat):
        dataset_id = first if i == 0 else fresh(f"blocking{i}", n)
        results.append(run_blocking(api, args, "blocking", dataset_id, n, sample=False))
        print("  " + describe(results[-1]), flush=True)

    dataset_id = fresh("sampled", n)
    results.append(run_blocking(api, args, "blocking+sampled", dataset_id, n, sample=True))
    print("  " + describe(results[-1]), flush=True)

    dataset_id = fresh("background", n)
    results.append(run_background(api, args, "background", [dataset_id], n))
    print("  " + describe(results[-1]), flush=True)

    if args.fanout > 0:
        per = max(1, n // args.fanout)
        ids = [fresh(f"fanout{k}", per) for k in range(args.fanout)]
        results.append(run_background(api, args, f"fanout x{args.fanout}", ids, per * len(ids)))
        print("  " + describe(results[-1]), flush=True)

    results.append(run_blocking(api, args, "recognify", first, n, sample=False))
    print("  " + describe(results[-1]), flush=True)

    idle_after = sample_idle(args.sampling, [first], args.idle_samples)

    header(f"summary {args.label}")
    for result in results:
        print("  " + describe(result))
    engine = [r for r in results if r.phase.startswith("blocking")]
    per_item = Dist.of([r.ms_per_item for r in engine])
    print(
        f"  blocking runs, ms per item (wall / items): {per_item.plain('ms', '7.2f')}; "
        f"items/s at p50 {1e3 / per_item.p50:.1f}"
    )
    cpu = [r.cpu_s / r.items * 1e3 for r in engine if r.cpu_s is not None and not r.samples]
    if cpu:
        print(
            f"  blocking runs without sampler, server CPU: {Dist.of(cpu).plain('ms/item', '6.2f')}"
        )
    pg_cpu = [r.pg_cpu_s / r.items * 1e3 for r in engine if r.pg_cpu_s and not r.samples]
    if pg_cpu:
        pg_dist = Dist.of(pg_cpu).plain("ms/item", "6.2f")
        print(f"  blocking runs without sampler, PostgreSQL: {pg_dist}")
    report_status(idle_before, idle_after, results)

    if args.json:
        out = {
            "label": args.label,
            "base_url": args.base_url,
            "docs": n,
            "http_floor_ms": floor_ms,
            "runs": [
                {
                    "phase": r.phase,
                    "items": r.items,
                    "wall_s": r.wall_s,
                    "items_per_s": r.items_per_s,
                    "ms_per_item": r.ms_per_item,
                    "queue_s": r.queue_s,
                    "engine_s": r.engine_s,
                    "server_cpu_s": r.cpu_s,
                    "pg_cpu_s": r.pg_cpu_s,
                    "counts": r.counts,
                    "ok": r.ok,
                    "status": {k: dist_json(v) for k, v in r.samples.by_kind.items()}
                    if r.samples
                    else None,
                    "status_samples_s": r.samples.by_kind if r.samples else None,
                }
                for r in results
            ],
            "idle_before": {k: dist_json(v) for k, v in idle_before.by_kind.items()},
            "idle_before_samples_s": idle_before.by_kind,
            "idle_after": {k: dist_json(v) for k, v in idle_after.by_kind.items()},
            "status_during_every_sampled_run": {
                kind: dist_json(every_sampled_run(results, kind))
                for kind in KINDS
                if any(r.samples and kind in r.samples.by_kind for r in results)
            },
        }
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)

    if not args.keep:
        for dataset_id in made:
            api.delete(f"/api/v1/datasets/{dataset_id}")
    if not all(r.ok for r in results):
        raise SystemExit("some runs did not complete")


if __name__ == "__main__":
    main()
