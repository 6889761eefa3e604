"""Schema fuzzing: schemathesis against graphmill's own OpenAPI document, every route.

A signed-in user with a cognified dataset, a run, an API key and a second user exists first,
so generated requests reach real rows: path ids are drawn from them half the time. The
checks: no 5xx, each response's status and body as declared, every error a JSON object
(tests/fuzz_hooks.py). Deletes run last, in their own pass, so they cannot empty the seed
before the other routes are fuzzed. The event stream is fuzzed with unknown ids only (with a
real one it streams until the client leaves; tests/test_sse.py covers it).

Bounded in CI: 10 cases per route on SQLite, 5 on PostgreSQL, with a fixed seed.
On demand, longer: GRAPHMILL_FUZZ_EXAMPLES=2000 GRAPHMILL_FUZZ_SEED=random (see README).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import LiveServer
from tests.support import Api, add_files

# Cases per route: enough in CI to cover every route's boundaries and some random input,
# within about a minute per backend (PostgreSQL answers slower; it gets fewer).
EXAMPLES = {"sqlite-local": 10, "postgresql-s3": 5}
SEED = os.environ.get("GRAPHMILL_FUZZ_SEED", "20261202")
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "errors_are_json_objects",
    ]
)
EVENTS = "/api/v1/datasets/{dataset_id}/events"
ROOT = Path(__file__).resolve().parent.parent


def seed(alice: Api, bob: Api) -> dict[str, list[str]]:
    """Rows for generated requests to hit: ids by path parameter name."""
    added = add_files(alice, "fuzz", [("notes.txt", b"Marta Lindqvist founded Velden in Corvin.")])
    assert added.status_code == 200, added.text
    dataset_id = added.json()["dataset_id"]
    run = alice.post("/api/v1/cognify", json={"datasetIds": [dataset_id], "runInBackground": False})
    assert run.status_code == 200, run.text
    data = alice.get(f"/api/v1/datasets/{dataset_id}/data").json()
    runs = alice.get(f"/api/v1/datasets/{dataset_id}/runs").json()
    key = alice.post("/api/v1/auth/api-keys", json={"name": "fuzz"}).json()
    return {
        "dataset_id": [dataset_id],
        "data_id": [d["id"] for d in data],
        "run_id": [r["run_id"] for r in runs],
        "principal_id": [str(bob.user_id), str(alice.user_id)],
        "api_key_id": [key["id"]],
    }


def config(ids: dict[str, list[str]], path: Path) -> Path:
    """A schemathesis.toml binding path parameters to the seeded ids half the time."""
    lines = []
    for name, values in ids.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    lines.append("[parameters]")
    lines += [f'"path.{name}" = {{ dictionary = "{name}", probability = 0.5 }}' for name in ids]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_schemathesis(base_url: str, token: str, toml: Path, examples: int, *selection: str) -> None:
    seed_args = [] if SEED == "random" else ["--seed", SEED]
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(toml), "run"),
        f"{base_url}/openapi.json",
        *("--header", f"Authorization: Bearer {token}"),
        *("--checks", CHECKS),
        *("--phases", "examples,coverage,fuzzing"),
        *("--max-examples", str(examples), *seed_args),
        *("--workers", "1", "--request-timeout", "30", "--no-color"),
        *("--generation-database", "none", "--suppress-health-check", "all"),
        *("--report-dir", str(toml.parent / "report")),
        *selection,
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz_hooks", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, env=env, cwd=toml.parent, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-20_000:] + done.stderr[-5_000:]


def test_every_route_survives_schema_fuzzing(
    server: LiveServer, alice: Api, bob: Api, tmp_path: Path, backend: str
) -> None:
    toml = config(seed(alice, bob), tmp_path / "schemathesis.toml")
    unbound = tmp_path / "unbound" / "schemathesis.toml"
    unbound.parent.mkdir()
    unbound.write_text("")
    token = alice.headers["Authorization"].removeprefix("Bearer ")
    base = server.base_url
    n = int(os.environ.get("GRAPHMILL_FUZZ_EXAMPLES", EXAMPLES[backend]))
    run_schemathesis(base, token, toml, n, "--exclude-method", "DELETE", "--exclude-path", EVENTS)
    run_schemathesis(base, token, unbound, n, "--include-path", EVENTS)
    run_schemathesis(base, token, toml, n, "--include-method", "DELETE")
    # The fuzzer's own account still works: nothing it sent broke authentication.
    assert alice.get("/api/v1/auth/me").json() == {"email": alice.email}


MEMORY_ROUTES = {"remember", "remember/entry", "recall", "forget", "improve", "update", "delete"}


def test_the_openapi_document_declares_json_errors_for_every_route(anon: Any) -> None:
    document = anon.get("/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            # Validation errors are 400, never FastAPI's 422; the memory API's own 422s (as
            # cognee's: an unknown recall scope, nothing named to forget) are declared.
            if "422" in responses:
                assert path.removeprefix("/api/v1/") in MEMORY_ROUTES, (method, path)
                assert responses["422"]["description"] != "Validation Error", (method, path)
            if path not in ("/", "/health"):
                for status in ("400", "401", "500"):
                    assert status in responses, (method, path, status)
                    content = responses[status]["content"]
                    assert list(content) == ["application/json"], (method, path, status)


# --- defects the fuzzer found, each pinned ---------------------------------------------------


def test_integers_past_64_bits_are_400_not_a_driver_overflow(alice: Api) -> None:
    dataset_id = alice.post("/api/v1/datasets", json={"name": "big"}).json()["id"]
    huge = str(2**70)
    for r in (
        alice.get("/api/v1/search", params={"offset": huge}),
        alice.get(f"/api/v1/datasets/{dataset_id}/events", params={"after": huge}),
        alice.get(f"/api/v1/datasets/{dataset_id}/events", headers={"Last-Event-ID": huge}),
    ):
        assert r.status_code == 400, r.text
        assert r.json()["detail"][0]["type"] == "less_than_equal"
    assert alice.get("/api/v1/search", params={"offset": str(2**63 - 1)}).json() == []


def test_raw_and_events_declare_their_own_content_types(anon: Any) -> None:
    paths = anon.get("/openapi.json").json()["paths"]
    raw = paths["/api/v1/datasets/{dataset_id}/data/{data_id}/raw"]["get"]["responses"]
    assert list(raw["200"]["content"]) == ["*/*"]
    assert list(raw["206"]["content"]) == ["*/*"]
    events = paths["/api/v1/datasets/{dataset_id}/events"]["get"]["responses"]
    assert list(events["200"]["content"]) == ["text/event-stream"]
