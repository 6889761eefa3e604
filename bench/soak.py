"""Load and soak: many clients adding, cognifying, polling, searching and downloading at once.

N concurrent clients, each its own user with its own dataset, run a weighted mix against one
server for a set time:

* `add`: `POST /api/v1/add` of a small unique text document (a marker word only this
  document holds, a few names for the graph);
* `cognify`: `POST /api/v1/cognify` of the client's dataset in the background (joins a running
  run, as clients do);
* `status`: `GET /api/v1/datasets/status?dataset=<id>`;
* `search`: `POST /api/v1/search` with one of `CHUNKS`, `CHUNKS_LEXICAL`, `GRAPH_COMPLETION`,
  `HYBRID_COMPLETION` (the last two with `onlyContext`: no LLM is paid for), without a dataset
  scope, so every answer must come from the client's own dataset only;
* `raw`: `GET .../data/{id}/raw` of one of the client's documents, checked byte for byte.

Every answer is checked. Errors are counted by class and must be zero: transport errors,
5xx, any 4xx (every request of the mix is valid), wrong bytes from `/raw`, and a search
envelope naming a dataset that is not the client's own (`leak`). After the timed phase, each
client cognifies its dataset to the end (blocking) and proves nothing was lost: the dataset
lists exactly the documents whose add was answered 200, and a lexical search for the marker
of its last document finds it.

With `--pid` (the server's process on this machine) it samples the server's resident memory
(VmRSS, with `--include-children` summed over its child processes) every second and says
whether it levels off: the growth over the second half of the run must stay below
max(10 % of the RSS at half time, 32 MiB). Latencies and memory are measured after
`--warmup` seconds of the same load (caches, allocator arenas and the search index fill up
first); errors count from the first request.

Prints throughput and p50/p95/p99 per route, errors by class, and RSS over time; `--json F`
writes the same as JSON. Exits 1 if any error was counted or the check at the end failed.

    python bench/soak.py --base-url http://127.0.0.1:8000 --clients 16 --duration 600 \\
        --pid "$(pgrep -f 'graphmill serve')"
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _common import MIB, Dist, base_parser, header, percentile

WEIGHTS = {"add": 20, "cognify": 8, "status": 25, "search": 32, "raw": 15}
SEARCH_TYPES = ("CHUNKS", "CHUNKS_LEXICAL", "GRAPH_COMPLETION", "HYBRID_COMPLETION")
NAMES = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov"]
PLACES = ["London", "Manchester", "Arlington", "Rotterdam", "Boston"]
WORDS = ["memory", "graph", "vector", "engine", "document", "question", "answer", "river"]
WORDS += ["bridge", "garden", "lamp", "window", "harbour", "ledger", "archive", "letter"]


class SoakError(Exception):
    """An answer the soak counts as an error, with its class."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def error(self, route: str, kind: str, detail: str) -> None:
        key = f"{route}:{kind}"
        self.errors[key] += 1
        self.examples.setdefault(key, detail[:300])


@dataclass
class Document:
    data_id: str
    sha256: str
    marker: str


