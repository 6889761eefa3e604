"""GET /api/v1/datasets/status latency as the number of datasets grows.

For each N in --sizes the benchmark makes sure its user has N datasets, each with one
add_pipeline run (one tiny file added via POST /api/v1/add: status only lists datasets that
have runs), then times status queries:

* all N ids as repeated `dataset=` parameters, and no parameters at all;
* `pipeline=add_pipeline` (every dataset has a run: the answer has N keys), the default
  pipeline (cognify_pipeline: no runs here, so the answer is `{}` on a server that has
  not cognified), and both pipelines (nested answer);
* the ids query while a child process works alongside: adding tiny files one per request
  to one of the N datasets; adding --cognify-docs documents to a scratch dataset and
  running a blocking cognify of it, over and over (the query then names the scratch dataset
  too); streaming --upload-size files into another scratch dataset. Scratch datasets are
  deleted right after their scenario, so N stays exact.

Datasets are created cumulatively (1, then 99 more, then 900 more), so one user serves
every N, and deleted at the end (unless --keep). Prints latency distributions in
milliseconds, the server's CPU time per request (with --pid) and the p50 growth from the
smallest to the largest N.

    python bench/status_latency.py --base-url http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import multiprocessing
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import httpx
from _common import (
    Dist,
    Pattern,
    StreamedUpload,
    base_parser,
    check,
    client,
    cpu_seconds,
    header,
    human,
    parse_size,
    timed,
    upload_streamed,
)

STATUS = "/api/v1/datasets/status"
COMPLETED = "DATASET_PROCESSING_COMPLETED"


def add_tiny(api: httpx.Client, dataset_name: str) -> tuple[str, float]:
    """Add one tiny unique file to a new dataset; its id and the request's duration."""
    content = f"tiny document for {dataset_name} {uuid.uuid4()}\n".encode()
    start = time.perf_counter()
    response = api.post(
        "/api/v1/add",
        files=[("data", (f"{dataset_name}.txt", content, "text/plain"))],
        data={"datasetName": dataset_name},
    )
    elapsed = time.perf_counter() - start
    return str(check(response).json()["dataset_id"]), elapsed


def _load(
    base_url: str,
    auth: str,
    dataset_id: str,
    mode: str,
    size: int,
    stop: threading.Event,
    count: Any,
) -> None:
    """Child process: until told to stop, work on one dataset. Modes: "tiny" adds one tiny
    file per request; "upload" streams files of `size` bytes; "cognify" adds `size` text
    documents in one request, then runs a blocking cognify of the dataset."""
    with httpx.Client(base_url=base_url, timeout=600, headers={"Authorization": auth}) as api:
        while not stop.is_set():
            if mode == "cognify":
                files = [
                    ("data", (f"doc{i}.txt", text_document(), "text/plain")) for i in range(size)
                ]
                check(api.post("/api/v1/add", files=files, data={"datasetId": dataset_id}))
                body = {"dataset_ids": [dataset_id], "run_in_background": False}
                check(api.post("/api/v1/cognify", json=body))
            elif mode == "upload":
                upload = StreamedUpload(
                    file_name="large.txt",
                    size=size,
                    chunks=Pattern(size).chunks,
                    fields={"datasetId": dataset_id},
                )
                upload_streamed(api, upload)
            else:
                content = f"load {uuid.uuid4()}\n".encode()
                check(
                    api.post(
                        "/api/v1/add",
                        files=[("data", ("load.txt", content, "text/plain"))],
                        data={"datasetId": dataset_id},
                    )
                )
            with count.get_lock():
                count.value += 1


def text_document(words: int = 800) -> bytes:
    """A unique plain-text document of about `words` words, in paragraphs."""
    tag = uuid.uuid4().hex
    vocabulary = [
        "graph",
        "memory",
        "dataset",
        "pipeline",
        "status",
        "chunk",
        "entity",
        "relation",
        "search",
    ]
    out = []
    for i in range(words):
        out.append(vocabulary[(i * 7 + len(tag)) % len(vocabulary)])
        if i % 60 == 59:
            out.append(f"{tag}.\n\n")
    return " ".join(out).encode()


