"""Time to searchable: add a fixed corpus, cognify it (blocking), wait for COMPLETED.

Workload: N deterministic English documents (default 200, 300-600 words each, seeded),
generated prose about people, organisations and places (a cast of a few of each per
document, drawn from shared pools, so entities recur within and across documents). They
go into one fresh dataset through POST /api/v1/add, --batch files per request; then one
POST /api/v1/cognify with `runInBackground: false`; then GET /api/v1/datasets/status is
polled until the dataset reads DATASET_PROCESSING_COMPLETED.

Reported:

* time to add (and the per-request / per-file distribution), time to cognify (the blocking
  request), and time to searchable = from the first add to COMPLETED in status;
* per document and per chunk: the cognify wall clock divided by documents (chunks), next
  to the SPEC's cognee reference (about 0.5 s of pipeline overhead per small document,
  measured with an instant fake LLM and fake embeddings);
* from graphmill's run extension (GET /api/v1/runs/{id}): queue time, engine time, counts,
  LLM calls and tokens; from GET /api/v1/datasets/graph-summary: nodes and edges;
* from the event stream (GET /api/v1/datasets/{id}/events): each document's time from
  `processing` to `completed` and the gaps between completions;
* chunks: the run's counts do not carry them, so with --sqlite-db (the server's SQLite file,
  opened read-only on this machine) the chunks and their tokens per document are counted
  there; without it, figures are per document only;
* with --pid: the server's CPU seconds and its resident memory per phase (VmRSS sampled in
  a thread, and VmHWM, the kernel's peak since the process started).

    python bench/time_to_searchable.py --base-url http://127.0.0.1:8000 --docs 200 \\
        --pid "$(pgrep -f 'graphmill serve')" --sqlite-db .graphmill/graphmill.db
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from _common import Dist, base_parser, check, client, cpu_times, header, status_kb

COGNEE_OVERHEAD_PER_DOC = 0.5  # s; SPEC.md section 6, cognee 1.6.5, instant fake LLM/embeddings
TERMINAL = {"completed", "completed_with_errors", "failed", "cancelled"}

# --- the corpus -------------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST = _words(
    "Alice Bruno Chiara Daniel Elena Farid Grace Hiroshi Ingrid Jonas Kavya Lars Maria "
    "Nikolai Olivia Pedro Quentin Rosa Samuel Tamara Umar Vera Wei Xavier Yusuf Zofia "
    "Amara Boris Carmen Dmitri Esther Felix Greta Hugo Irene Jakob Leila Marco Nadia "
    "Oscar"
)
LAST = _words(
    "Andersen Becker Castillo Dubois Eriksen Fischer Garcia Hoffmann Ivanova Jensen "
    "Kowalski Larsen Moreau Nakamura Okafor Petrov Quinn Rossi Schmidt Tanaka Usman Varga "
    "Weber Yamamoto Zimmermann Lindqvist Mendes Novak Ortega Pellegrini"
)
ORG_HEAD = _words(
    "Northwind Bluefin Harbor Atlas Meridian Copperleaf Silverline Granite Helios Orchid "
    "Redwood Starling Ironbridge Lumen Cobalt Kestrel Summit Tidewater Evergreen Falcon"
)
ORG_TAIL = _words("Logistics Analytics Bank Robotics Health Energy Foods Systems Pharma Textiles")
PLACES = _words(
    "Lisbon Oslo Nairobi Montreal Osaka Krakow Valencia Tallinn Rotterdam Porto Seattle "
    "Melbourne Lyon Bergen Gdansk Zurich Dublin Austin Accra Hanoi Bilbao Tampere Leipzig "
    "Cordoba Halifax Adelaide Turin Ghent Malmo Brno"
)
ROLES = (
    "chief engineer",
    "head of research",
    "product lead",
    "finance director",
    "operations manager",
    "data scientist",
    "board member",
    "legal counsel",
)
TOPICS = (
    "cold storage",
    "battery recycling",
    "route planning",
    "clinical trials",
    "solar forecasting",
    "fraud detection",
    "warehouse automation",
    "water treatment",
    "textile dyeing",
    "crop insurance",
    "port scheduling",
    "payment systems",
)
MONTHS = _words(
    "January February March April May June July August September October November December"
)
ENTITY_SENTENCES = (
    "{p} founded {o} in {c} in {y}.",
    "{p} joined {o} as {r} after several years in {c}.",
    "{o} is headquartered in {c}, close to the old harbour.",
    "In {m} {y}, {o} acquired {o2} for an undisclosed sum.",
    "{p} met {p2} at a conference in {c} to discuss {t}.",
    "{p2} later moved to {c} to lead the {t} team at {o}.",
    "{o} and {o2} signed a partnership on {t} in {m}.",
    "According to {p}, the office in {c} doubled its staff within a year.",
    "{p} works for {o} and reports to {p2}.",
    "{o2} opened a laboratory in {c} that focuses on {t}.",
    "The board of {o} appointed {p} as {r} in {y}.",
    "{p} and {p2} wrote the first proposal for {t} together.",
    "Engineers from {o} visited {c} to study how {o2} handles {t}.",
    "{p} left {o2} in {y} and returned to {c}.",
)
FILLER_SENTENCES = (
    "The project focused on {t} and took longer than planned.",
    "Most of the staff worked remotely during the first winter.",
    "Customers asked for clearer reports and faster delivery.",
    "The budget was revised twice before the pilot started.",
    "A small team tested the prototype over several months.",
    "Early results were mixed, but the second trial went better.",
    "The new process cut waiting times by nearly a third.",
    "Several suppliers were replaced after a review of their prices.",
    "The team published a short note on {t} for its partners.",
    "Nobody expected the demand for {t} to grow so quickly.",
    "Training the new staff took most of the spring.",
    "The plan was simple: fewer steps, better data and regular checks.",
)


def document(seed: int, index: int, min_words: int, max_words: int) -> str:
    """One document, the same for the same (seed, index) whatever the corpus size."""
    rng = random.Random(f"{seed}:{index}")
    people = [f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(rng.randint(3, 6))]
    orgs = [f"{rng.choice(ORG_HEAD)} {rng.choice(ORG_TAIL)}" for _ in range(rng.randint(2, 4))]
    places = rng.sample(PLACES, rng.randint(2, 3))
    target = rng.randint(min_words, max_words)

    def fill(template: str) -> str:
        p, p2 = rng.sample(people, 2)
        o, o2 = rng.sample(orgs, 2) if len(set(orgs)) > 1 else (orgs[0], orgs[0])
        return template.format(
            p=p,
            p2=p2,
            o=o,
            o2=o2,
            c=rng.choice(places),
            r=rng.choice(ROLES),
            t=rng.choice(TOPICS),
            y=rng.randint(1990, 2024),
            m=rng.choice(MONTHS),
        )

    title = f"Report {index}: {orgs[0]} in {places[0]}"
    paragraphs: list[str] = []
    words = len(title.split())
    while words < target:
        sentences = []
        for _ in range(rng.randint(4, 7)):
            pool = ENTITY_SENTENCES if rng.random() < 0.6 else FILLER_SENTENCES
            sentences.append(fill(rng.choice(pool)))
        paragraph = " ".join(sentences)
        paragraphs.append(paragraph)
        words += len(paragraph.split())
    return title + "\n\n" + "\n\n".join(paragraphs) + "\n"


def corpus(count: int, seed: int, min_words: int, max_words: int) -> list[tuple[str, bytes]]:
    return [
        (f"report_{i:04d}.txt", document(seed, i, min_words, max_words).encode())
        for i in range(count)
    ]


# --- the server's memory and CPU --------------------------------------------------------


@dataclass
class Phase:
    name: str
    cpu_start: float = 0.0
    cpu: float = 0.0
    system_start: float = 0.0
    system: float = 0.0  # of `cpu`, the kernel's (system calls: sockets, files)
    rss_kb: list[int] = field(default_factory=list)


class ServerProbe:
    """Samples the server's VmRSS every `interval` seconds in a thread, per phase."""

    def __init__(self, pid: int | None, interval: float) -> None:
        self.pid = pid
        self.interval = interval
        self.phases: list[Phase] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> ServerProbe:
        if self.pid is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.phase(None)
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def phase(self, name: str | None) -> None:
        user, system = cpu_times(self.pid)
        now = user + system
        if self.phases:
            self.phases[-1].cpu = now - self.phases[-1].cpu_start
            self.phases[-1].system = system - self.phases[-1].system_start
        if name is not None:
            self.phases.append(Phase(name, cpu_start=now, system_start=system))

    def _sample(self) -> None:
        assert self.pid is not None
        while not self._stop.is_set():
            try:
                rss = status_kb(self.pid, "VmRSS")
            except OSError:
                return
            if self.phases:
                self.phases[-1].rss_kb.append(rss)
            self._stop.wait(self.interval)

    def hwm_mb(self) -> float:
        return status_kb(self.pid, "VmHWM") / 1024 if self.pid is not None else 0.0


