"""The main job on the embedded default: start graphmill, add, cognify, show the graph.

Run through `scripts/quickstart`. Starts `graphmill serve` on a free port with a data folder
in `.graphmill-demo/`, signs up a throw-away user, adds `samples/graphmill.md`, cognifies it
(offline extractor and the local embedding model unless an LLM is configured), prints the
run, the graph summary and the graph, the dataset status and its data items, downloads the
file back and checks it byte for byte, then does add, cognify and search again with the CLI.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(base_url: str, server: subprocess.Popen[bytes], started: float) -> dict:
    while True:
        if server.poll() is not None:
            sys.exit("graphmill exited during start-up; see the log above")
        try:
            health = httpx.get(f"{base_url}/health", timeout=1)
            if health.status_code == 200:
                body: dict = health.json()
                body["seconds_to_healthy"] = round(time.monotonic() - started, 2)
                return body
        except httpx.TransportError:
            pass
        time.sleep(0.05)


def show(title: str, value: object) -> None:
    print(f"\n== {title}")
    print(json.dumps(value, indent=2, ensure_ascii=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=str(ROOT / ".graphmill-demo"))
    parser.add_argument("--file", default=str(ROOT / "samples" / "graphmill.md"))
    args = parser.parse_args()

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "graphmill.cli", "serve", "--port", str(port)]
    started = time.monotonic()
    server = subprocess.Popen(
        [*command, "--data-dir", args.data_dir], env={**os.environ, "LOG_LEVEL": "WARNING"}
    )
    try:
        show("health", wait_healthy(base_url, server, started))
        client = httpx.Client(base_url=base_url, timeout=60)
        email, password = f"demo-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(16)
        client.post("/api/v1/auth/register", json={"email": email, "password": password})
        token = client.post(
            "/api/v1/auth/login", data={"username": email, "password": password}
        ).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"

        sample = Path(args.file)
        content = sample.read_bytes()
        added = client.post(
            "/api/v1/add",
            files={"data": (sample.name, content)},
            data={"datasetName": "demo"},
        )
        added.raise_for_status()
        show("POST /api/v1/add", added.json())
        dataset_id = added.json()["dataset_id"]
        data_id = added.json()["data_ingestion_info"][0]["data_id"]

        cognified = client.post("/api/v1/cognify", json={"datasetIds": [dataset_id]})
        cognified.raise_for_status()
        run = cognified.json()[dataset_id]
        show(
            "POST /api/v1/cognify",
            {"status": run["status"], "pipeline_run_id": run["pipeline_run_id"]},
        )
        show(
            "GET /api/v1/runs/{run_id}", client.get(f"/api/v1/runs/{run['pipeline_run_id']}").json()
        )
        show(
            "GET /api/v1/datasets/graph-summary",
            client.get("/api/v1/datasets/graph-summary", params={"dataset_ids": dataset_id}).json(),
        )
        graph = client.get(f"/api/v1/datasets/{dataset_id}/graph").json()
        names = {n["id"]: n["label"] for n in graph["nodes"]}
        show(
            "GET /api/v1/datasets/{id}/graph (entities and relations)",
            {
                "entities": [f"{n['label']} ({n['type']})" for n in graph["nodes"]],
                "relations": [
                    f"{names[e['source']]} -[{e['label']}]-> {names[e['target']]}"
                    for e in graph["edges"]
                ],
            },
        )

        status = client.get(
            "/api/v1/datasets/status",
            params={"dataset": dataset_id, "pipeline": ["add_pipeline", "cognify_pipeline"]},
        )
        show("GET /api/v1/datasets/status", status.json())
        show(
            "GET /api/v1/datasets/{id}/data",
            client.get(f"/api/v1/datasets/{dataset_id}/data").json(),
        )

        raw = client.get(f"/api/v1/datasets/{dataset_id}/data/{data_id}/raw")
        same = raw.content == content
        show(
            "GET /api/v1/datasets/{id}/data/{data_id}/raw",
            {
                "status": raw.status_code,
                "content-type": raw.headers["content-type"],
                "content-disposition": raw.headers["content-disposition"],
                "bytes": len(raw.content),
                "sha256": hashlib.sha256(raw.content).hexdigest(),
                "identical_to_upload": same,
            },
        )
        if not same:
            sys.exit("the download differs from the upload")

        # The same flow with the CLI, against this server with an API key.
        key = client.post("/api/v1/auth/api-keys", json={"name": "demo"}).json()["key"]
        cli = [sys.executable, "-m", "graphmill.cli", "--url", base_url, "--api-key", key]
        for step in (
            ["add", str(sample), "--dataset", "cli-demo"],
            ["cognify", "cli-demo"],  # a live progress bar in a terminal
            ["search", "What does graphmill store?", "-d", "cli-demo", "--top-k", "2"],
        ):
            print(f"\n== graphmill {' '.join(step)}", flush=True)
            subprocess.run([*cli, *step], check=True)
        print(f"\ngraphmill works. Data folder: {args.data_dir}")
        print(
            "The web app: `.venv/bin/graphmill serve --data-dir .graphmill-demo`, then open "
            "http://127.0.0.1:8000/ui/ (sign in with a new account)."
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