def under_load(
    args: argparse.Namespace,
    auth: str,
    dataset_id: str,
    mode: str,
    size: int,
    measure: Callable[[], list[float]],
) -> tuple[Dist, str]:
    """Latencies measured while a child process adds data; and how much it added."""
    ctx = multiprocessing.get_context("fork")
    stop = ctx.Event()
    count = ctx.Value("i", 0)
    loader = ctx.Process(
        target=_load, args=(args.base_url, auth, dataset_id, mode, size, stop, count)
    )
    loader.start()
    try:
        time.sleep(0.5)  # let the first request get going
        before = count.value
        start = time.perf_counter()
        dist = Dist.of(measure())
        done, seconds = count.value - before, time.perf_counter() - start
    finally:
        stop.set()
        loader.join(600)
    what = {
        "tiny": "tiny adds",
        "upload": f"{human(size)} uploads",
        "cognify": f"add {size} docs + cognify cycles",
    }[mode]
    return dist, f"{done} {what} completed alongside in {seconds:.1f} s"


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,100,1000", help="numbers of datasets, ascending")
    parser.add_argument("--repeat", type=int, default=200, help="timed requests per scenario")
    parser.add_argument("--workers", type=int, default=4, help="parallel adds while seeding")
    parser.add_argument(
        "--no-load", action="store_true", help="skip the scenarios with concurrent adds"
    )
    parser.add_argument(
        "--upload-size",
        default="256M",
        help="size of the large files uploaded in the last scenario (0: skip it)",
    )
    parser.add_argument(
        "--cognify-docs",
        type=int,
        default=20,
        help="documents added before each cognify in the cognify scenario (0: skip it)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the datasets (default: delete them at the end)"
    )
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    upload_size = parse_size(args.upload_size)
    api = client(args)
    run = uuid.uuid4().hex[:8]

    header(f"status latency against {args.base_url} (repeat={args.repeat})")
    floor = Dist.of(timed(lambda: check(api.get("/")), args.repeat))
    print(f"HTTP floor, GET / (no auth, no store)            {floor.ms()}", flush=True)

    dataset_ids: list[str] = []
    add_latencies: list[float] = []
    summary: dict[str, dict[int, Dist]] = {}
    for n in sizes:
        missing = n - len(dataset_ids)
        if missing > 0:
            names = [f"bench_status_{run}_{i}" for i in range(len(dataset_ids), n)]
            start = time.perf_counter()
            with ThreadPoolExecutor(args.workers) as pool:
                for dataset_id, elapsed in pool.map(lambda name: add_tiny(api, name), names):
                    dataset_ids.append(dataset_id)
                    add_latencies.append(elapsed)
            print(
                f"\nseeded {missing} datasets (one add each, {args.workers} in parallel) in "
                f"{time.perf_counter() - start:.1f} s",
                flush=True,
            )
        ids = [("dataset", d) for d in dataset_ids]
        add_only = [("pipeline", "add_pipeline")]
        both = [("pipeline", "add_pipeline"), ("pipeline", "cognify_pipeline")]

        class Query:
            """A status request built once: what is timed is the request and its answer,
            not the client encoding a 40 KB URL (~3 ms for 1,000 ids) nor decoding the
            JSON. The answer is checked on the warm-up calls (it does not change)."""

            def __init__(
                self, params: list[tuple[str, str]], expect: Callable[[dict[str, object]], bool]
            ) -> None:
                self.built = api.build_request("GET", STATUS, params=tuple(params))
                self.expect = expect

            def __call__(self) -> None:
                check(api.send(self.built))

            def checked(self) -> None:
                body = check(api.send(self.built)).json()
                if not self.expect(body):
                    raise SystemExit(f"unexpected status answer: {str(body)[:300]}")

        def all_completed(body: dict[str, object], n: int = n) -> bool:
            return len(body) == n and all(v == COMPLETED for v in body.values())

        def nested(body: dict[str, object], n: int = n) -> bool:
            return len(body) == n and all(
                isinstance(v, dict) and v.get("add_pipeline") == COMPLETED for v in body.values()
            )

        def anything(body: dict[str, object]) -> bool:
            return isinstance(body, dict)

        scenarios: list[tuple[str, list[tuple[str, str]], Callable[[dict[str, object]], bool]]] = [
            ("ids, pipeline=add_pipeline", ids + add_only, all_completed),
            ("ids, default pipeline", ids, anything),
            ("ids, both pipelines", ids + both, nested),
            ("no params, pipeline=add_pipeline", add_only, all_completed),
            ("no params, default pipeline", [], anything),
        ]
        header(f"N = {n} datasets")
        for label, params, expect in scenarios:
            request = Query(params, expect)
            for _ in range(3):
                request.checked()  # warm-up, outside the CPU accounting
            cpu_before = cpu_seconds(args.pid)
            dist = Dist.of(timed(request, args.repeat, warmup=0))
            cpu = (cpu_seconds(args.pid) - cpu_before) / args.repeat
            summary.setdefault(label, {})[n] = dist
            cpu_note = f"  server CPU {cpu * 1e3:5.2f} ms/request" if args.pid else ""
            print(f"{label:<48} {dist.ms()}{cpu_note}", flush=True)

        if not args.no_load:
            auth = api.headers["Authorization"]
            label = "ids, add_pipeline, during tiny adds"
            dist, rate = under_load(
                args,
                auth,
                dataset_ids[0],
                "tiny",
                0,
                partial(timed, Query(ids + add_only, all_completed), args.repeat),
            )
            summary.setdefault(label, {})[n] = dist
            print(f"{label:<48} {dist.ms()}  ({rate})", flush=True)
            if args.cognify_docs:
                # A scratch dataset of its own, deleted afterwards, so N stays exact.
                scratch, _ = add_tiny(api, f"bench_status_cog_{run}_{n}")
                label = "ids+1, both pipelines, during cognify"
                dist, rate = under_load(
                    args,
                    auth,
                    scratch,
                    "cognify",
                    args.cognify_docs,
                    partial(
                        timed, Query([*ids, ("dataset", scratch), *both], anything), args.repeat
                    ),
                )
                check(api.delete(f"/api/v1/datasets/{scratch}"))
                summary.setdefault(label, {})[n] = dist
                print(f"{label:<48} {dist.ms()}  ({rate})", flush=True)
            if upload_size:
                scratch, _ = add_tiny(api, f"bench_status_up_{run}_{n}")
                label = f"ids, add_pipeline, during {human(upload_size)} uploads"
                dist, rate = under_load(
                    args,
                    auth,
                    scratch,
                    "upload",
                    upload_size,
                    partial(timed, Query(ids + add_only, all_completed), args.repeat),
                )
                check(api.delete(f"/api/v1/datasets/{scratch}"))
                summary.setdefault(label, {})[n] = dist
                print(f"{label:<48} {dist.ms()}  ({rate})", flush=True)

    if add_latencies:
        header("seeding adds (one tiny file into a new dataset, parallel)")
        print(f"{'POST /api/v1/add, 1 tiny file':<48} {Dist.of(add_latencies).ms()}")

    if not args.keep:
        start = time.perf_counter()
        with ThreadPoolExecutor(args.workers) as pool:
            list(pool.map(lambda d: check(api.delete(f"/api/v1/datasets/{d}")), dataset_ids))
        print(f"\ndeleted the {len(dataset_ids)} datasets in {time.perf_counter() - start:.1f} s")

    header("summary: p50 / p99 in ms by N, and growth from smallest to largest N")
    print(f"{'scenario':<48} " + " ".join(f"{'N=' + str(n):>17}" for n in sizes) + "  p50 ratio")
    for label, by_n in summary.items():
        cells = " ".join(f"{by_n[n].p50 * 1e3:7.2f} / {by_n[n].p99 * 1e3:7.2f}" for n in sizes)
        growth = by_n[sizes[-1]].p50 / by_n[sizes[0]].p50
        print(f"{label:<48} {cells}  x{growth:.2f}")


if __name__ == "__main__":
    main()
