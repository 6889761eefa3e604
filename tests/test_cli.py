"""The `graphmill` command in both modes: in-process on a store, and against a server.

One store and one server per backend for the module. Most commands run in this process
(`main` inside click's runner: the same parsing, output and error handling); real
subprocesses where the process matters: one per mode, `--help`, and Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from graphmill.cli import main
from graphmill.client.local import LocalClient
from graphmill.config import Settings
from tests.conftest import BACKENDS, LiveServer, make_settings
from tests.support import settings_env
from tests.test_recovery import FAST

ROOT = Path(__file__).resolve().parent.parent
# Runs the command, then fails if it loaded the database layer or the web framework.
LIGHT = (
    "import sys; from graphmill.cli import main; code = main(sys.argv[1:]); "
    "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'numpy', 'fastapi'}); "
    "assert not heavy, f'loaded {heavy}'; sys.exit(code)"
)


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        **settings_env(settings),
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "COLUMNS": "200",
        **extra,
    }


def graphmill(env: dict[str, str], *args: str, stdin: bytes = b"", light: bool = False) -> Done:
    """The command in a real subprocess (`light`: and it loads no database layer)."""
    command = ["-c", LIGHT] if light else ["-m", "graphmill.cli"]
    # Output goes to files, not pipes: waiting for the process never depends on a pipe's end.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        done = subprocess.run(
            [sys.executable, *command, *args],
            input=stdin,
            stdout=out,
            stderr=err,
            timeout=300,
            env=env,
        )
        out.seek(0)
        err.seek(0)
        return Done(done.returncode, out.read().decode(), err.read().decode())


def invoke(env: dict[str, str], *args: str, stdin: str = "") -> Done:
    """The command in this process: `main` with the environment, stdin and output swapped."""
    runner = CliRunner()
    with runner.isolation(input=stdin, env={"GRAPHMILL_URL": None, **env}) as (out, err, _):
        code = main(list(args))
        sys.stdout.flush()
        sys.stderr.flush()
        return Done(code, out.getvalue().decode(), err.getvalue().decode())


def ok(done: Done) -> Any:
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout) if done.stdout.lstrip().startswith(("[", "{")) else done.stdout


@pytest.fixture(scope="module", params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(request.param, tmp_path_factory.mktemp("cli"), request)


@pytest.fixture(scope="module")
def local_env(store: Settings) -> dict[str, str]:
    return cli_env(store)


@pytest.fixture(scope="module")
def live(store: Settings) -> Iterator[LiveServer]:
    with LiveServer(store) as server:
        yield server


@pytest.fixture(scope="module")
def remote_env(store: Settings, live: LiveServer, local_env: dict[str, str]) -> dict[str, str]:
    """The first account and its key come from the CLI on the server's store."""
    ok(invoke(local_env, "users", "create", "first@example.com", "--password", "pw-first"))
    key = ok(invoke(local_env, "--as", "first@example.com", "api-keys", "create", "--json"))["key"]
    return cli_env(store, GRAPHMILL_URL=live.base_url, GRAPHMILL_API_KEY=key)


@pytest.fixture(params=["local", "remote"])
def mode_env(request: pytest.FixtureRequest, local_env: dict[str, str]) -> dict[str, str]:
    if request.param == "local":
        return local_env
    env: dict[str, str] = request.getfixturevalue("remote_env")
    return env


def test_help_loads_no_database() -> None:
    done = graphmill({**os.environ, "PYTHONPATH": str(ROOT)}, "--help", light=True)
    assert done.returncode == 0, done.stderr
    for command in ("remember", "recall", "forget", "improve", "sessions", "cognify"):
        assert f"  {command} " in done.stdout