# --- the server's own record of the run -------------------------------------------------


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def item_events(
    api: httpx.Client, dataset_id: str, run_id: str, timeout: float
) -> list[dict[str, Any]]:
    """The cognify run's item and run events, read from the start of the dataset's log."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    with api.stream("GET", f"/api/v1/datasets/{dataset_id}/events", params={"after": 0}) as r:
        check(r)
        for line in r.iter_lines():
            if time.monotonic() > deadline:
                break
            if not line.startswith("data:"):
                continue
            event = json.loads(line[5:])
            if event.get("run_id") != run_id:
                continue
            events.append(event)
            if event.get("kind") == "run" and event.get("state") in TERMINAL:
                break
    return events


def chunk_counts(db_path: str, dataset_id: str) -> tuple[list[int], list[int]]:
    """(chunks per document, tokens per chunk) of the dataset, from the server's SQLite."""
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        hex_id = uuid.UUID(dataset_id).hex
        per_doc = connection.execute(
            "SELECT count(*) FROM chunks WHERE replace(dataset_id, '-', '') = ? GROUP BY data_id",
            (hex_id,),
        ).fetchall()
        tokens = connection.execute(
            "SELECT token_count FROM chunks WHERE replace(dataset_id, '-', '') = ?", (hex_id,)
        ).fetchall()
    finally:
        connection.close()
    return [n for (n,) in per_doc], [n for (n,) in tokens]


