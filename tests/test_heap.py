"""`graphmill serve` favours the requests its event loop answers over the pipelines that run
beside them (`services.favour_requests`): it hides its start-up heap from the garbage
collector (`gc.freeze`), so a full collection walks only what the work created; it runs full
collections on a clock instead of whenever allocation counts say so (each one holds the loop);
and its SQLite writer thread runs at a lower CPU priority than the loop."""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
import weakref
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from graphmill import services as services_module
from graphmill.api.app import create_app
from graphmill.config import Settings


def test_a_serving_app_freezes_its_start_up_heap_and_full_collections_get_short(
    tmp_path: Path,
) -> None:
    gc.unfreeze()
    try:
        with TestClient(create_app(Settings(data_dir=tmp_path / "plain"))) as client:
            assert client.get("/health").status_code == 200
            assert gc.get_freeze_count() == 0  # only when asked (tests build many apps)
        served = Settings(data_dir=tmp_path / "served", pipeline_process=False)
        with TestClient(create_app(served, standalone=True)):
            frozen = gc.get_freeze_count()
            walked = len(gc.get_objects())  # what a full collection walks now
        assert frozen > 50_000  # modules, models, statements: what start-up made
        assert walked < frozen / 4
    finally:
        gc.unfreeze()


class Node:
    """An object that can be part of a reference cycle and be watched dying."""

    other: Node | None = None


def test_full_collections_run_on_a_clock_not_by_allocation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services_module, "FULL_COLLECTION_SECONDS", 0.2)
    before = gc.get_threshold()
    served = Settings(data_dir=tmp_path / "served", pipeline_process=False)
    try:
        with TestClient(create_app(served, standalone=True)) as client:
            assert gc.get_threshold()[:2] == before[:2]  # young collections as before
            assert gc.get_threshold()[2] >= 2**30  # no full collection by allocation
            # A cycle old enough to sit in the oldest generation, then dropped: only a
            # full collection frees it, and the server's clock runs one.
            node = Node()
            node.other = Node()
            node.other.other = node
            gc.collect(1)  # survivors of the two young generations move to the oldest
            watched = weakref.ref(node)
            del node
            deadline = time.monotonic() + 10
            while watched() is not None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert watched() is None
            assert client.get("/health").status_code == 200
        assert gc.get_threshold() == before  # restored when the services close
    finally:
        gc.unfreeze()


@pytest.mark.skipif(sys.platform != "linux", reason="a nice value per thread is Linux's")
def test_the_sqlite_writer_thread_runs_at_a_lower_cpu_priority(tmp_path: Path) -> None:
    main = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    served = Settings(
        data_dir=tmp_path / "served",
        pipeline_process=False,
        sqlite_writer_nice=7,
        require_authentication=False,
    )
    try:
        with TestClient(create_app(served, standalone=True)) as client:
            writers = [t for t in threading.enumerate() if t.name.startswith("graphmill-db-write")]
            nices = {os.getpriority(os.PRIO_PROCESS, t.native_id) for t in writers if t.native_id}
            assert nices == {min(19, main + 7)}
            # and it still writes: an add goes through it
            files = {"data": ("a.txt", b"written by a lower-priority thread", "text/plain")}
            response = client.post("/api/v1/add", files=files, data={"datasetName": "nice"})
            assert response.status_code == 200, response.text
    finally:
        gc.unfreeze()
