"""`graphmill selftest`: the operator's isolation check, run as a real command against a server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from graphmill.cli.selftest import Credentials, Report, plant, probe, signed_in
from tests.conftest import LiveServer
from tests.support import Api

ROOT = Path(__file__).resolve().parent.parent


def selftest(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "graphmill.cli", "selftest", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_selftest_passes_and_cleans_up(server: LiveServer, alice: Api, bob: Api) -> None:
    key = bob.post("/api/v1/auth/api-keys", json={"name": "selftest"})
    assert key.status_code == 200, key.text
    done = selftest(
        "--url",
        server.base_url,
        "--first",
        f"{alice.email}:correct horse",
        "--second-api-key",
        key.json()["key"],
        "--json",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["passed"] is True
    names = [c["name"] for c in report["checks"]]
    assert len(names) >= 40
    for expected in ("event stream", "raw", "search CHUNKS ", "DELETE the dataset", "intact"):
        assert any(expected in n for n in names), expected
    # Cleaned up: the owner has no dataset left.
    assert alice.get("/api/v1/datasets").json() == []


def test_the_checks_fail_when_the_prober_can_see(server: LiveServer, alice: Api) -> None:
    """Probing with the owner's own account must fail: the checks can see a leak."""
    owner = signed_in(server.base_url, Credentials(alice.email, "correct horse"), 60)
    report = Report()
    planted = plant(owner, report)
    assert report.passed
    probe(owner, owner, planted, report)
    failed = {c.name for c in report.checks if not c.passed}
    assert "prober: GET /datasets/{id}/data -> 200" in failed
    assert "prober: GET .../data/{data_id}/raw -> 200" in failed
    assert "prober: search CHUNKS_LEXICAL without a scope does not find it" in failed
    assert "prober: GET /datasets does not show it" in failed
    assert "prober: GET /sessions does not show it" in failed
    assert "prober: GET /sessions/{id} of the owner's session -> 200" in failed
    assert "prober: recall (scope all, the owner's session id) does not find it" in failed
    owner.close()


def test_selftest_refuses_bad_input_without_a_traceback(server: LiveServer, alice: Api) -> None:
    same = selftest(
        "--url",
        server.base_url,
        "--first",
        f"{alice.email}:correct horse",
        "--second",
        f"{alice.email}:correct horse",
    )
    assert same.returncode == 1
    assert "same user" in same.stderr and "Traceback" not in same.stderr
    wrong = selftest(
        "--url", server.base_url, "--first", f"{alice.email}:wrong", "--second", "x@y.z:w"
    )
    assert wrong.returncode == 1
    assert "login of" in wrong.stderr and "Traceback" not in wrong.stderr
    closed = selftest("--url", "http://127.0.0.1:9", "--register")
    assert closed.returncode == 1 and "Traceback" not in closed.stderr
    assert httpx.get(f"{server.base_url}/health").status_code == 200