class Client:
    """One user with one dataset, running the mix."""

    def __init__(self, index: int, args: Any, stats: Stats) -> None:
        self.index = index
        self.args = args
        self.stats = stats
        self.random = random.Random(args.seed * 1000 + index)
        self.http = httpx.AsyncClient(base_url=args.base_url, timeout=args.timeout)
        self.dataset_name = f"soak_{uuid.uuid4().hex[:8]}_{index}"
        self.dataset_id: str | None = None
        self.documents: list[Document] = []
        self.added = 0
        self.cognified = False  # status lists the dataset once a cognify was asked for
        self.measured_from = 0.0

    async def sign_in(self) -> None:
        email = f"soak-{uuid.uuid4().hex[:10]}@example.com"
        password = "soak-password-123"
        created = await self.http.post(
            "/api/v1/auth/register", json={"email": email, "password": password}
        )
        if created.status_code not in (200, 201):
            raise SystemExit(f"register failed: {created.status_code} {created.text}")
        login = await self.http.post(
            "/api/v1/auth/login", data={"username": email, "password": password}
        )
        if login.status_code != 200:
            raise SystemExit(f"login failed: {login.status_code} {login.text}")
        self.http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        self.http.cookies.clear()

    async def close(self) -> None:
        await self.http.aclose()

    # --- the mix ----------------------------------------------------------------------------

    async def run(self, measured_from: float, deadline: float) -> None:
        self.measured_from = measured_from
        await self.timed("add", self.add)  # the dataset exists before anything else is asked
        routes = list(WEIGHTS)
        weights = [WEIGHTS[r] for r in routes]
        while time.monotonic() < deadline:
            route = self.random.choices(routes, weights)[0]
            await self.timed(route, getattr(self, route))

    async def timed(self, route: str, operation: Any) -> None:
        """Run one operation; count its error, or its latency once the warm-up is over."""
        measured = time.monotonic() >= self.measured_from
        start = time.perf_counter()
        try:
            await operation()
        except SoakError as exc:
            self.stats.error(route, exc.kind, exc.detail)
            return
        except httpx.HTTPError as exc:
            self.stats.error(route, f"transport:{type(exc).__name__}", repr(exc))
            return
        if measured:
            self.stats.latencies[route].append(time.perf_counter() - start)

    async def checked(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = await self.http.request(method, url, **kwargs)
        if response.status_code >= 500:
            raise SoakError(f"{response.status_code}", response.text)
        if response.status_code >= 400:
            raise SoakError(f"{response.status_code}", response.text)
        return response

    def document(self) -> tuple[str, str]:
        marker = f"soakmark{self.index}x{self.added}x{uuid.uuid4().hex[:6]}"
        sentences = []
        for _ in range(self.random.randint(4, 12)):
            words = " ".join(self.random.choices(WORDS, k=self.random.randint(6, 14)))
            sentences.append(
                f"{self.random.choice(NAMES)} visited {self.random.choice(PLACES)}; {words}."
            )
        sentences.insert(self.random.randrange(len(sentences)), f"The marker is {marker}.")
        return marker, " ".join(sentences) + "\n"

    async def add(self) -> None:
        marker, text = self.document()
        content = text.encode()
        response = await self.checked(
            "POST",
            "/api/v1/add",
            data={"datasetName": self.dataset_name},
            files={"data": (f"{marker}.txt", content, "text/plain")},
        )
        body = response.json()
        self.dataset_id = str(body["dataset_id"])
        data_id = str(body["data_ingestion_info"][0]["data_id"])
        self.added += 1
        self.documents.append(Document(data_id, hashlib.sha256(content).hexdigest(), marker))

    async def cognify(self, background: bool = True) -> None:
        self.cognified = True
        await self.checked(
            "POST",
            "/api/v1/cognify",
            json={"datasetIds": [self.dataset_id], "runInBackground": background},
        )

    async def status(self) -> None:
        response = await self.checked(
            "GET", "/api/v1/datasets/status", params={"dataset": self.dataset_id}
        )
        if self.cognified and self.dataset_id not in response.json():
            raise SoakError("wrong-answer", f"status without the dataset: {response.text}")

    async def search(self, search_type: str | None = None, query: str | None = None) -> Any:
        search_type = search_type or self.random.choice(SEARCH_TYPES)
        query = query or " ".join(self.random.choices([*WORDS, "Lovelace", "London"], k=3))
        # Completion types answer with the context only: no LLM is paid for by the soak.
        only_context = search_type not in ("CHUNKS", "CHUNKS_LEXICAL")
        response = await self.checked(
            "POST",
            "/api/v1/search",
            json={
                "query": query,
                "searchType": search_type,
                "onlyContext": only_context,
                "topK": 5,
            },
        )
        envelopes = response.json()
        for envelope in envelopes:
            if str(envelope.get("dataset_id")) != self.dataset_id:
                raise SoakError("leak", f"answer from dataset {envelope.get('dataset_id')}")
        return envelopes

    async def raw(self) -> None:
        document = self.random.choice(self.documents)
        response = await self.checked(
            "GET", f"/api/v1/datasets/{self.dataset_id}/data/{document.data_id}/raw"
        )
        if hashlib.sha256(response.content).hexdigest() != document.sha256:
            raise SoakError("wrong-bytes", f"raw of {document.data_id} differs from the upload")

    # --- the end ------------------------------------------------------------------------

    async def verify(self) -> list[str]:
        """Nothing lost: every acknowledged add is listed, and the last one is searchable."""
        problems = []
        await self.cognify(background=False)
        listed_ids: set[str] = set()
        while True:  # a page at a time, as cognee's clients read it
            page = (
                await self.checked(
                    "GET",
                    f"/api/v1/datasets/{self.dataset_id}/data",
                    params={"limit": 1000, "offset": len(listed_ids)},
                )
            ).json()
            listed_ids |= {str(item["id"]) for item in page}
            if len(page) < 1000:
                break
        missing = {d.data_id for d in self.documents} - listed_ids
        if missing or len(listed_ids) != len({d.data_id for d in self.documents}):
            problems.append(
                f"client {self.index}: {len(listed_ids)} listed, {len(self.documents)} added, "
                f"missing {sorted(missing)[:3]}"
            )
        marker = self.documents[-1].marker
        envelopes = await self.search("CHUNKS_LEXICAL", marker)
        texts = [str(hit.get("text", "")) for e in envelopes for hit in e["search_result"]]
        if not any(marker in text for text in texts):
            problems.append(f"client {self.index}: lexical search misses marker {marker}")
        return problems


# --- server memory ----------------------------------------------------------------------


def rss_bytes(pid: int, include_children: bool) -> int:
    pids = [pid]
    if include_children:
        children = Path(f"/proc/{pid}/task/{pid}/children")
        if children.exists():
            pids += [int(p) for p in children.read_text().split()]
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except FileNotFoundError:
            continue
    return total


async def sample_rss(args: Any, samples: list[tuple[float, int]], stop: asyncio.Event) -> None:
    await asyncio.sleep(args.warmup)
    start = time.monotonic()
    while not stop.is_set():
        samples.append((time.monotonic() - start, rss_bytes(args.pid, args.include_children)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


def rss_verdict(samples: list[tuple[float, int]]) -> dict[str, Any]:
    if len(samples) < 4:
        return {"levels_off": None, "reason": "too few samples"}
    half = samples[len(samples) // 2][1]
    end = max(rss for _, rss in samples[-max(1, len(samples) // 10) :])
    growth = end - half
    allowed = max(0.10 * half, 32 * MIB)
    return {
        "start_mib": samples[0][1] / MIB,
        "half_mib": half / MIB,
        "end_mib": end / MIB,
        "peak_mib": max(rss for _, rss in samples) / MIB,
        "second_half_growth_mib": growth / MIB,
        "allowed_growth_mib": allowed / MIB,
        "levels_off": growth <= allowed,
    }


# --- main --------------------------------------------------------------------------------


async def soak(args: Any) -> dict[str, Any]:
    stats = Stats()
    clients = [Client(i, args, stats) for i in range(args.clients)]
    await asyncio.gather(*(c.sign_in() for c in clients))
    samples: list[tuple[float, int]] = []
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(args, samples, stop)) if args.pid else None
    started = time.monotonic() + args.warmup
    await asyncio.gather(*(c.run(started, started + args.duration) for c in clients))
    elapsed = time.monotonic() - started
    problems: list[str] = []
    for result in await asyncio.gather(
        *(c.verify() for c in clients if c.documents), return_exceptions=True
    ):
        if isinstance(result, BaseException):
            problems.append(f"check at the end failed: {result!r}")
        else:
            problems += result
    stop.set()
    if sampler is not None:
        await sampler
    await asyncio.gather(*(c.close() for c in clients))
    routes = {
        route: {
            "count": len(values),
            "per_second": len(values) / elapsed,
            "p50_ms": Dist.of(values).p50 * 1e3,
            "p95_ms": percentile(sorted(values), 95) * 1e3,
            "p99_ms": Dist.of(values).p99 * 1e3,
            "max_ms": Dist.of(values).max * 1e3,
        }
        for route, values in sorted(stats.latencies.items())
        if values
    }
    return {
        "clients": args.clients,
        "duration_s": elapsed,
        "warmup_s": args.warmup,
        "requests": sum(r["count"] for r in routes.values()),
        "throughput_per_s": sum(r["count"] for r in routes.values()) / elapsed,
        "routes": routes,
        "errors": dict(stats.errors),
        "error_examples": stats.examples,
        "documents_added": sum(c.added for c in clients),
        "end_check_problems": problems,
        "rss": {
            "samples": [(round(t, 1), round(rss / MIB, 1)) for t, rss in samples],
            **(rss_verdict(samples) if samples else {}),
        },
    }


def report(result: dict[str, Any]) -> None:
    header(
        f"soak: {result['clients']} clients for {result['duration_s']:.0f} s "
        f"after {result['warmup_s']:.0f} s of warm-up"
    )
    print(
        f"{result['requests']} requests, {result['throughput_per_s']:.1f}/s; "
        f"{result['documents_added']} documents added"
    )
    print(f"{'route':<8} {'count':>7} {'per s':>7} {'p50':>9} {'p95':>9} {'p99':>9} {'max':>9} ms")
    for route, r in result["routes"].items():
        print(
            f"{route:<8} {r['count']:>7} {r['per_second']:>7.1f} {r['p50_ms']:>9.1f} "
            f"{r['p95_ms']:>9.1f} {r['p99_ms']:>9.1f} {r['max_ms']:>9.1f}"
        )
    header("errors by class (must be none)")
    if not result["errors"]:
        print("none")
    for key, count in sorted(result["errors"].items()):
        print(f"{key}: {count}  e.g. {result['error_examples'][key]}")
    header("check at the end (nothing lost)")
    print("\n".join(result["end_check_problems"]) or "every acknowledged add listed and searchable")
    rss = result["rss"]
    if rss.get("samples"):
        header("server RSS (MiB) over time")
        samples = rss["samples"]
        step = max(1, len(samples) // 20)
        print("  ".join(f"{t:.0f}s:{m:.0f}" for t, m in samples[::step]))
        print(
            f"start {rss['start_mib']:.0f}, half time {rss['half_mib']:.0f}, end "
            f"{rss['end_mib']:.0f}, peak {rss['peak_mib']:.0f}; growth over the second half "
            f"{rss['second_half_growth_mib']:.1f} (allowed {rss['allowed_growth_mib']:.1f}): "
            f"{'levels off' if rss['levels_off'] else 'KEEPS GROWING'}"
        )


def main() -> int:
    parser = base_parser(__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (users)")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of mixed load")
    parser.add_argument(
        "--warmup",
        type=float,
        default=30.0,
        help="seconds of load before latencies and RSS are measured (errors always count)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the clients' choices")
    parser.add_argument(
        "--include-children", action="store_true", help="sum RSS over the server's children"
    )
    parser.add_argument("--json", type=Path, help="also write the result as JSON to this file")
    args = parser.parse_args()
    result = asyncio.run(soak(args))
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    failed = bool(result["errors"] or result["end_check_problems"])
    if result["rss"].get("levels_off") is False:
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