# --- the workload -----------------------------------------------------------------------


def main() -> None:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=200, help="documents in the corpus")
    parser.add_argument("--batch", type=int, default=50, help="files per add request")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated corpus")
    parser.add_argument("--min-words", type=int, default=300)
    parser.add_argument("--max-words", type=int, default=600)
    parser.add_argument("--poll-interval", type=float, default=0.1, help="status polling (s)")
    parser.add_argument("--interval", type=float, default=0.05, help="RSS sampling (s)")
    parser.add_argument("--sqlite-db", help="server's SQLite file: count chunks there")
    parser.add_argument("--label", default="", help="name of this set-up in the output")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the dataset afterwards")
    args = parser.parse_args()
    run(args)


def run(args: argparse.Namespace) -> None:
    api = client(args)
    files = corpus(args.docs, args.seed, args.min_words, args.max_words)
    words = [len(content.split()) for _, content in files]
    name = f"tts_{uuid.uuid4().hex[:10]}"
    out: dict[str, Any] = {"label": args.label, "docs": args.docs, "batch": args.batch}

    header(f"time to searchable {args.label}".strip())
    print(f"corpus: {args.docs} documents, seed {args.seed}, dataset {name}")
    print(f"words per document:  {Dist.of(words).plain('words', '8.0f')}")
    print(f"bytes in total:      {sum(len(c) for _, c in files)}")
    out["words"] = Dist.of(words).__dict__

    with ServerProbe(args.pid, args.interval) as probe:
        probe.phase("idle")
        time.sleep(0.5)

        probe.phase("add")
        batch_times: list[float] = []
        per_file: list[float] = []
        dataset_id = ""
        start = time.perf_counter()
        for first in range(0, len(files), args.batch):
            part = files[first : first + args.batch]
            t0 = time.perf_counter()
            response = check(
                api.post(
                    "/api/v1/add",
                    files=[("data", (n, c, "text/plain")) for n, c in part],
                    data={"datasetName": name},
                )
            )
            batch_times.append(time.perf_counter() - t0)
            per_file.append(batch_times[-1] / len(part))
            dataset_id = str(response.json()["dataset_id"])
        add_seconds = time.perf_counter() - start

        probe.phase("cognify")
        t0 = time.perf_counter()
        response = check(
            api.post(
                "/api/v1/cognify",
                json={"datasetIds": [dataset_id], "runInBackground": False},
                timeout=max(args.timeout, 7200.0),
            )
        )
        cognify_seconds = time.perf_counter() - t0
        info = response.json().get(dataset_id, {})

        t1 = time.perf_counter()
        status = ""
        while status != "DATASET_PROCESSING_COMPLETED" and time.perf_counter() - t1 < args.timeout:
            status = (
                check(api.get("/api/v1/datasets/status", params={"dataset": dataset_id}))
                .json()
                .get(dataset_id, "")
            )
            if status == "DATASET_PROCESSING_ERRORED":
                break
            if status != "DATASET_PROCESSING_COMPLETED":
                time.sleep(args.poll_interval)
        status_seconds = time.perf_counter() - t1
        searchable = time.perf_counter() - start
        probe.phase("after")
        time.sleep(0.5)
    hwm = probe.hwm_mb()

    header("wall clock")
    print(f"add ({len(batch_times)} requests of <= {args.batch} files): {add_seconds:8.2f} s")
    print(f"  per request:  {Dist.of(batch_times).ms()}")
    print(f"  per file:     {Dist.of(per_file).ms()}")
    print(f"  files/s:      {args.docs / add_seconds:8.1f}")
    print(f"cognify (blocking POST):        {cognify_seconds:8.2f} s -> {info.get('status')}")
    print(f"status COMPLETED after cognify: {status_seconds * 1e3:8.1f} ms ({status})")
    print(f"time to searchable:             {searchable:8.2f} s")
    out |= {
        "add_s": add_seconds,
        "add_per_request_s": Dist.of(batch_times).__dict__,
        "cognify_s": cognify_seconds,
        "cognify_status": info.get("status"),
        "status_after_s": status_seconds,
        "final_status": status,
        "time_to_searchable_s": searchable,
    }

    # The server's own record (graphmill's extensions; absent elsewhere): the run, its events.
    run_info: dict[str, Any] = {}
    runs = api.get(f"/api/v1/datasets/{dataset_id}/runs")
    if runs.status_code == 200:
        cognify_runs = [r for r in runs.json() if r["pipeline_name"] == "cognify_pipeline"]
        if cognify_runs:
            run_info = check(api.get(f"/api/v1/runs/{cognify_runs[0]['run_id']}")).json()
    created, started, finished = (
        parse_time(run_info.get(k)) for k in ("created_at", "started_at", "finished_at")
    )
    queue = (started - created).total_seconds() if started and created else float("nan")
    engine = (finished - started).total_seconds() if finished and started else float("nan")
    summary = api.get("/api/v1/datasets/graph-summary", params={"dataset_ids": dataset_id})
    listed = summary.json() if summary.status_code == 200 else []
    graph: dict[str, Any] = next((g for g in listed if g.get("datasetId") == dataset_id), {})
    events = item_events(api, dataset_id, run_info["run_id"], 60.0) if run_info else []
    began: dict[str, datetime] = {}
    done: dict[str, datetime] = {}
    for event in events:
        if event.get("kind") != "item" or not event.get("data_id"):
            continue
        at = parse_time(event["at"])
        assert at is not None
        if event["state"] == "processing":
            began.setdefault(event["data_id"], at)
        elif event["state"] in ("completed", "failed"):
            done[event["data_id"]] = at
    in_order = sorted((at, d) for d, at in done.items() if d in began)
    latencies = [(at - began[d]).total_seconds() for at, d in in_order]
    quarter = max(1, len(latencies) // 4)
    ends = sorted(done.values())
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(ends)]

    chunks: list[int] = []
    chunk_tokens: list[int] = []
    if "chunks" in run_info.get("counts", {}):
        chunks = [int(run_info["counts"]["chunks"])]
    elif args.sqlite_db:
        chunks, chunk_tokens = chunk_counts(args.sqlite_db, dataset_id)
    total_chunks = sum(chunks)

    header("the run (GET /api/v1/runs/{id})")
    if run_info:
        print(f"state {run_info['state']}, counts {run_info['counts']}")
        print(f"queue (created -> started):  {queue * 1e3:8.1f} ms")
        print(f"engine (started -> finished): {engine:8.2f} s")
        print(f"llm_calls {run_info['llm_calls']}, tokens {run_info['tokens']}")
    else:
        print("not available (no graphmill run extension)")
    print(f"graph: {graph.get('numNodes')} nodes, {graph.get('numEdges')} edges")
    if latencies:
        print(f"per document, processing -> completed (events): {Dist.of(latencies).ms()}")
    if gaps:
        print(f"gap between completions:                        {Dist.of(gaps).ms()}")
    if len(latencies) >= 8:
        # Growth over the run shows work that grows with what the dataset already holds.
        early, late = Dist.of(latencies[:quarter]), Dist.of(latencies[-quarter:])
        print(f"  first quarter to complete: {early.ms()}")
        print(f"  last quarter to complete:  {late.ms()}")
        first_gaps, last_gaps = Dist.of(gaps[:quarter]), Dist.of(gaps[-quarter:])
        print(f"  gaps, first quarter:       {first_gaps.ms()}")
        print(f"  gaps, last quarter:        {last_gaps.ms()}")
        out["trend"] = {
            "latency_first_quarter_s": early.__dict__,
            "latency_last_quarter_s": late.__dict__,
            "gap_first_quarter_s": first_gaps.__dict__,
            "gap_last_quarter_s": last_gaps.__dict__,
        }
    if chunks:
        print(f"chunks: {total_chunks} ({total_chunks / args.docs:.2f} per document)")
        if len(chunks) > 1:
            print(f"  per document: {Dist.of(chunks).plain('chunks', '6.0f')}")
        if chunk_tokens:
            print(f"  tokens per chunk: {Dist.of(chunk_tokens).plain('tokens', '6.0f')}")
    else:
        print("chunks: not exposed (no --sqlite-db); figures are per document only")
    out |= {
        "run": run_info,
        "queue_s": queue,
        "engine_s": engine,
        "nodes": graph.get("numNodes"),
        "edges": graph.get("numEdges"),
        "doc_latency_s": Dist.of(latencies).__dict__ if latencies else None,
        "completion_gap_s": Dist.of(gaps).__dict__ if gaps else None,
        "chunks": total_chunks or None,
        "chunks_per_doc": Dist.of(chunks).__dict__ if len(chunks) > 1 else None,
        "tokens_per_chunk": Dist.of(chunk_tokens).__dict__ if chunk_tokens else None,
    }

    header("per document / per chunk")
    per_doc = cognify_seconds / args.docs
    print(f"cognify wall per document:   {per_doc * 1e3:8.1f} ms")
    print(f"engine per document:         {engine / args.docs * 1e3:8.1f} ms")
    print(f"time to searchable per doc:  {searchable / args.docs * 1e3:8.1f} ms")
    if total_chunks:
        print(f"cognify wall per chunk:      {cognify_seconds / total_chunks * 1e3:8.1f} ms")
        print(f"chunks/s:                    {total_chunks / cognify_seconds:8.1f}")
    print(
        f"vs cognee's ~{COGNEE_OVERHEAD_PER_DOC:.1f} s pipeline overhead per small document: "
        f"{COGNEE_OVERHEAD_PER_DOC / per_doc:6.1f}x less time per document (comparable only "
        "with an instant LLM and instant embeddings; target >= 20x)"
    )
    out |= {
        "cognify_per_doc_s": per_doc,
        "engine_per_doc_s": engine / args.docs,
        "searchable_per_doc_s": searchable / args.docs,
        "cognify_per_chunk_s": cognify_seconds / total_chunks if total_chunks else None,
        "ratio_vs_cognee": COGNEE_OVERHEAD_PER_DOC / per_doc,
    }

    if args.pid is not None:
        header(f"server PID {args.pid}")
        for phase in probe.phases:
            rss = [kb / 1024 for kb in phase.rss_kb] or [0.0]
            print(
                f"{phase.name:8} CPU {phase.cpu:8.2f} s   RSS start {rss[0]:7.1f} "
                f"peak {max(rss):7.1f} end {rss[-1]:7.1f} MB"
            )
        phases = {p.name: p for p in probe.phases}
        cpu = phases["cognify"].cpu
        print(f"VmHWM (peak since start): {hwm:7.1f} MB")
        print(f"server CPU per document in cognify: {cpu / args.docs * 1e3:8.1f} ms")
        system = phases["cognify"].system
        print(f"  of which system (kernel) time:    {system / args.docs * 1e3:8.1f} ms")
        if total_chunks:
            print(f"server CPU per chunk in cognify:    {cpu / total_chunks * 1e3:8.1f} ms")
        out["server"] = {
            "vmhwm_mb": hwm,
            "phases": {
                p.name: {
                    "cpu_s": p.cpu,
                    "rss_start_mb": p.rss_kb[0] / 1024 if p.rss_kb else None,
                    "rss_peak_mb": max(p.rss_kb) / 1024 if p.rss_kb else None,
                    "rss_end_mb": p.rss_kb[-1] / 1024 if p.rss_kb else None,
                }
                for p in probe.phases
            },
        }

    if not args.keep:
        check(api.delete(f"/api/v1/datasets/{dataset_id}"))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
