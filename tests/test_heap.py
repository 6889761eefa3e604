"""A server process hides its start-up heap from the garbage collector (`gc.freeze`), so a
full collection during a run walks only what the work created: pauses of tens of ms on the
event loop (every request waits behind them) become fractions of a ms."""

from __future__ import annotations

import gc
from pathlib import Path

from fastapi.testclient import TestClient

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
