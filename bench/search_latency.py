"""Search latency: p50/p95 per search type over HTTP, at a given number of chunks.

The workload: a synthetic corpus of documents (pronounceable words with a Zipf-like
frequency, and a few thousand people, places and organisations named across documents),
about 10 chunks of ~180 words per document; distinct questions naming its entities (so no
query vector is reused), asked one at a time. Each search type is asked `--queries` times
after `--warmup` unmeasured queries.

Reported per type: the client's wall clock (p50, p95), and, when the server sends
`Server-Timing: embed;dur=…, search;dur=…` (graphmill does), the query embedding time and
the search time without it, apart. With `--pid`, the server's CPU per query; with
`--prime` as well, each question is first asked of an empty dataset (the server embeds it
and keeps its vector, as graphmill does for repeated queries), so the measured queries'
CPU is the search's alone, and the priming pass's CPU is the embedding's.

Seeding (`--seed`):
- `http` (any cognee-compatible server): the documents are added and cognified through
  `POST /api/v1/add` and `POST /api/v1/cognify`: as the server would see them, but cognify
  at 100,000 chunks takes hours with a local embedder.
- `direct` (graphmill only): the benchmark writes chunks, vectors, entities and relations
  straight into the store of record (`--data-dir` of a SQLite store, or `--database-url`),
  through graphmill's graph store, while the server runs on that store: every process finds
  what another wrote (search catches up from the store's entry log). Vectors are a random
  projection of each chunk's words (384 dimensions, labelled with the local model's name so
  the server's query vectors fit): their ranks mean nothing, their cost is the real one.
- `none`: search an existing dataset (`--dataset`).

    python bench/search_latency.py --base-url http://127.0.0.1:8765 --chunks 10000 \\
        --seed direct --data-dir /tmp/gm-bench
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import re
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _common import base_parser, check, client, cpu_seconds, header, percentile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TYPES = ("CHUNKS", "CHUNKS_LEXICAL", "GRAPH_COMPLETION", "HYBRID_COMPLETION", "SUMMARIES")
CHUNKS_PER_DOCUMENT = 10
WORDS_PER_CHUNK = 180
DIMENSION = 384
MODEL = "all-MiniLM-L6-v2"


# --- the synthetic corpus -------------------------------------------------------------------


class Corpus:
    """Deterministic documents: words, names and sentences from one seed."""

    SYLLABLES = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"] + ["th", "sh", "or", "an"]

    def __init__(self, seed: int = 7, vocabulary: int = 20_000) -> None:
        self.random = random.Random(seed)
        self.words = self._unique(vocabulary, 2, 4, capital=False)
        # Zipf-like: the k-th word is drawn with weight 1/k.
        self.weights = np.cumsum(1.0 / np.arange(1, len(self.words) + 1))
        first, last = self._unique(3000, 2, 3), self._unique(3000, 2, 4)
        self.people = [f"{a} {b}" for a, b in zip(first, last, strict=True)]
        self.places = self._unique(1500, 2, 4)
        self.orgs = [
            f"{w} {k}"
            for w, k in zip(
                self._unique(1000, 2, 3),
                self.random.choices(["Works", "Company", "Institute", "Press", "Bank"], k=1000),
                strict=True,
            )
        ]
        self.entities = (
            [(n, "Person") for n in self.people]
            + [(n, "Location") for n in self.places]
            + [(n, "Organization") for n in self.orgs]
        )

    def _unique(self, n: int, low: int, high: int, capital: bool = True) -> list[str]:
        seen: dict[str, None] = {}
        while len(seen) < n:
            word = "".join(self.random.choices(self.SYLLABLES, k=self.random.randint(low, high)))
            seen.setdefault(word.capitalize() if capital else word, None)
        return list(seen)

    def word(self) -> str:
        at = np.searchsorted(self.weights, self.random.random() * self.weights[-1])
        return self.words[int(at)]

    def document(self, index: int) -> tuple[str, list[str], list[tuple[str, str]]]:
        """(title, chunk texts, entities named) of document `index`."""
        r = random.Random(index)
        subject = self.entities[index % len(self.entities)]
        named = [subject, *r.sample(self.entities, 8)]
        chunks = []
        for c in range(CHUNKS_PER_DOCUMENT):
            sentences = []
            words = 0
            while words < WORDS_PER_CHUNK:
                length = r.randint(8, 20)
                body = [self.word() for _ in range(length)]
                body[r.randrange(length)] = r.choice(named)[0]
                if c == 0 and not sentences:
                    body[0] = subject[0]
                sentence = " ".join(body)
                sentences.append(sentence[0].upper() + sentence[1:] + ".")
                words += length
            chunks.append(" ".join(sentences))
        return subject[0], chunks, named

    def question(self, r: random.Random) -> str:
        name = r.choice(self.entities)[0]
        other = r.choice(self.entities)[0]
        words = " ".join(self.word() for _ in range(r.randint(2, 5)))
        return r.choice(
            [
                f"What did {name} have to do with {words}?",
                f"Where is the {words} that {name} and {other} shared?",
                f"Who wrote about {words} near {name}?",
            ]
        )


# --- seeding ----------------------------------------------------------------------------


class Projection:
    """Vectors from words: each word a fixed random vector, a text the normalised sum."""

    def __init__(self) -> None:
        self.random = np.random.default_rng(11)
        self.vectors: dict[str, np.ndarray[Any, Any]] = {}

    def of(self, texts: list[str]) -> np.ndarray[Any, Any]:
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                vector = self.vectors.get(word)
                if vector is None:
                    vector = self.vectors[word] = self.random.standard_normal(DIMENSION).astype(
                        np.float32
                    )
                out[row] += vector
        out /= np.linalg.norm(out, axis=1, keepdims=True) + 1e-9
        return out


async def seed_direct(
    database_url: str, dataset_id: uuid.UUID, owner_id: uuid.UUID, documents: range
) -> None:
    """Write documents straight into the store, 50 items per transaction."""
    from sqlalchemy import insert

    from graphmill.db import Database
    from graphmill.db.models import Blob, Data, ExtractedText
    from graphmill.graph.model import Entity, Relation
    from graphmill.graph.store import ItemGraph, node_key, record_embedding_model, write_item
    from graphmill.ingest.loaders import LOADER_VERSION

    corpus, projection = Corpus(), Projection()
    db = Database(database_url)
    started = time.perf_counter()
    await db.run(lambda conn: record_embedding_model(conn, dataset_id, MODEL, DIMENSION))
    for start in range(documents.start, documents.stop, 50):
        async with db.write() as session:
            for index in range(start, min(start + 50, documents.stop)):
                title, chunks, named = corpus.document(index)
                text = title + "\n\n" + "\n\n".join(chunks)
                sha = hashlib.sha256(f"{dataset_id}:{index}:{text}".encode()).hexdigest()
                data_id = uuid.uuid4()
                await session.execute(
                    insert(Blob).values(sha256=sha, size=len(text), location="synthetic")
                )
                await session.execute(
                    insert(Data).values(
                        id=data_id,
                        dataset_id=dataset_id,
                        owner_id=owner_id,
                        name=f"doc{index:06}",
                        original_name=f"doc{index:06}.txt",
                        extension="txt",
                        mime_type="text/plain",
                        content_hash=sha,
                        size=len(text),
                        external_metadata={},
                    )
                )
                await session.execute(
                    insert(ExtractedText).values(
                        content_hash=sha, loader_version=LOADER_VERSION, loader="text", text=text
                    )
                )
                entities = [Entity(n, t, f"{n} is named in {title}.") for n, t in named]
                graph = ItemGraph(
                    chunks=[(c, len(c.split()), None) for c in chunks],
                    chunk_vectors=projection.of(chunks),
                    entities=entities,
                    entity_mentions={node_key(e.name, e.type): 2 for e in entities},
                    entity_vectors={
                        node_key(e.name, e.type): v
                        for e, v in zip(
                            entities, projection.of([e.name for e in entities]), strict=True
                        )
                    },
                    relations=[Relation(title, e.name, "mentioned_with") for e in entities[1:4]],
                    summary=chunks[0][:300],
                    embedding_model=MODEL,
                    embedding_dimension=DIMENSION,
                )
                await session.run_sync(
                    lambda s, d=data_id, h=sha, g=graph: write_item(
                        s.connection(), dataset_id, d, h, g
                    )
                )
        done = min(start + 50, documents.stop) - documents.start
        if done % 1000 == 0 or done == len(documents):
            rate = done * CHUNKS_PER_DOCUMENT / (time.perf_counter() - started)
            print(f"  seeded {done} documents ({rate:.0f} chunks/s)", flush=True)
    await db.dispose()


def seed_http(api: Any, dataset: str, documents: range) -> None:
    corpus = Corpus()
    for start in range(documents.start, documents.stop, 50):
        files = []
        for index in range(start, min(start + 50, documents.stop)):
            title, chunks, _ = corpus.document(index)
            body = (title + "\n\n" + "\n\n".join(chunks)).encode()
            files.append(("data", (f"doc{index:06}.txt", body, "text/plain")))
        check(api.post("/api/v1/add", files=files, data={"datasetName": dataset}))
    check(api.post("/api/v1/cognify", json={"datasets": [dataset]}, timeout=24 * 3600))


# --- measuring --------------------------------------------------------------------------


@dataclass
class Sample:
    seconds: float
    embed_ms: float | None
    search_ms: float | None


def timing(header_value: str | None) -> tuple[float | None, float | None]:
    found = dict(re.findall(r"(\w+);dur=([\d.]+)", header_value or ""))
    embed, search = found.get("embed"), found.get("search")
    return (float(embed) if embed else None, float(search) if search else None)


def postgres_seconds(postmaster: int | None) -> float:
    """CPU time PostgreSQL's processes on this machine have used so far: the postmaster
    (with the backends it has reaped) and its live backends; 0 without a PID."""
    if postmaster is None:
        return 0.0
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a backend that just ended
        if int(entry.name) == postmaster:
            total += sum(int(f) for f in fields[11:15])
        elif int(fields[1]) == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def measure(
    api: Any,
    dataset_id: str,
    search_type: str,
    questions: list[str],
    warmup: int,
    pid: int | None,
    postgres: int | None = None,
) -> tuple[list[Sample], float, float]:
    """The samples of the measured questions, and the server's and PostgreSQL's CPU seconds
    per question (with `pid`, `postgres`; the server's includes the query's embedding)."""
    samples = []
    cpu_before = db_before = 0.0
    for i, question in enumerate(questions):
        if i == warmup:
            cpu_before, db_before = cpu_seconds(pid), postgres_seconds(postgres)
        body = {
            "query": question,
            "searchType": search_type,
            "datasetIds": [dataset_id],
            "topK": 10,
        }
        started = time.perf_counter()
        response = check(api.post("/api/v1/search", json=body))
        seconds = time.perf_counter() - started
        if i >= warmup:
            samples.append(Sample(seconds, *timing(response.headers.get("server-timing"))))
    n = max(1, len(samples))
    return (
        samples,
        (cpu_seconds(pid) - cpu_before) / n,
        (postgres_seconds(postgres) - db_before) / n,
    )


def prime(
    api: Any, dataset_id: str, search_type: str, questions: list[str], pid: int | None
) -> float:
    """Ask each question of an (empty) dataset: the server embeds it. Its CPU per question."""
    cpu_before = cpu_seconds(pid)
    for question in questions:
        body = {"query": question, "searchType": search_type, "datasetIds": [dataset_id]}
        check(api.post("/api/v1/search", json=body))
    return (cpu_seconds(pid) - cpu_before) / max(1, len(questions))


def show(
    search_type: str,
    samples: list[Sample],
    cpu: float | None,
    primed: float | None = None,
    postgres: float | None = None,
) -> None:
    wall = sorted(s.seconds * 1e3 for s in samples)
    line = f"{search_type:<20} n={len(samples):<4} client "
    line += f"p50={percentile(wall, 50):7.2f} p95={percentile(wall, 95):7.2f}"
    search = sorted(s.search_ms for s in samples if s.search_ms is not None)
    embed = sorted(s.embed_ms for s in samples if s.embed_ms is not None)
    if search:
        line += f" | search p50={percentile(search, 50):7.2f} p95={percentile(search, 95):7.2f}"
    if embed:
        line += f" | embed p50={percentile(embed, 50):6.2f} p95={percentile(embed, 95):6.2f}"
    if cpu is not None:
        line += f" | server CPU {cpu * 1e3:6.2f}/query"
    if primed is not None:
        line += f" (embedding primed: {primed * 1e3:6.2f}/query)"
    if postgres is not None:
        line += f" | PostgreSQL CPU {postgres * 1e3:6.2f}/query"
    print(line + " ms", flush=True)


def main() -> None:
    parser = base_parser(__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--chunks", type=int, default=10_000, help="chunks in the dataset")
    parser.add_argument("--seed", choices=["direct", "http", "none"], default="direct")
    parser.add_argument("--data-dir", type=Path, help="the server's data folder (SQLite store)")
    parser.add_argument("--database-url", help="the server's PostgreSQL store")
    parser.add_argument("--dataset", default=None, help="dataset name (default: a fresh one)")
    parser.add_argument("--types", default=",".join(TYPES), help="comma-separated search types")
    parser.add_argument("--queries", type=int, default=200, help="measured queries per type")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured queries per type")
    parser.add_argument(
        "--postgres-pid",
        type=int,
        help="PID of the PostgreSQL postmaster on this machine: also report the CPU its "
        "processes use per query",
    )
    parser.add_argument(
        "--prime",
        action="store_true",
        help="embed every question first (asked of an empty dataset), so that the server's "
        "CPU per measured query excludes the query's embedding (graphmill keeps query vectors)",
    )
    args = parser.parse_args()

    api = client(args)
    dataset = args.dataset or f"latency_{args.chunks}_{uuid.uuid4().hex[:6]}"
    documents = range(max(1, args.chunks // CHUNKS_PER_DOCUMENT))
    header(f"search latency: {args.chunks} chunks, server {args.base_url}")
    if args.seed == "none":
        found = [d for d in check(api.get("/api/v1/datasets")).json() if d["name"] == dataset]
        dataset_id = found[0]["id"]
    elif args.seed == "http":
        seed_http(api, dataset, documents)
        found = [d for d in check(api.get("/api/v1/datasets")).json() if d["name"] == dataset]
        dataset_id = found[0]["id"]
    else:
        if args.database_url:
            from graphmill.config import Settings

            url = Settings(_env_file=None, database_url=args.database_url).sqlalchemy_url
        elif args.data_dir:
            url = f"sqlite+aiosqlite:///{(args.data_dir / 'graphmill.db').resolve()}"
        else:
            raise SystemExit("--seed direct needs --data-dir or --database-url")
        dataset_id = check(api.post("/api/v1/datasets", json={"name": dataset})).json()["id"]
        owner = check(api.get("/api/v1/users/me")).json()["id"]
        started = time.perf_counter()
        asyncio.run(seed_direct(url, uuid.UUID(dataset_id), uuid.UUID(owner), documents))
        seconds = time.perf_counter() - started
        print(f"seeded {len(documents) * CHUNKS_PER_DOCUMENT} chunks in {seconds:.0f} s")

    corpus = Corpus()
    r = random.Random(3)
    types = [t.strip() for t in args.types.split(",") if t.strip()]
    empty = None
    if args.prime:
        name = f"latency_prime_{uuid.uuid4().hex[:6]}"
        empty = check(api.post("/api/v1/datasets", json={"name": name})).json()["id"]
    header("latency per search type (distinct questions; Server-Timing where sent)")
    for search_type in types:
        questions = [corpus.question(r) for _ in range(args.queries + args.warmup)]
        primed = None
        if empty is not None and search_type != "CHUNKS_LEXICAL":
            primed = prime(api, empty, search_type, questions, args.pid)
        samples, cpu, db = measure(
            api, dataset_id, search_type, questions, args.warmup, args.pid, args.postgres_pid
        )
        show(
            search_type,
            samples,
            cpu if args.pid else None,
            primed if args.pid else None,
            db if args.postgres_pid else None,
        )
    if empty is not None:
        check(api.delete(f"/api/v1/datasets/{empty}"))


if __name__ == "__main__":
    main()
