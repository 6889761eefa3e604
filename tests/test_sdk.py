"""The Python API: cognee's SDK calls, in-process (the example, in a subprocess) and against
a server with `graphmill.connect`, answering what the REST API answers."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from pathlib import Path

import graphmill
from graphmill.config import Settings
from tests.conftest import LiveServer
from tests.support import Api, settings_env

ROOT = Path(__file__).resolve().parent.parent


def test_the_example_runs_in_process(settings: Settings, tmp_path: Path) -> None:
    env = {**os.environ, **settings_env(settings), "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    env.pop("GRAPHMILL_URL", None)
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "python_api.py")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "cognify: ['PipelineRunCompleted']",
        "top hit: Marta Lindqvist founded Velden Optics in Corvin in 1903. | from velden.md",
        "items: 4",
        "status: DATASET_PROCESSING_COMPLETED",
        "after delete: 3",
    ]


def test_connect_has_the_same_methods_against_a_server(server: LiveServer, alice: Api) -> None:
    key = alice.post("/api/v1/auth/api-keys", json={"name": "sdk"}).json()["key"]

    async def work() -> None:
        async with graphmill.connect(server.base_url, api_key=key) as remote:
            added = await remote.add(
                ["Velden Optics is headquartered in Corvin.", io.BytesIO(b"Oslo harbour.")],
                dataset_name="sdk",
            )
            assert len(added.data_ingestion_info or []) == 2
            runs = await remote.cognify("sdk")
            assert [r.status for r in runs.values()] == ["PipelineRunCompleted"]
            [envelope] = await remote.search(
                "headquartered", query_type="chunks_lexical", datasets="sdk", top_k=1
            )
            assert "Corvin" in envelope.search_result[0]["text"]

            listed = await remote.datasets.list_datasets()
            wire = alice.get("/api/v1/datasets").json()
            assert [d.model_dump(mode="json", by_alias=True) for d in listed] == wire
            items = await remote.datasets.list_data(added.dataset_id)
            status = await remote.datasets.get_status([added.dataset_id])
            assert status == {str(added.dataset_id): "DATASET_PROCESSING_COMPLETED"}
            await remote.datasets.delete_data(added.dataset_id, items[0].id)
            assert len(await remote.datasets.list_data(added.dataset_id)) == 1

    asyncio.run(work())


def test_search_and_cognify_stay_functions_when_their_packages_load() -> None:
    import graphmill.cognify.steps
    import graphmill.search.service

    assert callable(graphmill.search) and callable(graphmill.cognify)
    assert graphmill.search.__doc__ and "Search the datasets" in graphmill.search.__doc__
