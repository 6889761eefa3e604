"""Fault injection at the LLM endpoint (the fake OpenAI server): hanging, answering 500,
answering 429 with Retry-After, answering malformed JSON — through HTTP, the real pipeline.

After each: no run stuck, no item half-written (a failed item has no chunks and supports no
node), every failure explained by the ledger (error class and message on the item, the run's
counts), and cognify repeated once the endpoint behaves completes exactly the failed items.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from graphmill.config import Settings
from tests.conftest import LiveServer
from tests.fault_checks import wait_consistent
from tests.support import Api, add_files, free_port, sign_up
from tests.test_cognify import stored_chunks
from tests.test_faults_kill import llm_env

if TYPE_CHECKING:
    from tests.fake_openai import FakeOpenAI


# Each fault: the fake's modes, and the item's error class and a word of its message.
FAILING = {
    "hang": ({"latency": 3.0}, "transient_error", "timed out"),
    "500": ({"fail_always": 500}, "transient_error", "500"),
    "malformed": ({"invalid_answers": -1, "invalid_kind": "syntax"}, "llm_invalid_output", ""),
}


@pytest.fixture
def llm_server(settings_factory: Any, fake_llm: FakeOpenAI) -> Iterator[tuple[Settings, Api]]:
    settings = settings_factory(
        **llm_env(fake_llm),
        # Well under the "hang" fault's 3 s, and far over an answer's time on a loaded
        # machine: at 0.5 s an instant answer once took longer in CI, and the 429 test's
        # item (its first attempt spent on the 429) failed on the timeout.
        llm_timeout_seconds=1.5,
        max_attempts=2,
        retry_base_seconds=0.01,
    )
    with LiveServer(settings) as live:
        yield settings, sign_up(live.base_url)


def _cognify(api: Api, ds: str) -> dict[str, Any]:
    r = api.post("/api/v1/cognify", json={"datasetIds": [ds]})
    assert r.status_code == 200, r.text
    run = api.get(f"/api/v1/runs/{r.json()[ds]['pipeline_run_id']}").json()
    assert run["state"] not in ("queued", "running"), run  # a blocking cognify never leaves one
    return dict(run)


def _items(api: Api, ds: str) -> list[dict[str, Any]]:
    return [
        i["pipelineStatus"]["cognify_pipeline"]
        for i in api.get(f"/api/v1/datasets/{ds}/data").json()
    ]


def _files(fault: str) -> list[tuple[str, bytes]]:
    return [
        (
            f"{fault}-{i}.txt",
            f"Marie Curie worked in Paris with Pierre {fault} number {i}.".encode(),
        )
        for i in range(2)
    ]


def test_llm_faults_fail_items_with_reasons_and_a_repeat_completes(
    llm_server: tuple[Settings, Api], fake_llm: FakeOpenAI
) -> None:
    settings, api = llm_server
    for fault, (modes, error_class, word) in FAILING.items():
        ds = add_files(api, f"llm-{fault}", _files(fault)).json()["dataset_id"]
        fake_llm.configure(**modes)
        run = _cognify(api, ds)
        fake_llm.reset()
        assert run["state"] == "failed", (fault, run)
        assert run["counts"] == {"total": 2, "completed": 0, "failed": 2, "skipped": 0}, fault
        for item in _items(api, ds):
            assert item["state"] == "failed", (fault, item)
            assert item["errorClass"] == error_class, (fault, item)
            assert word in item["errorMessage"] and item["errorMessage"], (fault, item)
        assert api.get("/api/v1/datasets/status").json()[ds] == "DATASET_PROCESSING_ERRORED"
        assert not stored_chunks(settings, ds), fault  # nothing half-written
        assert api.get(f"/api/v1/datasets/{ds}/graph").json()["nodes"] == [], fault
        # The endpoint behaves again: the same request completes both items.
        again = _cognify(api, ds)
        assert again["state"] == "completed", (fault, again)
        assert again["counts"] == {"total": 2, "completed": 2, "failed": 0, "skipped": 0}
        assert {i["state"] for i in _items(api, ds)} == {"completed"}
        assert api.get(f"/api/v1/datasets/{ds}/graph").json()["nodes"], fault
    wait_consistent(settings)


def test_llm_429_with_retry_after_is_waited_out(
    llm_server: tuple[Settings, Api], fake_llm: FakeOpenAI
) -> None:
    """Rate limited with `Retry-After: 1`: every caller pauses as asked and the run completes
    on its first request; no item fails."""
    settings, api = llm_server
    ds = add_files(api, "llm-429", _files("ratelimited")).json()["dataset_id"]
    fake_llm.configure(fail_next=[429], retry_after="1")
    started = time.monotonic()
    run = _cognify(api, ds)
    assert time.monotonic() - started >= 1.0  # the pause was honoured
    assert run["state"] == "completed", run
    assert run["counts"] == {"total": 2, "completed": 2, "failed": 0, "skipped": 0}
    statuses = [r.status for r in fake_llm.requests]
    assert statuses[0] == 429 and set(statuses[1:]) == {200}
    refused = fake_llm.requests[0]
    retried = next(r for r in fake_llm.requests[1:] if r.body == refused.body)
    assert retried.at - refused.at >= 0.9  # asked again only after the pause
    wait_consistent(settings)


def test_llm_answers_paid_before_a_later_step_fails_are_never_paid_again(
    settings_factory: Any, fake_llm: FakeOpenAI
) -> None:
    """The embedding endpoint is down: each item's LLM answers are paid once, kept although
    the item fails after them (and across its retry), and a later cognify with the endpoint
    back completes every item without one more LLM call."""
    dead = f"http://127.0.0.1:{free_port()}/v1"
    env = llm_env(fake_llm) | {"embedding_endpoint": dead}
    broken = settings_factory(**env, max_attempts=2, retry_base_seconds=0.01)
    with LiveServer(broken) as live:
        api = sign_up(live.base_url)
        ds = add_files(api, "paid", _files("paid")).json()["dataset_id"]
        run = _cognify(api, ds)
        assert run["counts"] == {"total": 2, "completed": 0, "failed": 2, "skipped": 0}, run
        assert {i["errorClass"] for i in _items(api, ds)} == {"transient_error"}
        assert fake_llm.calls["chat"] == 2  # one call per one-chunk item, not one per attempt
        assert run["llm_calls"] == 2
    healed = broken.model_copy(update={"embedding_endpoint": fake_llm.base_url})
    with LiveServer(healed) as live:
        api.base_url = live.base_url
        again = _cognify(api, ds)
        assert again["counts"] == {"total": 2, "completed": 2, "failed": 0, "skipped": 0}
        assert again["llm_calls"] == 0 and fake_llm.calls["chat"] == 2
        assert api.get(f"/api/v1/datasets/{ds}/graph").json()["nodes"]
