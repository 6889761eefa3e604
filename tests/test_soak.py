"""The soak benchmark's short version: many clients against one real server process, no errors.

bench/soak.py runs its mix (add, cognify, status, search, raw) from several users at once,
checks every answer, proves at the end that nothing acknowledged was lost, and fails when any
request errs or the server's memory keeps growing. The LLM and the embeddings come from the
fake OpenAI server, so the load is graphmill's own work.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support import ServerProcess, settings_env

if TYPE_CHECKING:
    from tests.fake_openai import FakeOpenAI


ROOT = Path(__file__).resolve().parent.parent
# One minute on the embedded default (CI time: every other API test runs on both backend
# pairs); the 10-minute figures are in bench/RESULTS-soak.md, and the script runs against any
# deployment (PostgreSQL + S3 included) by URL.
WARMUP, DURATION = "15", "45"


@pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)
def test_soak_without_errors_and_memory_levels_off(
    settings_factory: Any, fake_llm: FakeOpenAI, tmp_path: Path
) -> None:
    settings = settings_factory(
        llm_provider="openai",
        llm_model="openai/fake-model",
        llm_endpoint=fake_llm.base_url,
        llm_api_key=fake_llm.api_key,
        embedding_provider="openai_compatible",
        embedding_endpoint=fake_llm.base_url,
        embedding_model="fake",
        embedding_dimensions=64,
        embedding_api_key=fake_llm.api_key,
    )
    server = ServerProcess(settings_env(settings)).start()
    result_file = tmp_path / "soak.json"
    try:
        done = subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "soak.py"),
                "--base-url",
                server.base_url,
                "--clients",
                "6",
                "--warmup",
                WARMUP,
                "--duration",
                DURATION,
                "--pid",
                str(server.pid),
                "--json",
                str(result_file),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        server.stop()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(result_file.read_text())
    assert result["errors"] == {}
    assert result["end_check_problems"] == []
    assert set(result["routes"]) == {"add", "cognify", "status", "search", "raw"}
    assert all(route["count"] > 0 for route in result["routes"].values())
    assert result["documents_added"] > 6
    assert result["rss"]["levels_off"] is True
