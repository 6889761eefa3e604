"""`Database.key_lock` on SQLite excludes other processes sharing the same file."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from multiprocessing.synchronize import Event
from pathlib import Path

import pytest

from graphmill.db import Database

KEY = "blob:" + "ab" * 32


def _hold(url: str, held: Event, release: Event) -> None:
    async def main() -> None:
        db = Database(url)
        async with db.key_lock(KEY, "other"):
            held.set()
            await asyncio.to_thread(release.wait, 30)
        await db.engine.dispose()

    asyncio.run(main())


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'data' / 'graphmill.db'}"


async def _acquired_within(db: Database, seconds: float) -> bool:
    async def take() -> None:
        async with db.key_lock(KEY):
            pass

    try:
        await asyncio.wait_for(take(), seconds)
    except TimeoutError:
        return False
    return True


def test_a_key_held_by_another_process_waits_for_its_release(url: str) -> None:
    asyncio.run(_wait_for_another_process(url))


async def _wait_for_another_process(url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    held, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(url, held, release))
    holder.start()
    db = Database(url)
    try:
        assert await asyncio.to_thread(held.wait, 30), "the holder did not start"
        assert not await _acquired_within(db, 0.5), "taken while another process held it"
        # A waiter that gives up must not keep the lock once its thread gets it.
        assert not await _acquired_within(db, 0.2)
        release.set()
        started = time.monotonic()
        assert await _acquired_within(db, 10)
        assert time.monotonic() - started < 5
        assert (Path(url.split("///")[1]).parent / "locks").is_dir()
    finally:
        release.set()
        await asyncio.to_thread(holder.join, 30)
        await db.engine.dispose()
    assert holder.exitcode == 0


def test_one_process_excludes_itself_per_key_and_not_across_keys(url: str) -> None:
    asyncio.run(_exclude_within_one_process(url))


async def _exclude_within_one_process(url: str) -> None:
    db = Database(url)
    order: list[str] = []

    async def hold(key: str, name: str, seconds: float) -> None:
        async with db.key_lock(key):
            order.append(f"{name} in")
            await asyncio.sleep(seconds)
            order.append(f"{name} out")

    await asyncio.gather(hold(KEY, "a", 0.2), hold(KEY, "b", 0), hold("other", "c", 0))
    assert order.index("a out") < order.index("b in")
    assert order.index("c out") < order.index("a out")
    await db.engine.dispose()
