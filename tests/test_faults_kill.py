"""Fault injection: `kill -9` of a real `graphmill serve` process during a streamed add, during
cognify (the real pipeline, LLM and embeddings from the fake OpenAI server) and during a delete.

After each, a restarted process leaves: no half data item visible, no orphan object, row or
staged upload, no run stuck, every outcome explained by the ledger, and the repeated request
succeeds.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from graphmill.config import Settings
from tests.fault_checks import (
    Inventory,
    hold_blob_lock,
    inventory,
    multipart_stream,
    remove_objects,
    text_chunks,
    wait_consistent,
)
from tests.support import (
    Api,
    ServerProcess,
    add_files,
    cognify_in_background,
    settings_env,
    sign_up,
    wait_run_final,
)
from tests.test_recovery import FAST, LEASE, wait_completed_items

if TYPE_CHECKING:
    from tests.fake_openai import FakeOpenAI


MIB = 1024 * 1024


@pytest.fixture
def shared(settings_factory: Any) -> Iterator[Settings]:
    settings = settings_factory(**FAST)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    yield settings


def _serve(settings: Settings) -> ServerProcess:
    return ServerProcess(settings_env(settings)).start()


@contextmanager
def restarted(settings: Settings, api: Api) -> Iterator[Inventory]:
    """A new process on what the killed one left, once its sweeps made the stores agree."""
    process = _serve(settings)
    try:
        api.base_url = process.base_url  # type: ignore[assignment]
        yield wait_consistent(settings, timeout=LEASE + 30)
    finally:
        process.stop()


def _quietly(request: Any) -> None:
    with contextlib.suppress(httpx.TransportError):  # the server died under it
        request()


def _wait_staged(settings: Settings, at_least: int) -> None:
    """Until an upload of at least `at_least` bytes is being written to staging."""
    staging = settings.data_dir / "staging"
    deadline = time.monotonic() + 30
    while not any(p.is_file() and p.stat().st_size >= at_least for p in staging.rglob("upload-*")):
        assert time.monotonic() < deadline, "the upload never reached staging"
        time.sleep(0.02)


def test_kill_9_during_a_streamed_add(shared: Settings) -> None:
    first = _serve(shared)
    try:
        api = sign_up(first.base_url)
        slow = threading.Event()

        def pace(i: int) -> None:
            if i >= 8:  # the first 8 MiB at full speed, then slowly: killed mid-body
                slow.set()
                time.sleep(0.05)

        headers, body = multipart_stream("big", "big.txt", text_chunks(400, pace))

        sender = threading.Thread(
            target=_quietly, args=(lambda: api.post("/api/v1/add", content=body, headers=headers),)
        )
        sender.start()
        assert slow.wait(30)
        _wait_staged(shared, 4 * MIB)
        first.kill()
        sender.join(timeout=30)
        assert inventory(shared).staged, "the kill left no half upload: nothing was tested"
    finally:
        first.stop()
    with restarted(shared, api) as found:
        assert not found.objects and not found.data_hashes
        assert api.get("/api/v1/datasets").json() == []  # no dataset, no half item
        # The same request again succeeds, and the bytes come back exactly.
        headers, body = multipart_stream("big", "big.txt", text_chunks(2))
        added = api.post("/api/v1/add", content=body, headers=headers)
        assert added.status_code == 200, added.text
        ds = added.json()["dataset_id"]
        [item] = api.get(f"/api/v1/datasets/{ds}/data").json()
        assert item["dataSize"] == 2 * MIB
        raw = api.get(f"/api/v1/datasets/{ds}/data/{item['id']}/raw")
        assert raw.content == b"".join(text_chunks(2))
        assert len(wait_consistent(shared).objects) == 1


def test_kill_9_during_a_delete(shared: Settings) -> None:
    files = [(f"doc{i:02}.txt", f"document number {i}".encode()) for i in range(12)]
    hashes = sorted(hashlib.sha256(content).hexdigest() for _, content in files)
    first = _serve(shared)
    try:
        api = sign_up(first.base_url)
        ds = add_files(api, "doomed", files).json()["dataset_id"]
        assert len(inventory(shared).objects) == 12
        # Garbage collection takes the locks of a batch of hashes in order, then removes the
        # objects no item uses; it stops at the 5th lock, which this test holds, once the
        # dataset's rows are gone: the process is killed right there.
        _, release = hold_blob_lock(shared, hashes[4])
        deleter = threading.Thread(
            target=lambda: _quietly(lambda: api.delete(f"/api/v1/datasets/{ds}"))
        )
        deleter.start()
        deadline = time.monotonic() + 30
        while inventory(shared).data_hashes:
            assert time.monotonic() < deadline, inventory(shared)
            time.sleep(0.02)
        time.sleep(0.2)
        first.kill()
        release.set()
        deleter.join(timeout=30)
        left = inventory(shared)
        assert len(left.objects) == 12 and len(left.blob_rows) == 12  # all orphaned
        assert not left.data_hashes
        # And as if it had been killed a moment later, between removing the first objects of
        # the batch (each object goes before its row) and their rows.
        remove_objects(shared, hashes[:4])
        left = inventory(shared)
        assert len(left.objects) == 8 and len(left.blob_rows) == 12
    finally:
        first.stop()
    with restarted(shared, api) as found:
        assert not found.objects and not found.blob_rows
        assert api.get(f"/api/v1/datasets/{ds}").status_code in (404, 405)
        assert ds not in {d["id"] for d in api.get("/api/v1/datasets").json()}
        # Repeating the delete: the dataset is gone (404); adding the files again works, and
        # each downloads as it was, those whose object went first included.
        assert api.delete(f"/api/v1/datasets/{ds}").status_code == 404
        again = add_files(api, "doomed", files)
        assert again.status_code == 200, again.text
        assert len(wait_consistent(shared).objects) == 12
        ds = again.json()["dataset_id"]
        for item in api.get(f"/api/v1/datasets/{ds}/data").json():
            raw = api.get(f"/api/v1/datasets/{ds}/data/{item['id']}/raw")
            assert raw.content == dict(files)[item["name"] + ".txt"], item


def llm_env(fake: FakeOpenAI) -> dict[str, Any]:
    """The real cognify pipeline with its LLM and embeddings served by the fake."""
    return {
        "cognify_steps": "graphmill.cognify.steps:pipeline",
        "llm_provider": "openai",
        "llm_model": "openai/fake-model",
        "llm_endpoint": fake.base_url,
        "llm_api_key": fake.api_key,
        "embedding_provider": "openai_compatible",
        "embedding_model": "fake-embedding",
        "embedding_endpoint": fake.base_url,
        "embedding_api_key": fake.api_key,
        "embedding_dimensions": 64,
    }


def _story(i: int) -> bytes:
    return (
        f"Report {i}. Ada Lovelace met Charles Babbage in London in year {1830 + i}. "
        f"Babbage designed the Analytical Engine number {i}. Lovelace wrote notes on it."
    ).encode()


def _graph_shape(api: Api, ds: str) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """The dataset's graph by names: its nodes, and its edges between named nodes."""
    graph = api.get(f"/api/v1/datasets/{ds}/graph").json()
    names = {n["id"]: n["label"] for n in graph["nodes"]}
    nodes = sorted((n["label"], n["type"]) for n in graph["nodes"])
    edges = sorted((names[e["source"]], e["label"], names[e["target"]]) for e in graph["edges"])
    return nodes, edges


