"""Search quality over HTTP: recall@k of labelled supporting passages, against any server.

A labelled set is a corpus of passages and questions whose answers need some of them
(`supporting`). Every passage is uploaded as one file, `<key>.txt` holding the title, a blank
line and the text; the dataset is cognified; each question is asked with each search type; the
score of one answer is the share of the supporting passages among the first k distinct source
files it cites (recall@5, as HippoRAG 2 and `../shared/bench-data/README.md` count it).

Shared by the search quality test and `bench/search_quality.py`; it holds no tests. It speaks
only cognee's REST contract, so the same measurement runs against graphmill or cognee:

    api = sign_up(base_url)                      # tests/support.py, or any signed-in client
    report = measure(api, load_set("two-hop"))
    report.table()                               # {"CHUNKS_LEXICAL": r, "CHUNKS": r, ...}
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
SETS = {
    "single": ROOT / "tests" / "data" / "search_single_hop.json",
    "two-hop": ROOT / "tests" / "data" / "search_two_hop.json",
    "musique": ROOT.parent / "shared" / "bench-data" / "musique-dev50.json",
}
DEFAULT = "DEFAULT"  # pseudo search type: the request omits `searchType`, the server picks
TYPES = ("CHUNKS_LEXICAL", "CHUNKS", "GRAPH_COMPLETION", "HYBRID_COMPLETION")
BATCH = 50  # files per POST /api/v1/add


class QualityError(Exception):
    """The server refused a step of the measurement (upload, cognify, listing)."""


# --- labelled sets ----------------------------------------------------------------------


@dataclass(frozen=True)
class Passage:
    key: str
    title: str
    text: str

    def file(self) -> tuple[str, bytes]:
        """The uploaded file: `<key>.txt` with the title, a blank line and the text."""
        return f"{self.key}.txt", f"{self.title}\n\n{self.text}".encode()


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answer: str
    supporting: tuple[str, ...]


@dataclass(frozen=True)
class LabelledSet:
    name: str
    passages: dict[str, Passage]
    questions: tuple[Question, ...]

    def limit(self, n: int | None) -> LabelledSet:
        """The same corpus with only the first n questions (all when n is None)."""
        return self if n is None else LabelledSet(self.name, self.passages, self.questions[:n])


def load_set(name_or_path: str | Path) -> LabelledSet:
    """`single`, `two-hop`, `musique` or the path of a JSON file of the same shape.

    Shape: `{"corpus": {key: {"title", "text"}}, "questions": [{"id", "question", "answer",
    "supporting": [key]}]}`; other fields (MuSiQue's `paragraphs`, `answer_aliases`) are ignored.
    """
    path = SETS.get(str(name_or_path), Path(name_or_path))
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    passages = {
        key: Passage(key, str(item["title"]), str(item["text"]))
        for key, item in raw["corpus"].items()
    }
    questions = tuple(
        Question(str(q["id"]), q["question"], str(q.get("answer", "")), tuple(q["supporting"]))
        for q in raw["questions"]
    )
    missing = {key for q in questions for key in q.supporting} - passages.keys()
    if missing:
        raise ValueError(f"{path}: supporting keys not in the corpus: {sorted(missing)[:5]}")
    name = str(name_or_path) if str(name_or_path) in SETS else Path(path).stem
    return LabelledSet(name, passages, questions)


# --- upload and cognify -----------------------------------------------------------------


@dataclass
class Corpus:
    """A labelled set as stored on the server: its dataset and each data item's passage key."""

    dataset_id: str
    dataset_name: str
    key_of: dict[str, str]  # data_id -> passage key
    add_seconds: float
    cognify_seconds: float


def _checked(response: httpx.Response, step: str) -> Any:
    if response.status_code != 200:
        raise QualityError(f"{step}: {response.status_code} {response.text[:500]}")
    return response.json()


def _batches(items: Sequence[Passage], size: int) -> Iterator[Sequence[Passage]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def upload(
    api: httpx.Client,
    labelled: LabelledSet,
    dataset: str | None = None,
    batch: int = BATCH,
    cognify_timeout: float = 6 * 3600,
) -> Corpus:
    """Add every passage as a file (≤ `batch` per request) and cognify the dataset, blocking."""
    dataset = dataset or f"quality_{labelled.name.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
    key_of: dict[str, str] = {}
    dataset_id = ""
    start = time.perf_counter()
    for chunk in _batches(list(labelled.passages.values()), batch):
        body = _checked(
            api.post(
                "/api/v1/add",
                files=[("data", (*p.file(), "text/plain")) for p in chunk],
                data={"datasetName": dataset},
            ),
            "add",
        )
        dataset_id = str(body["dataset_id"])
        infos = body.get("data_ingestion_info") or []
        # The add response lists one entry per uploaded file, in upload order.
        if len(infos) == len(chunk):
            key_of.update({str(i["data_id"]): p.key for i, p in zip(infos, chunk, strict=True)})
    add_seconds = time.perf_counter() - start
    key_of.update(_keys_from_listing(api, dataset_id, labelled))

    start = time.perf_counter()
    runs = _checked(
        api.post(
            "/api/v1/cognify",
            json={"datasets": [dataset], "runInBackground": False},
            timeout=cognify_timeout,
        ),
        "cognify",
    )
    cognify_seconds = time.perf_counter() - start
    for run in runs.values() if isinstance(runs, dict) else []:
        if isinstance(run, dict) and run.get("status") == "PipelineRunErrored":
            raise QualityError(f"cognify: {json.dumps(run)[:500]}")
    if len(set(key_of.values())) < len(labelled.passages):
        raise QualityError(
            f"only {len(set(key_of.values()))} of {len(labelled.passages)} passages "
            "could be matched to a data item"
        )
    return Corpus(dataset_id, dataset, key_of, add_seconds, cognify_seconds)


def attach(api: httpx.Client, labelled: LabelledSet, dataset: str) -> Corpus:
    """A dataset of the caller's, uploaded and cognified before, matched to the set by file name."""
    response = api.get("/api/v1/datasets")
    found = [d for d in _checked(response, "datasets") if d.get("name") == dataset]
    if not found:
        raise QualityError(f"no dataset named {dataset!r}")
    dataset_id = str(found[0]["id"])
    key_of = _keys_from_listing(api, dataset_id, labelled)
    if len(set(key_of.values())) < len(labelled.passages):
        raise QualityError(
            f"{dataset!r} holds {len(set(key_of.values()))} of {len(labelled.passages)} passages"
        )
    return Corpus(dataset_id, dataset, key_of, math.nan, math.nan)


def _keys_from_listing(api: httpx.Client, dataset_id: str, labelled: LabelledSet) -> dict[str, str]:
    """data_id -> key from `GET /datasets/{id}/data` (`name` is the file name, extension or not)."""
    response = api.get(f"/api/v1/datasets/{dataset_id}/data")
    if response.status_code != 200:
        return {}
    keys = {}
    for item in response.json():
        name = str(item.get("name", ""))
        key = name if name in labelled.passages else name.removesuffix(".txt")
        if key in labelled.passages:
            keys[str(item["id"])] = key
    return keys


# --- asking and scoring -----------------------------------------------------------------


def cited_data_ids(response_json: Any) -> list[str]:
    """The distinct data items a search response cites, in the order they appear.

    Walks the JSON depth-first in document order, so it accepts every shape a
    cognee-compatible server returns: a list of `{dataset_id, …, search_result}` envelopes,
    whose `search_result` is a list of objects or, with `verbose`, `{text_result,
    context_result, objects_result}`; or the flattened list of a server without access control.
    From each object it takes `data_id`, or failing that `document_id` (cognee's chunk
    payloads, whose document id is the data id), or failing that the id of `is_part_of`.
    """
    cited: dict[str, None] = {}

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            ident = node.get("data_id") or node.get("document_id")
            part_of = node.get("is_part_of")
            if ident is None and isinstance(part_of, dict):
                ident = part_of.get("id")
            if isinstance(ident, str):
                cited.setdefault(ident, None)
            for key, value in node.items():
                if key != "is_part_of":
                    walk(value)

    walk(response_json)
    return list(cited)


def recall_at(cited_keys: Sequence[str], supporting: Iterable[str], k: int = 5) -> float:
    """Share of the supporting keys among the first k distinct cited keys."""
    wanted = set(supporting)
    first = list(dict.fromkeys(cited_keys))[:k]
    return len(wanted.intersection(first)) / len(wanted) if wanted else math.nan


def search_body(query: str, search_type: str, dataset: str, top_k: int = 10) -> dict[str, Any]:
    """The POST /api/v1/search body; `DEFAULT` leaves `searchType` to the server."""
    body: dict[str, Any] = {"query": query, "datasets": [dataset], "topK": top_k, "verbose": True}
    if search_type != DEFAULT:
        body["searchType"] = search_type
    return body


@dataclass(frozen=True)
class Answer:
    question_id: str
    search_type: str
    cited: tuple[str, ...]  # passage keys, distinct, in citation order; "?<id>" if unknown
    supporting: tuple[str, ...]
    seconds: float
    error: str | None = None  # status and body when the server refused the query

    def recall(self, k: int = 5) -> float:
        return 0.0 if self.error else recall_at(self.cited, self.supporting, k)


def ask(
    api: httpx.Client, corpus: Corpus, question: Question, search_type: str, top_k: int = 10
) -> Answer:
    """One search, timed; the cited data items mapped back to passage keys."""
    start = time.perf_counter()
    response = api.post(
        "/api/v1/search",
        json=search_body(question.question, search_type, corpus.dataset_name, top_k),
    )
    seconds = time.perf_counter() - start
    if response.status_code != 200:
        error = f"{response.status_code} {response.text[:300]}"
        return Answer(question.id, search_type, (), question.supporting, seconds, error)
    cited = tuple(corpus.key_of.get(i, f"?{i}") for i in cited_data_ids(response.json()))
    return Answer(question.id, search_type, cited, question.supporting, seconds)


# --- reports ----------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, q in 0..100."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered), max(1, math.ceil(q / 100 * len(ordered)))) - 1]


@dataclass
class Report:
    set_name: str
    corpus: Corpus
    types: tuple[str, ...]
    answers: list[Answer] = field(default_factory=list)

    def of(self, search_type: str) -> list[Answer]:
        return [a for a in self.answers if a.search_type == search_type]

    def table(self, k: int = 5) -> dict[str, float]:
        """{search type: mean recall@k over the questions}; refused queries count as 0."""
        return {
            t: sum(a.recall(k) for a in self.of(t)) / len(self.of(t))
            for t in self.types
            if self.of(t)
        }

    def errors(self) -> dict[str, int]:
        return {t: sum(a.error is not None for a in self.of(t)) for t in self.types}

    def latency(self, search_type: str) -> dict[str, float]:
        """Seconds per query of one type: p50, p90, p95, max, mean."""
        seconds = [a.seconds for a in self.of(search_type)]
        return {
            "p50": percentile(seconds, 50),
            "p90": percentile(seconds, 90),
            "p95": percentile(seconds, 95),
            "max": max(seconds, default=math.nan),
            "mean": sum(seconds) / len(seconds) if seconds else math.nan,
        }

    def misses(self, search_type: str, k: int = 5) -> list[Answer]:
        """Answers that left some supporting passage out of their first k files."""
        return [a for a in self.of(search_type) if a.recall(k) < 1]


def evaluate(
    api: httpx.Client,
    labelled: LabelledSet,
    corpus: Corpus,
    types: Sequence[str] = TYPES,
    top_k: int = 10,
) -> Report:
    """Ask every question with every search type against an uploaded corpus."""
    report = Report(labelled.name, corpus, tuple(types))
    for question in labelled.questions:
        for search_type in types:
            report.answers.append(ask(api, corpus, question, search_type, top_k))
    return report


def measure(
    api: httpx.Client,
    labelled: LabelledSet,
    types: Sequence[str] = TYPES,
    top_k: int = 10,
    dataset: str | None = None,
) -> Report:
    """Upload and cognify the set's corpus into a fresh dataset, then evaluate it."""
    return evaluate(api, labelled, upload(api, labelled, dataset), types, top_k)
