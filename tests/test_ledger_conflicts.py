"""Store conflicts: deadlocks and busy stores are retried where they happen, so many items
failing and succeeding at once on one dataset never fail a run (issue 9, defect 14)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError, OperationalError

from graphmill.db.engine import is_retryable, retrying
from tests.conftest import LiveServer
from tests.support import Api, add_files, sign_up


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        self.sqlstate = sqlstate


def _store_error(orig: Exception, kind: type[DBAPIError] = DBAPIError) -> DBAPIError:
    return kind("UPDATE ...", {}, orig)


def test_conflicts_are_retryable_and_other_errors_are_not() -> None:
    assert is_retryable(_store_error(_PgError("40P01")))  # deadlock_detected
    assert is_retryable(_store_error(_PgError("40001")))  # serialization_failure
    assert is_retryable(_store_error(Exception("database is locked"), OperationalError))
    assert not is_retryable(_store_error(_PgError("23505")))  # unique_violation
    assert not is_retryable(ValueError("deadlock"))


def test_a_transaction_is_run_again_after_a_conflict_and_gives_up_on_other_errors() -> None:
    import asyncio

    calls: list[int] = []

    @retrying(attempts=3)
    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _store_error(_PgError("40P01"))
        return "done"

    assert asyncio.run(flaky()) == "done"
    assert len(calls) == 3

    @retrying(attempts=3)
    async def broken() -> None:
        calls.append(1)
        raise _store_error(_PgError("23505"))

    calls.clear()
    with pytest.raises(DBAPIError):
        asyncio.run(broken())
    assert len(calls) == 1


@pytest.fixture
def busy(settings_factory: Any) -> Iterator[LiveServer]:
    settings = settings_factory(
        cognify_steps="tests.fault_steps:pipeline",
        item_concurrency=16,
        max_attempts=2,
        retry_base_seconds=0,
        heartbeat_seconds=0.2,
        lease_seconds=10,
    )
    with LiveServer(settings) as live:
        yield live


def test_many_failing_and_succeeding_items_at_once_finish_every_run(busy: LiveServer) -> None:
    api: Api = sign_up(busy.base_url)
    texts = ["@fail"] * 15 + ["@transient=1"] * 15 + ["fine"] * 30
    files = [(f"doc{i:02}.txt", f"{t} item {i}".encode()) for i, t in enumerate(texts)]
    for round_ in range(3):
        dataset = add_files(api, f"busy{round_}", files).json()["dataset_id"]
        result = api.post("/api/v1/cognify", json={"datasetIds": [dataset]}).json()[dataset]
        run = api.get(f"/api/v1/runs/{result['pipeline_run_id']}").json()
        assert run["state"] == "completed_with_errors", run
        assert run["counts"] == {"total": 60, "completed": 45, "failed": 15, "skipped": 0}
        states = [
            i["pipelineStatus"]["cognify_pipeline"]
            for i in api.get(f"/api/v1/datasets/{dataset}/data").json()
        ]
        assert sorted(s["state"] for s in states).count("failed") == 15
        assert all(s["state"] in ("completed", "failed") for s in states)
    api.close()