def test_in_process_add_cognify_search_download(local_env: dict[str, str], tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "deep").mkdir(parents=True)
    (docs / "velden.txt").write_text("Marta Lindqvist founded Velden Optics in Corvin in 1903.\n")
    (docs / "deep" / "harbour.md").write_text("The harbour master of Corvin bought a lens.\n")
    (docs / ".hidden.txt").write_text("never added\n")
    (tmp_path / "x1.txt").write_text("Glob one: the lighthouse keeper.\n")
    (tmp_path / "x2.txt").write_text("Glob two: the ferry captain.\n")

    added = ok(
        graphmill(  # a real process: stdin, the glob, the folder
            local_env,
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

    cognified = invoke(local_env, "cognify", "docs")
    assert cognified.returncode == 0, cognified.stderr
    assert "docs: completed — 5 completed, 0 failed, 0 skipped of 5" in cognified.stdout
    assert "5/5" in cognified.stderr  # the progress bar's last state

    envelopes = ok(
        invoke(local_env, "--json", "search", "zeppelin logbook", "--type", "CHUNKS_LEXICAL")
    )
    [hit] = [h for e in envelopes for h in e["search_result"]]
    assert hit["document_name"] == "stdin.txt" and "zeppelin" in hit["text"]
    assert hit["raw_url"].endswith(f"/data/{hit['data_id']}/raw")

    human = ok(invoke(local_env, "search", "harbour master", "-d", "docs", "--type", "CHUNKS"))
    assert "source: harbour.md" in human

    target = tmp_path / "copy.txt"
    assert ok(invoke(local_env, "data", "download", "docs", "velden.txt", "-o", str(target))) == ""
    assert target.read_bytes() == (docs / "velden.txt").read_bytes()

    nope = str(tmp_path / "nope.txt")
    missing = invoke(local_env, "data", "download", "docs", "nope.txt", "-o", nope)
    assert missing.returncode == 1
    assert "No data item 'nope.txt' in dataset 'docs'" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert not list(tmp_path.glob("*.part-*"))  # a failed download leaves nothing
    verbose = invoke(local_env, "-v", "data", "download", "docs", "nope.txt", "-o", nope)
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr


def test_remote_with_an_api_key_made_by_the_local_cli(
    remote_env: dict[str, str], live: LiveServer, tmp_path: Path
) -> None:
    """Every command drives the server and answers what the REST API answers."""
    (tmp_path / "a.txt").write_text("Velden Optics is headquartered in Corvin.\n")
    ok(invoke(remote_env, "add", str(tmp_path / "a.txt"), "--dataset", "remote"))
    # a real process over HTTP, which never loads the database layer
    runs = ok(graphmill(remote_env, "cognify", "remote", "--json", light=True))
    assert [r["state"] for r in runs] == ["completed"]
    assert runs[0]["counts"]["completed"] == 1

    key = remote_env["GRAPHMILL_API_KEY"]
    with httpx.Client(base_url=live.base_url, headers={"X-Api-Key": key}) as http:
        wire = http.get("/api/v1/datasets").json()
        assert ok(invoke(remote_env, "datasets", "list", "--json")) == wire
        [dataset] = [d for d in wire if d["name"] == "remote"]
        assert (
            ok(invoke(remote_env, "runs", "list", "remote", "--json"))
            == http.get(f"/api/v1/datasets/{dataset['id']}/runs").json()
        )
    [row] = ok(invoke(remote_env, "status", "remote", "--json"))
    assert row["status"] == "DATASET_PROCESSING_COMPLETED"
    assert row["progress"]["completed"] == 1

    refused = invoke({**remote_env, "GRAPHMILL_API_KEY": "wrong"}, "datasets", "list")
    assert refused.returncode == 1
    assert "refused the credentials" in refused.stderr and "Traceback" not in refused.stderr
    gone = invoke({**remote_env, "GRAPHMILL_URL": "http://127.0.0.1:9"}, "status")
    assert gone.returncode == 1 and "Cannot reach http://127.0.0.1:9" in gone.stderr


HARBOUR = "Anders Holt was harbour master of Corvin in 1890.\n"
BEES = "The bees of Oslo make heather honey.\n"


def test_memory_commands(mode_env: dict[str, str], tmp_path: Path) -> None:
    """remember, recall, sessions, improve and forget, the same in both modes."""
    env = mode_env
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "harbour.txt").write_text(HARBOUR)
    (notes / "lens.txt").write_text("Velden Optics ground a lens for the lighthouse.\n")
    args = ("remember", str(notes), "-", "-d", "notes", "--session-id", "chat", "--json")
    done = ok(invoke(env, *args, stdin=BEES))
    assert done["status"] == "completed" and done["items_processed"] == 3
    assert done["dataset_name"] == "notes" and done["session_ids"] == ["chat"]
    harbour_id = next(i["id"] for i in done["items"] if i["name"].startswith("harbour"))

    (tmp_path / "more.txt").write_text("The ferry to Corvin leaves at dawn.\n")
    human = invoke(env, "remember", str(tmp_path / "more.txt"), "-d", "notes")
    assert human.returncode == 0, human.stderr
    assert "notes: completed — 1 of 1 item(s) made into memory" in human.stdout

    found = ok(invoke(env, "recall", "Anders Holt", "--type", "chunks_lexical", "-d", "notes"))
    assert "Anders Holt was harbour master" in found and "source: harbour.txt" in found
    chat = ok(invoke(env, "recall", "heather honey", "--session-id", "chat", "--json"))
    assert next(i["text"] for i in chat if i["source"] == "session") == BEES

    page = ok(invoke(env, "sessions", "list", "--json"))
    assert [(s["session_id"], s["msg_count"]) for s in page["sessions"]] == [("chat", 3)]
    assert "chat" in ok(invoke(env, "sessions", "list", "--range", "all"))
    shown = ok(invoke(env, "sessions", "show", "chat", "--json"))
    assert BEES in [qa["answer"] for qa in shown["qas"]]
    assert "A: The bees of Oslo" in ok(invoke(env, "sessions", "show", "chat"))
    unknown = invoke(env, "sessions", "show", "nope")
    assert unknown.returncode == 1 and "not found" in unknown.stderr
    assert "Traceback" not in unknown.stderr

    improved = ok(invoke(env, "improve", "notes", "--session-id", "chat", "--json"))
    assert improved["dataset_name"] == "notes" and improved["status"] != "errored"
    assert [s["stage"] for s in improved["stages"]] == [
        "fold_session_answers",
        "merge_duplicate_entities",
    ]
    assert "merge_duplicate_entities" in ok(invoke(env, "improve", "notes"))

    # bad input: a clear error, and nothing changes
    usage = invoke(env, "forget")
    assert usage.returncode == 2 and "--everything" in usage.stderr
    declined = invoke(env, "forget", "--dataset", "notes", stdin="n\n")
    assert declined.returncode == 1 and "Forget dataset notes?" in declined.stdout
    assert "Nothing changed." in declined.stderr
    assert invoke(env, "recall", "x", "--type", "NOPE").returncode == 2
    listed = ok(invoke(env, "datasets", "list", "--json"))
    [dataset] = [d for d in listed if d["name"] == "notes"]
    assert len(ok(invoke(env, "data", "list", "notes", "--json"))) == 4

    item = ok(invoke(env, "forget", "-d", "notes", "--data-id", harbour_id, "--json"))
    assert item == {"data_id": harbour_id, "dataset_id": dataset["id"], "status": "success"}
    assert len(ok(invoke(env, "data", "list", "notes", "--json"))) == 3
    reset = ok(invoke(env, "forget", "-d", dataset["id"], "--memory-only", "--yes", "--json"))
    assert reset["data_records_reset"] == 3
    gone = invoke(env, "forget", "--everything", "--yes")
    assert gone.returncode == 0 and "Forgot every dataset you own." in gone.stdout
    assert ok(invoke(env, "datasets", "list", "--json")) == []


def test_remember_background_needs_a_server(local_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x\n")
    refused = invoke(local_env, "remember", str(tmp_path / "a.txt"), "--background")
    assert refused.returncode == 2 and "--background needs --url" in refused.stderr


def test_ctrl_c_during_cognify_leaves_the_run_resumable(
    settings_factory: Any, tmp_path: Path
) -> None:
    settings = settings_factory(**FAST | {"item_concurrency": 1})
    env = cli_env(settings)
    # Twelve seconds of work one item at a time: the interrupt after the first item comes
    # well before the end, however slowly the watcher below starts on a loaded machine.
    for i in range(12):
        (tmp_path / f"slow{i}.txt").write_text(f"item {i} @sleep=1\n")
    ok(invoke(env, "add", *(str(p) for p in sorted(tmp_path.glob("slow*"))), "-d", "slow"))

    stderr_file = tmp_path / "cognify.err"
    with stderr_file.open("wb") as err:
        # Ctrl-C made deliverable: a shell starts background jobs with SIGINT ignored, and an
        # ignored signal stays ignored across exec (a CI runner may start the suite that way).
        restore_sigint = (
            "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler);"
            " sys.argv = ['graphmill', 'cognify', 'slow'];"
            " runpy.run_module('graphmill.cli', run_name='__main__')"
        )
        process = subprocess.Popen(
            [sys.executable, "-c", restore_sigint],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )

    async def interrupt_after_one_item() -> dict[str, Any]:
        """One client for the whole watch: a poll is one query, not a store opening."""
        client = await LocalClient.open(settings)
        try:
            [dataset] = await client.list_datasets()

            async def cognify_run() -> dict[str, Any]:
                runs = await client.list_runs(dataset.id)
                found = [r for r in runs if r.pipeline_name == "cognify_pipeline"]
                return found[0].model_dump(mode="json") if found else {}

            deadline = time.monotonic() + 120
            while (await cognify_run()).get("counts", {}).get("completed", 0) < 1:
                assert process.poll() is None and time.monotonic() < deadline
                await asyncio.sleep(0.05)
            process.send_signal(signal.SIGINT)
            await asyncio.to_thread(process.wait, 60)
            return await cognify_run()
        finally:
            await client.aclose()

    stopped = asyncio.run(interrupt_after_one_item())
    code, stderr = process.returncode, stderr_file.read_text()
    assert code == 130, stderr
    assert "Resume with `graphmill cognify slow`" in stderr and "Traceback" not in stderr
    assert stopped["state"] == "queued"  # handed back at once, not left to its lease
    kept = stopped["counts"]["completed"]
    assert 1 <= kept < 12

    [run] = ok(invoke(env, "cognify", "slow", "--json"))
    assert run["run_id"] == stopped["run_id"]  # the same run, resumed
    assert run["state"] == "completed" and run["counts"]["completed"] == 12
