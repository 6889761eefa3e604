"""The rest of the calls cognee's clients make, over HTTP: update, the legacy delete,
visualize, paged data listings and their count, progress per pipeline, code_graph_pipeline,
/users/me without authentication, and the first user from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from graphmill.config import Settings
from tests.conftest import LiveServer
from tests.support import Api
from tests.test_memory import BEES, HARBOUR, remember, text_part

ROOT = Path(__file__).resolve().parent.parent


def test_update_replaces_an_item_and_rederives_it(alice: Api, bob: Api) -> None:
    body = remember(alice, [HARBOUR, BEES], datasetName="u").json()
    ds, harbour = body["dataset_id"], body["items"][0]["id"]
    new_text = "Greymouth Harbour was rebuilt in 1921 by the harbour master Liv Brenna."
    r = alice.patch(
        "/api/v1/update",
        params={"data_id": harbour, "dataset_id": ds},
        files=[text_part(new_text)],
    )
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["status"] == "completed" and result["previous_data_id"] == harbour
    assert result["dataset_id"] == ds and result["duration_seconds"] >= 0
    items = {i["id"]: i for i in alice.get(f"/api/v1/datasets/{ds}/data").json()}
    assert harbour not in items and result["data_id"] in items and len(items) == 2
    labels = {n["label"] for n in alice.get(f"/api/v1/datasets/{ds}/graph").json()["nodes"]}
    assert "Liv Brenna" in labels and "Anders Holt" not in labels  # provenance-exact
    # unknown item, someone else's dataset, two files: refused, nothing changes
    assert (
        alice.patch(
            "/api/v1/update", params={"data_id": harbour, "dataset_id": ds}, files=[text_part("x")]
        ).status_code
        == 404
    )
    assert (
        bob.patch(
            "/api/v1/update",
            params={"data_id": result["data_id"], "dataset_id": ds},
            files=[text_part("x")],
        ).status_code
        == 404
    )
    r = alice.patch(
        "/api/v1/update",
        params={"data_id": result["data_id"], "dataset_id": ds},
        files=[text_part("x"), text_part("y")],
    )
    assert r.status_code == 400 and "exactly one file" in r.json()["error"]
    assert len(alice.get(f"/api/v1/datasets/{ds}/data").json()) == 2


def test_legacy_delete_visualize_pages_count_progress(alice: Api, bob: Api) -> None:
    texts = [f"Note {i} about the Marwick Tidal Works." for i in range(5)]
    body = remember(alice, texts, datasetName="p").json()
    ds = body["dataset_id"]
    # the MCP server's delete
    victim = body["items"][0]["id"]
    r = alice.delete("/api/v1/delete", params={"data_id": victim, "dataset_id": ds, "mode": "hard"})
    assert (r.status_code, r.json()) == (200, {"status": "success"})
    r = alice.delete("/api/v1/delete", params={"data_id": victim, "dataset_id": ds})
    assert r.status_code == 404  # cognee answers 200 for an unknown item
    # pages (the SDK pages with limit/offset until a short page) and the count
    assert alice.get(f"/api/v1/datasets/{ds}/data/count").json() == {"count": 4}
    pages = [
        alice.get(f"/api/v1/datasets/{ds}/data", params={"limit": 3, "offset": o}).json()
        for o in (0, 3)
    ]
    assert [len(p) for p in pages] == [3, 1]
    every = alice.get(f"/api/v1/datasets/{ds}/data").json()
    assert [i["id"] for i in pages[0] + pages[1]] == [i["id"] for i in every]
    assert alice.get(f"/api/v1/datasets/{ds}/data", params={"limit": 1001}).status_code == 400
    assert bob.get(f"/api/v1/datasets/{ds}/data/count").status_code == 404
    # progress, nested per pipeline as cognee 1.6.5 answers it for the MCP server
    r = alice.get(
        "/api/v1/datasets/status/progress",
        params=[
            ("dataset", ds),
            ("pipeline", "add_pipeline"),
            ("pipeline", "cognify_pipeline"),
            ("pipeline", "code_graph_pipeline"),
        ],
    )
    assert r.status_code == 200, r.text
    nested = r.json()[ds]
    assert set(nested) == {"add_pipeline", "cognify_pipeline"}
    cognify = nested["cognify_pipeline"]
    assert cognify["status"] == "DATASET_PROCESSING_COMPLETED"
    tick = cognify["progress"]
    assert tick["completed_items"] == tick["total_items"] == 5 and tick["current_stage"] is None
    assert tick["failed"] == 0  # graphmill's counts beside cognee's
    flat = alice.get("/api/v1/datasets/status/progress", params={"dataset": ds}).json()
    assert flat[ds] == cognify
    r = alice.get(
        "/api/v1/datasets/status", params={"dataset": ds, "pipeline": "code_graph_pipeline"}
    )
    assert (r.status_code, r.json()) == (200, {})
    # the graph as a self-contained page
    page = alice.get("/api/v1/visualize", params={"dataset_id": ds})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Marwick Tidal Works" in page.text
    assert "src=" not in page.text and "http://" not in page.text.replace("http://www.w3", "")
    assert bob.get("/api/v1/visualize", params={"dataset_id": ds}).status_code == 404


def test_memory_routes_need_a_credential(anon: httpx.Client) -> None:
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/api/v1/recall", {"json": {"query": "x"}}),
        ("GET", "/api/v1/recall", {}),
        ("POST", "/api/v1/forget", {"json": {"everything": True}}),
        (
            "POST",
            "/api/v1/remember/entry",
            {"json": {"entry": {"type": "qa", "question": "q", "answer": "a"}}},
        ),
        ("GET", "/api/v1/sessions", {}),
        ("GET", "/api/v1/visualize?dataset_id=00000000-0000-0000-0000-000000000000", {}),
        (
            "DELETE",
            "/api/v1/delete?data_id=00000000-0000-0000-0000-000000000000"
            "&dataset_id=00000000-0000-0000-0000-000000000000",
            {},
        ),
    ]
    for method, path, kwargs in calls:
        assert anon.request(method, path, **kwargs).status_code == 401, path
    r = anon.post("/api/v1/remember", files=[text_part(BEES)], data={"datasetName": "x"})
    assert r.status_code == 401


def test_create_user_from_the_command_line(server: LiveServer, settings: Settings) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GRAPHMILL_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env["GRAPHMILL_DATABASE_URL"] = settings.database_url
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "graphmill.cli",
            "create-user",
            "--email",
            "first@example.com",
            "--api-key",
            "sdk",
        ],
        input="s3cret words\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(": ", 1) for line in done.stdout.splitlines())
    with httpx.Client(base_url=server.base_url) as client:
        login = client.post(
            "/api/v1/auth/login", data={"username": "first@example.com", "password": "s3cret words"}
        )
        assert login.status_code == 200
        me = client.get("/api/v1/users/me", headers={"X-Api-Key": lines["api_key"]})
        assert me.json()["id"] == lines["user_id"]
    again = subprocess.run(
        [sys.executable, "-m", "graphmill.cli", "create-user", "--email", "first@example.com"],
        input="other\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert again.returncode == 1 and "Traceback" not in again.stderr