def test_kill_9_during_cognify_resumes_to_the_same_graph(
    settings_factory: Any, fake_llm: FakeOpenAI
) -> None:
    settings = settings_factory(**FAST | llm_env(fake_llm))
    fake_llm.configure(latency=0.05)
    files = [(f"report{i:02}.txt", _story(i)) for i in range(10)]
    first = _serve(settings)
    try:
        api = sign_up(first.base_url)
        ds = add_files(api, "graph", files).json()["dataset_id"]
        wait_completed_items(api, run_id := cognify_in_background(api, ds), 3)
        first.kill()
    finally:
        first.stop()
    with restarted(settings, api):  # consistent: the run was resumed and finished
        run = wait_run_final(api, run_id)
        assert run["state"] == "completed", run
        assert run["counts"] == {"total": 10, "completed": 10, "failed": 0, "skipped": 0}
        # The same files cognified without a crash give the same graph.
        fake_llm.configure(latency=0)
        clean = add_files(api, "clean", files).json()["dataset_id"]
        result = api.post("/api/v1/cognify", json={"datasetIds": [clean]}).json()[clean]
        assert result["status"] == "PipelineRunCompleted"
        resumed = _graph_shape(api, ds)
        assert resumed[0] and resumed[1]
        assert resumed == _graph_shape(api, clean)
