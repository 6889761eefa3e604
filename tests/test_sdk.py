"""The Python API: cognee's SDK calls, in-process (the example, in a subprocess) and against
a server with `graphmill.connect`, answering what the REST API answers."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

import graphmill
from graphmill.client.base import Client
from graphmill.client.local import LocalClient
from graphmill.config import Settings
from graphmill.errors import (
    DatasetNotFound,
    InvalidInput,
    NoForgetTarget,
    RemoteError,
    UnknownRecallScope,
)
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
        "remember: completed main_dataset",
        "recall: session | Velden Optics opened a shop in Bergen.",
        "forget: success",
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


HARBOUR = "Anders Holt was harbour master of Corvin in 1890."
BEES = "The bees of Oslo make heather honey."


def in_process(settings: Settings) -> graphmill.Graphmill:
    """`graphmill.local()` on the test's store (whichever backend it is)."""

    @asynccontextmanager
    async def opener(execute: bool) -> AsyncIterator[Client]:
        client = await LocalClient.open(settings, execute=execute)
        try:
            yield client
        finally:
            await client.aclose()

    return graphmill.Graphmill(opener)


def test_remember_recall_forget_in_process(settings: Settings) -> None:
    sdk = in_process(settings)

    async def work() -> None:
        done = await sdk.remember([HARBOUR, BEES], dataset_name="notes", session_id="chat")
        assert done["status"] == "completed" and done["items_processed"] == 2
        assert done["dataset_name"] == "notes" and done["session_ids"] == ["chat"]
        [harbour] = [i for i in done["items"] if i["name"].startswith("text_")][:1]

        graph = await sdk.recall("Anders Holt", "chunks_lexical", datasets="notes", top_k=1)
        assert [(i["source"], i["kind"]) for i in graph] == [("graph", "chunk")]
        assert "Anders Holt" in graph[0]["text"] and graph[0]["data_id"] == harbour["id"]
        chat = await sdk.recall("heather honey", session_id="chat", scope="session")
        assert chat and {i["source"] for i in chat} == {"session"}
        assert chat[0]["text"] == BEES and chat[0]["session_id"] == "chat"

        # bad input: a clear error, and nothing changes
        with pytest.raises(NoForgetTarget):
            await sdk.forget()
        with pytest.raises(UnknownRecallScope):
            await sdk.recall("x", scope="everywhere")
        dataset = uuid.UUID(done["dataset_id"])
        assert len(await sdk.datasets.list_data(dataset)) == 2

        item = uuid.UUID(harbour["id"])
        gone = await sdk.forget(data_id=item, dataset="notes")
        assert gone == {"data_id": str(item), "dataset_id": str(dataset), "status": "success"}
        assert [i.id for i in await sdk.datasets.list_data(dataset)] != [item]
        assert len(await sdk.datasets.list_data(dataset)) == 1
        assert await sdk.forget(dataset=dataset) == {
            "dataset_id": str(dataset),
            "status": "success",
        }
        assert await sdk.datasets.list_datasets() == []

    asyncio.run(work())


def test_remember_recall_forget_against_a_server(server: LiveServer, alice: Api) -> None:
    key = alice.post("/api/v1/auth/api-keys", json={"name": "sdk"}).json()["key"]

    async def work() -> None:
        async with graphmill.connect(server.base_url, api_key=key) as remote:
            done = await remote.remember(
                HARBOUR, dataset_name="mem", session_id="s1", custom_prompt="Extract people."
            )
            assert done["status"] == "completed" and done["items_processed"] == 1
            assert done["session_ids"] == ["s1"]
            schema = alice.get(f"/api/v1/datasets/{done['dataset_id']}/schema").json()
            assert schema["custom_prompt"] == "Extract people."  # the option reached the server

            # the same items as the REST call; search_type None is "choose for me"
            found = await remote.recall("Anders Holt", datasets=["mem"], top_k=3)
            wire = alice.post(
                "/api/v1/recall",
                json={"query": "Anders Holt", "datasets": ["mem"], "top_k": 3, "search_type": None},
            ).json()
            assert found == wire and found[0]["source"] == "graph"
            assert "Anders Holt" in found[0]["text"]
            both = await remote.recall("harbour master", session_id="s1", scope=["session"])
            assert [i["source"] for i in both] == ["session"]

            with pytest.raises(RemoteError) as refused:
                await remote.forget()
            assert refused.value.status == 422 and "Specify dataset" in str(refused.value)
            assert await remote.forget(memory_only=True, dataset="mem") == {
                "dataset_id": done["dataset_id"],
                "data_records_reset": 1,
                "status": "success",
            }
            assert await remote.forget(everything=True) == {
                "datasets_removed": 1,
                "status": "success",
            }
            assert alice.get("/api/v1/datasets").json() == []

    asyncio.run(work())


def test_improve_entries_and_sessions_in_process_and_against_a_server(
    settings: Settings, server: LiveServer, alice: Api
) -> None:
    """`improve`, `remember_entry` (and `remember` of an entry) and `sessions.*` answer the
    same in-process and with `connect`, and what the routes answer."""
    key = alice.post("/api/v1/auth/api-keys", json={"name": "sdk"}).json()["key"]

    async def work(sdk: graphmill.Graphmill) -> dict[str, object]:
        await sdk.remember(HARBOUR, dataset_name="imp", session_id="s")
        question = graphmill.QAEntry(question="Who was harbour master?", answer="Anders Holt")
        qa = await sdk.remember_entry(question, "imp", session_id="s")
        assert qa["status"] == "session_stored" and qa["entry_type"] == "qa"
        feedback = graphmill.FeedbackEntry(
            qa_id=qa["entry_id"], feedback_text="right", feedback_score=5
        )
        assert (await sdk.remember(feedback, "imp", session_id="s"))["entry_type"] == "feedback"
        trace = {"type": "trace", "origin_function": "lookup_harbour"}
        assert (await sdk.remember_entry(trace, session_id="s"))["entry_type"] == "trace"

        # bad input: a clear error, and nothing is stored
        with pytest.raises((InvalidInput, RemoteError)) as no_session:
            await sdk.remember_entry(question, "imp")
        assert "session_id is required" in str(no_session.value)
        with pytest.raises((DatasetNotFound, RemoteError)):
            await sdk.improve("no-such-dataset")

        page = await sdk.sessions.list_sessions(range="all")
        [session] = page["sessions"]
        one = await sdk.sessions.get_session("s")
        assert [q["feedback_score"] for q in one["qas"]] == [None, 5]
        assert [t["origin_function"] for t in one["traces"]] == ["lookup_harbour"]
        improved = await sdk.improve("imp", session_ids=["s"])
        assert improved["status"] != "errored" and improved["session_ids"] == ["s"]
        return {
            "session": (session["session_id"], session["msg_count"], session["tool_calls"]),
            "total": page["total"],
            "stages": [(s["stage"], s["status"]) for s in improved["stages"]],
        }

    async def both() -> None:
        local = await work(in_process(settings))
        async with graphmill.connect(server.base_url, api_key=key) as remote:
            assert await work(remote) == local
            assert await remote.sessions.list_sessions() == alice.get("/api/v1/sessions").json()
        assert local["session"] == ("s", 2, 1) and local["total"] == 1

    asyncio.run(both())
