"""Cognify through HTTP: loaders, offline and LLM extraction, caching, rate limits,
embedding-model mismatch, the graph endpoints and provenance-exact deletes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from graphmill.config import Settings
from graphmill.db import Database
from graphmill.db.models import Chunk, ChunkVector
from tests.conftest import LiveServer
from tests.support import Api, add_files, sign_up

if TYPE_CHECKING:
    from tests.fake_openai import FakeOpenAI


FIXTURES = Path(__file__).parent / "fixtures"
SUPPORTED = [
    "sample.txt",
    "sample.md",
    "sample.html",
    "sample.pdf",
    "sample.docx",
    "sample.pptx",
    "sample.xlsx",
    "sample.csv",
    "sample.json",
    "sample.py",
]


def fixture_files(*names: str) -> list[tuple[str, bytes]]:
    return [(name, (FIXTURES / name).read_bytes()) for name in names]


def cognify(api: Api, dataset_id: str) -> dict[str, Any]:
    r = api.post("/api/v1/cognify", json={"datasetIds": [dataset_id]})
    assert r.status_code == 200, r.text
    return dict(r.json()[dataset_id])


def item_states(api: Api, dataset_id: str) -> dict[str, dict[str, Any]]:
    items = api.get(f"/api/v1/datasets/{dataset_id}/data").json()
    return {i["originalName"]: i["pipelineStatus"]["cognify_pipeline"] for i in items}


def stored_chunks(settings: Settings, dataset_id: str | None = None) -> list[tuple[str, str]]:
    """(data id, text) of every chunk in the store, optionally of one dataset."""
    from tests.fault_checks import kept_rows  # a disk-full test database's kept connection

    kept = kept_rows(
        settings,
        "SELECT data_id, text FROM chunks WHERE %s::uuid IS NULL OR dataset_id = %s::uuid",
        dataset_id,
        dataset_id,
    )
    if kept is not None:
        return [(str(d), t) for d, t in kept]

    async def read() -> list[tuple[str, str]]:
        db = Database(settings.sqlalchemy_url)
        async with db.read() as session:
            query = select(Chunk.data_id, Chunk.text)
            if dataset_id is not None:
                query = query.where(Chunk.dataset_id == uuid.UUID(dataset_id))
            rows = [(str(d), t) for d, t in await session.execute(query)]
        await db.dispose()
        return rows

    return asyncio.run(read())


def vector_count(settings: Settings) -> int:
    async def read() -> int:
        db = Database(settings.sqlalchemy_url)
        async with db.read() as session:
            count = len(list(await session.scalars(select(ChunkVector.chunk_id))))
        await db.dispose()
        return count

    return asyncio.run(read())


@pytest.fixture
def offline(settings_factory: Any) -> Iterator[LiveServer]:
    with LiveServer(settings_factory()) as live:
        yield live


@pytest.fixture
def user(offline: LiveServer) -> Iterator[Api]:
    api = sign_up(offline.base_url)
    yield api
    api.close()


def llm_settings(fake: FakeOpenAI, **extra: Any) -> dict[str, Any]:
    return {
        "llm_provider": "openai",
        "llm_model": "openai/fake-model",
        "llm_endpoint": fake.base_url,
        "llm_api_key": fake.api_key,
        **extra,
    }


def test_every_supported_type_cognifies_offline_into_chunks_and_a_graph(
    user: Api, offline: LiveServer
) -> None:
    ds = add_files(user, "docs", fixture_files(*SUPPORTED)).json()["dataset_id"]
    result = cognify(user, ds)
    assert result["status"] == "PipelineRunCompleted", result
    states = item_states(user, ds)
    assert {name: s["state"] for name, s in states.items()} == dict.fromkeys(SUPPORTED, "completed")
    chunks = stored_chunks(offline.settings, ds)
    per_item = {data_id for data_id, _ in chunks}
    assert len(per_item) == len(SUPPORTED)  # every item has at least one chunk
    assert vector_count(offline.settings) == len(chunks)
    graph = user.get(f"/api/v1/datasets/{ds}/graph").json()
    assert graph["nodes"], "the offline extractor found no entity"
    names = {n["label"] for n in graph["nodes"]}
    assert "Ada Lovelace" in names
    for node in graph["nodes"]:
        assert set(node) == {"id", "label", "type", "properties"}
        assert node["properties"]["mentions"] >= 1
    for edge in graph["edges"]:
        assert {"source", "target", "label"} <= set(edge)
    [summary] = user.get("/api/v1/datasets/graph-summary", params={"dataset_ids": ds}).json()
    assert summary["numNodes"] == len(graph["nodes"])
    assert summary["numEdges"] == len(graph["edges"])
    assert summary["pipelineRunId"] == result["pipeline_run_id"]
    assert summary["computedAt"] is not None


def test_the_same_bytes_under_another_loader_are_loaded_again(
    user: Api, offline: LiveServer
) -> None:
    # Issue 9, defect 9: the text cache was keyed by content only, so a page.html uploaded
    # after the same bytes as page.txt got the plain-text reading, markup and script included.
    page = b"<html><body><p>Ada Lovelace wrote notes.</p><script>steal()</script></body></html>"
    as_text = add_files(user, "as_text", [("page.txt", page)]).json()["dataset_id"]
    assert cognify(user, as_text)["status"] == "PipelineRunCompleted"
    other = sign_up(offline.base_url)
    try:
        as_html = add_files(other, "as_html", [("page.html", page)]).json()["dataset_id"]
        assert cognify(other, as_html)["status"] == "PipelineRunCompleted"
    finally:
        other.close()
    text_chunks = " ".join(t for _, t in stored_chunks(offline.settings, as_text))
    html_chunks = " ".join(t for _, t in stored_chunks(offline.settings, as_html))
    assert "<script>" in text_chunks
    assert "Ada Lovelace wrote notes." in html_chunks
    assert "<" not in html_chunks and "steal()" not in html_chunks


def test_a_pdf_without_text_fails_with_a_reason_never_empty(user: Api) -> None:
    ds = add_files(user, "scans", fixture_files("scanned.pdf", "sample.txt")).json()["dataset_id"]
    result = cognify(user, ds)
    assert result["status"] == "PipelineRunErrored"
    states = item_states(user, ds)
    assert states["scanned.pdf"]["state"] == "failed"
    assert states["scanned.pdf"]["errorClass"] == "no_extractable_text"
    assert states["scanned.pdf"]["errorMessage"]
    assert states["sample.txt"]["state"] == "completed"


def test_the_same_entity_in_many_documents_is_one_node(user: Api) -> None:
    files = [
        ("a.txt", b"Marie Curie worked in Paris. Marie Curie won the Nobel Prize."),
        ("b.txt", b"In 1903 Marie Curie shared a prize with Pierre Curie."),
    ]
    ds = add_files(user, "people", files).json()["dataset_id"]
    cognify(user, ds)
    nodes = user.get(f"/api/v1/datasets/{ds}/graph").json()["nodes"]
    curie = [n for n in nodes if n["label"] == "Marie Curie"]
    assert len(curie) == 1
    assert curie[0]["properties"]["sources"] == 2
    assert curie[0]["properties"]["mentions"] >= 2


def test_llm_extraction_counts_tokens_and_calls(
    settings_factory: Any, fake_llm: FakeOpenAI
) -> None:
    with LiveServer(settings_factory(**llm_settings(fake_llm))) as live:
        api = sign_up(live.base_url)
        ds = add_files(api, "llm", fixture_files("sample.txt", "sample.md")).json()["dataset_id"]
        result = cognify(api, ds)
        assert result["status"] == "PipelineRunCompleted", result
        run = api.get(f"/api/v1/runs/{result['pipeline_run_id']}").json()
        assert run["llm_calls"] == fake_llm.calls["chat"] > 0
        prompt, completion = fake_llm.usage
        assert run["tokens"] == {"in": prompt, "out": completion}
        states = item_states(api, ds)
        assert all(s["state"] == "completed" for s in states.values())
        assert fake_llm.chat_bodies[0]["model"] == "fake-model"
        graph = api.get(f"/api/v1/datasets/{ds}/graph").json()
        assert graph["nodes"]


def test_identical_content_in_another_dataset_costs_no_llm_call(
    settings_factory: Any, fake_llm: FakeOpenAI
) -> None:
    with LiveServer(settings_factory(**llm_settings(fake_llm))) as live:
        api = sign_up(live.base_url)
        files = fixture_files("sample.txt")
        first = add_files(api, "first", files).json()["dataset_id"]
        cognify(api, first)
        paid = fake_llm.calls["chat"]
        assert paid > 0
        other = sign_up(live.base_url)  # another user, another dataset
        second = add_files(other, "second", files).json()["dataset_id"]
        result = cognify(other, second)
        assert fake_llm.calls["chat"] == paid
        run = other.get(f"/api/v1/runs/{result['pipeline_run_id']}").json()
        assert run["llm_calls"] == 0
        assert run["counts"]["completed"] == 1
        assert other.get(f"/api/v1/datasets/{second}/graph").json()["nodes"]


def test_rate_limit_is_never_exceeded(settings_factory: Any, fake_llm: FakeOpenAI) -> None:
    fake_llm.configure(rate_limit=3, window=2.0)
    settings = settings_factory(
        **llm_settings(
            fake_llm,
            llm_rate_limit_requests=3,
            llm_rate_limit_interval=2.0,
        )
    )
    with LiveServer(settings) as live:
        api = sign_up(live.base_url)
        files = [
            (f"n{i}.txt", f"Grace Hopper visited Boston {i} times.".encode()) for i in range(4)
        ]
        ds = add_files(api, "limited", files).json()["dataset_id"]
        result = cognify(api, ds)
        assert result["status"] == "PipelineRunCompleted", result
        # One call per one-chunk document (its graph and summary together): 4 > 3 a window.
        assert fake_llm.calls["chat"] == 4
        assert not fake_llm.limit_exceeded


def test_custom_prompt_and_schema_are_used(settings_factory: Any, fake_llm: FakeOpenAI) -> None:
    with LiveServer(settings_factory(**llm_settings(fake_llm))) as live:
        api = sign_up(live.base_url)
        ds = add_files(api, "schema", fixture_files("sample.txt")).json()["dataset_id"]
        assert api.get(f"/api/v1/datasets/{ds}/schema").json() == {
            "graph_schema": None,
            "custom_prompt": None,
        }
        r = api.put(
            f"/api/v1/datasets/{ds}/schema",
            json={"customPrompt": "Extract only PEOPLE, you are a careful archivist."},
        )
        assert r.status_code == 200
        assert r.json() == {"status": "ok"}
        assert (
            api.get(f"/api/v1/datasets/{ds}/schema")
            .json()["custom_prompt"]
            .startswith("Extract only PEOPLE")
        )
        cognify(api, ds)
        systems = [
            m["content"]
            for body in fake_llm.chat_bodies
            for m in body["messages"]
            if m["role"] == "system"
        ]
        assert any("careful archivist" in s for s in systems)


def test_schema_needs_write_and_hides_unreadable_datasets(user: Api, offline: LiveServer) -> None:
    ds = user.post("/api/v1/datasets", json={"name": "mine"}).json()["id"]
    other = sign_up(offline.base_url)
    assert other.get(f"/api/v1/datasets/{ds}/schema").status_code == 404
    assert other.put(f"/api/v1/datasets/{ds}/schema", json={}).status_code == 404
    user.post(
        f"/api/v1/permissions/datasets/{other.user_id}",
        params={"permission_name": "read"},
        json=[ds],
    )
    assert other.get(f"/api/v1/datasets/{ds}/schema").status_code == 200
    assert other.put(f"/api/v1/datasets/{ds}/schema", json={}).status_code == 403
    other.close()


def test_a_different_embedding_model_is_an_explicit_error(
    settings_factory: Any, fake_llm: FakeOpenAI, tmp_path: Path
) -> None:
    local = settings_factory()
    with LiveServer(local) as live:
        api = sign_up(live.base_url, "mixer@example.com")
        ds = add_files(api, "mixed", fixture_files("sample.txt")).json()["dataset_id"]
        assert cognify(api, ds)["status"] == "PipelineRunCompleted"
    fake_llm.configure(embedding_dimension=64)
    remote = local.model_copy(
        update={
            "embedding_provider": "openai_compatible",
            "embedding_model": "fake-embedder",
            "embedding_endpoint": fake_llm.base_url,
            "embedding_api_key": fake_llm.api_key,
        }
    )
    with LiveServer(remote) as live:
        api.base_url = live.base_url  # type: ignore[assignment]
        add_files(api, "mixed", fixture_files("sample.md"))
        result = cognify(api, ds)
        assert result["status"] == "PipelineRunErrored"
        state = item_states(api, ds)["sample.md"]
        assert state["errorClass"] == "embedding_model_mismatch"
        message = state["errorMessage"]
        assert "all-MiniLM-L6-v2" in message and "384" in message
        assert "fake-embedder" in message and "64" in message


def test_deleting_a_shared_file_removes_exactly_what_only_it_supported(
    user: Api, offline: LiveServer
) -> None:
    planted = b"Zorblax Quentaro founded Vexilon Industries in Karthane. Ada Lovelace wrote notes."
    common = b"Ada Lovelace worked with Charles Babbage in London on the Analytical Engine."
    a = add_files(user, "a", [("shared.txt", planted), ("common.txt", common)]).json()
    b = add_files(user, "b", [("shared.txt", planted)]).json()
    ds_a, ds_b = a["dataset_id"], b["dataset_id"]
    shared_in_a = a["data_ingestion_info"][0]["data_id"]
    cognify(user, ds_a)
    cognify(user, ds_b)
    graph_b_before = user.get(f"/api/v1/datasets/{ds_b}/graph").json()
    graph_a = user.get(f"/api/v1/datasets/{ds_a}/graph").json()
    assert any("Zorblax" in n["label"] for n in graph_a["nodes"])
    ada_before = next(n for n in graph_a["nodes"] if n["label"] == "Ada Lovelace")
    assert ada_before["properties"]["sources"] == 2

    r = user.delete(f"/api/v1/datasets/{ds_a}/data/{shared_in_a}")
    assert r.status_code == 200

    graph_a = user.get(f"/api/v1/datasets/{ds_a}/graph").json()
    text = repr(graph_a)
    assert "Zorblax" not in text and "Vexilon" not in text and "Karthane" not in text
    ada = next(n for n in graph_a["nodes"] if n["label"] == "Ada Lovelace")
    assert ada["properties"]["sources"] == 1
    assert "wrote notes" not in ada["properties"]["description"]
    node_ids = {n["id"] for n in graph_a["nodes"]}
    assert all(e["source"] in node_ids and e["target"] in node_ids for e in graph_a["edges"])
    chunks_a = stored_chunks(offline.settings, ds_a)
    assert chunks_a and all("Zorblax" not in t for _, t in chunks_a)
    assert all(d != shared_in_a for d, _ in chunks_a)
    # Dataset B is untouched.
    assert user.get(f"/api/v1/datasets/{ds_b}/graph").json() == graph_b_before
    assert any("Zorblax" in t for _, t in stored_chunks(offline.settings, ds_b))
