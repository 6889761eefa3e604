"""The real `graphmill` command in subprocesses: in-process on a store, and against a server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from graphmill.client import LocalClient
from graphmill.config import Settings
from tests.conftest import LiveServer
from tests.support import settings_env
from tests.test_recovery import FAST

ROOT = Path(__file__).resolve().parent.parent


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        **settings_env(settings),
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "COLUMNS": "200",
        **extra,
    }


def graphmill(
    env: dict[str, str], *args: str, stdin: bytes = b"", cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    # Output goes to files, not pipes: waiting for the process never depends on a pipe's end.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        done = subprocess.run(
            [sys.executable, "-m", "graphmill.cli", *args],
            input=stdin,
            stdout=out,
            stderr=err,
            timeout=300,
            env=env,
            cwd=cwd,
        )
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(
            done.args, done.returncode, out.read().decode(), err.read().decode()
        )


def ok(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout) if done.stdout.lstrip().startswith(("[", "{")) else done.stdout


def test_in_process_add_cognify_search_download(settings: Settings, tmp_path: Path) -> None:
    env = cli_env(settings)
    docs = tmp_path / "docs"
    (docs / "deep").mkdir(parents=True)
    (docs / "velden.txt").write_text("Marta Lindqvist founded Velden Optics in Corvin in 1903.\n")
    (docs / "deep" / "harbour.md").write_text("The harbour master of Corvin bought a lens.\n")
    (docs / ".hidden.txt").write_text("never added\n")
    (tmp_path / "x1.txt").write_text("Glob one: the lighthouse keeper.\n")
    (tmp_path / "x2.txt").write_text("Glob two: the ferry captain.\n")

    added = ok(
        graphmill(
            env,
            "add",
            str(docs),
            str(tmp_path / "x*.txt"),  # quoted: the command expands it
            "-",
            "--dataset",
            "docs",
            "--json",
            stdin=b"From stdin: the quartermaster kept a zeppelin logbook.\n",
        )
    )
    assert added["dataset_name"] == "docs"
    assert len(added["data_ingestion_info"]) == 5  # 2 in the folder (not the hidden one), 2, stdin

    cognified = graphmill(env, "cognify", "docs")
    assert cognified.returncode == 0, cognified.stderr
    assert "docs: completed — 5 completed, 0 failed, 0 skipped of 5" in cognified.stdout
    assert "5/5" in cognified.stderr  # the progress bar's last state

    envelopes = ok(
        graphmill(env, "--json", "search", "zeppelin logbook", "--type", "CHUNKS_LEXICAL")
    )
    [hit] = [h for e in envelopes for h in e["search_result"]]
    assert hit["document_name"] == "stdin.txt" and "zeppelin" in hit["text"]
    assert hit["raw_url"].endswith(f"/data/{hit['data_id']}/raw")

    human = ok(graphmill(env, "search", "harbour master", "-d", "docs", "--type", "CHUNKS"))
    assert "source: harbour.md" in human

    assert ok(graphmill(env, "data", "download", "docs", "velden.txt", cwd=tmp_path)) == ""
    assert (tmp_path / "velden.txt").read_bytes() == (docs / "velden.txt").read_bytes()

    missing = graphmill(env, "data", "download", "docs", "nope.txt", cwd=tmp_path)
    assert missing.returncode == 1
    assert "No data item 'nope.txt' in dataset 'docs'" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert not list(tmp_path.glob("*.part-*"))  # a failed download leaves nothing
    verbose = graphmill(env, "-v", "data", "download", "docs", "nope.txt", cwd=tmp_path)
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr


def test_remote_with_an_api_key_made_by_the_local_cli(
    settings: Settings, server: LiveServer, tmp_path: Path
) -> None:
    """The first account and its key come from the CLI on the server's store; then every
    command drives the server, and answers what the REST API answers."""
    env = cli_env(settings)
    ok(graphmill(env, "users", "create", "first@example.com", "--password", "pw-first"))
    key = ok(graphmill(env, "--as", "first@example.com", "api-keys", "create", "--json"))["key"]
    remote = cli_env(settings, GRAPHMILL_URL=server.base_url, GRAPHMILL_API_KEY=key)

    (tmp_path / "a.txt").write_text("Velden Optics is headquartered in Corvin.\n")
    ok(graphmill(remote, "add", str(tmp_path / "a.txt"), "--dataset", "remote"))
    runs = ok(graphmill(remote, "cognify", "remote", "--json"))
    assert [r["state"] for r in runs] == ["completed"]
    assert runs[0]["counts"]["completed"] == 1

    with httpx.Client(base_url=server.base_url, headers={"X-Api-Key": key}) as http:
        assert (
            ok(graphmill(remote, "datasets", "list", "--json"))
            == http.get("/api/v1/datasets").json()
        )
        [dataset] = http.get("/api/v1/datasets").json()
        assert (
            ok(graphmill(remote, "runs", "list", "remote", "--json"))
            == http.get(f"/api/v1/datasets/{dataset['id']}/runs").json()
        )
    [row] = ok(graphmill(remote, "status", "--json"))
    assert row["status"] == "DATASET_PROCESSING_COMPLETED"
    assert row["progress"]["completed"] == 1

    refused = graphmill({**remote, "GRAPHMILL_API_KEY": "wrong"}, "datasets", "list")
    assert refused.returncode == 1
    assert "refused the credentials" in refused.stderr and "Traceback" not in refused.stderr
    gone = graphmill({**remote, "GRAPHMILL_URL": "http://127.0.0.1:9"}, "status")
    assert gone.returncode == 1 and "Cannot reach http://127.0.0.1:9" in gone.stderr


def _run_of(settings: Settings, dataset: str) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        client = await LocalClient.open(settings)
        try:
            datasets = {d.name: d.id for d in await client.list_datasets()}
            if dataset not in datasets:
                return {}
            runs = await client.list_runs(datasets[dataset])
            cognify = [r for r in runs if r.pipeline_name == "cognify_pipeline"]
            return cognify[0].model_dump(mode="json") if cognify else {}
        finally:
            await client.aclose()

    return asyncio.run(read())


def test_ctrl_c_during_cognify_leaves_the_run_resumable(
    settings_factory: Any, tmp_path: Path
) -> None:
    settings = settings_factory(**FAST | {"item_concurrency": 1})
    env = cli_env(settings)
    for i in range(6):
        (tmp_path / f"slow{i}.txt").write_text(f"item {i} @sleep=0.4\n")
    ok(graphmill(env, "add", *(str(p) for p in sorted(tmp_path.glob("slow*"))), "-d", "slow"))

    stderr_file = tmp_path / "cognify.err"
    with stderr_file.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "graphmill.cli", "cognify", "slow"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    deadline = time.monotonic() + 120
    while _run_of(settings, "slow").get("counts", {}).get("completed", 0) < 1:
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=60)
    stderr = stderr_file.read_text()
    assert process.returncode == 130, stderr
    assert "Resume with `graphmill cognify slow`" in stderr and "Traceback" not in stderr

    stopped = _run_of(settings, "slow")
    assert stopped["state"] == "queued"  # handed back at once, not left to its lease
    kept = stopped["counts"]["completed"]
    assert 1 <= kept < 6

    resumed = graphmill(env, "cognify", "slow", "--json")
    [run] = ok(resumed)
    assert run["run_id"] == stopped["run_id"]  # the same run, resumed
    assert run["state"] == "completed" and run["counts"]["completed"] == 6
