"""`Database.key_lock`: on SQLite it excludes other processes sharing the same file; on both
backends a waiter cut off (a cancelled task) ends cancelled, so the janitors that take keys
stop when their process closes."""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import multiprocessing
import time
from multiprocessing.synchronize import Event
from pathlib import Path

import pytest
from sqlalchemy import text

from graphmill.catalog.data import blob_lock_key
from graphmill.config import Settings
from graphmill.db import Database, migrate
from graphmill.db.models import Blob
from graphmill.pipelines.executors import every
from graphmill.services import close_services, open_services
from tests.fault_checks import hold_blob_lock, inventory
from tests.support import Api, add_files

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


async def _someone_waits_for_a_key(db: Database) -> None:
    """Until a session waits for an advisory lock (PostgreSQL); on SQLite, whose file locks
    cannot be watched, a moment."""
    if db.is_sqlite:
        await asyncio.sleep(0.5)
        return
    waiting = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    for _ in range(500):
        if await db.read_scalar(waiting):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("nobody waits for a key")


async def take(db: Database) -> None:
    async with db.key_lock(KEY):
        pass


async def _acquired_within(db: Database, seconds: float) -> bool:
    try:
        await asyncio.wait_for(take(db), seconds)
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


def test_a_waiter_cancelled_ends_cancelled_and_the_key_stays_usable(settings: Settings) -> None:
    async def main() -> None:
        db = Database(settings.sqlalchemy_url)
        held, release = asyncio.Event(), asyncio.Event()

        async def hold() -> None:
            async with db.key_lock(KEY):
                held.set()
                await release.wait()

        try:
            holder = asyncio.create_task(hold())
            await held.wait()
            waiter = asyncio.create_task(take(db))
            await _someone_waits_for_a_key(db)
            waiter.cancel()
            await asyncio.wait({waiter})
            # PostgreSQL's driver invalidates a connection whose wait was cut off; the
            # unlock that followed on it raised in place of the cancellation.
            assert waiter.cancelled(), waiter.exception()
            release.set()
            await holder
            assert await _acquired_within(db, 10), "the key stayed taken"
        finally:
            await db.dispose()

    asyncio.run(main())


def test_a_loop_whose_pass_turns_its_cancellation_into_an_error_still_stops() -> None:
    passes = 0

    async def one_pass() -> None:
        nonlocal passes
        passes += 1
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            raise RuntimeError("clean-up failed") from None

    async def main() -> None:
        loop = asyncio.create_task(every(lambda: 600.0, one_pass, "test"))
        await asyncio.sleep(0.1)
        loop.cancel()
        # Before: the error was logged as a failed pass and the loop slept 600 s.
        await asyncio.wait({loop}, timeout=10)
        assert loop.done() and loop.cancelled()

    asyncio.run(main())
    assert passes == 1


def test_closing_the_services_while_their_sweep_waits_for_a_key_is_prompt(
    settings: Settings,
) -> None:
    """The Python API opens the services for each call and closes them after it; a call
    that closed them while the sweep (started at opening) waited for a blob's key hung for
    the sweep's 600 s interval on PostgreSQL."""
    sha = "cd" * 32

    async def main() -> None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        other = Database(settings.sqlalchemy_url)  # another process's add of those bytes
        await migrate(other, settings.data_dir)  # no services yet: no sweep before the orphan
        async with other.write() as session:  # recorded, used by no item
            session.add(Blob(sha256=sha, size=1, location="orphan"))
        held, release = asyncio.Event(), asyncio.Event()

        async def hold() -> None:
            async with other.key_lock(blob_lock_key(sha)):
                held.set()
                await release.wait()

        holder = asyncio.create_task(hold())
        try:
            await held.wait()
            services = await open_services(settings, role="client")
            await _someone_waits_for_a_key(other)  # the sweep, at the orphan's key
            closing = asyncio.create_task(close_services(services))
            done, _ = await asyncio.wait({closing}, timeout=30)
            assert done, "closing waited for the sweep's next pass"
            closing.result()
        finally:
            release.set()
            await holder
            await other.dispose()

    asyncio.run(main())


def test_a_delete_does_not_wait_for_the_lock_of_content_another_dataset_still_uses(
    settings: Settings, alice: Api
) -> None:
    """Garbage collection locks only the objects no item uses: a delete of a dataset that
    shares content with another no longer waits for an add of those bytes elsewhere (which
    in turn waited for the delete)."""
    shared, own = b"the same bytes in two datasets", b"bytes only the doomed dataset has"
    kept = add_files(alice, "kept", [("a.txt", shared)]).json()["dataset_id"]
    doomed = add_files(alice, "doomed", [("b.txt", shared), ("own.txt", own)])
    # Another process's long add of the shared bytes holds their lock.
    _, release = hold_blob_lock(settings, hashlib.sha256(shared).hexdigest())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        try:
            deleting = pool.submit(alice.delete, f"/api/v1/datasets/{doomed.json()['dataset_id']}")
            # Before: the collection took the shared object's lock too and waited here.
            assert deleting.result(timeout=15).status_code < 300
        finally:
            release.set()
    left = inventory(settings)
    assert left.objects == {hashlib.sha256(shared).hexdigest()}  # its own object went
    [item] = alice.get(f"/api/v1/datasets/{kept}/data").json()
    assert alice.get(f"/api/v1/datasets/{kept}/data/{item['id']}/raw").content == shared


def _count(url: str, counter: str, rounds: int, start: Event) -> None:
    """`rounds` increments of the number in `counter`, each read and written back a moment
    later under the key: two holders at once would lose one."""

    async def main() -> None:
        db = Database(url)
        path = Path(counter)
        for _ in range(rounds):
            async with db.key_lock(KEY):
                value = int(await asyncio.to_thread(path.read_text))
                await asyncio.sleep(0.001)
                await asyncio.to_thread(path.write_text, str(value + 1))
        await db.engine.dispose()

    start.wait(30)
    asyncio.run(main())


def test_processes_taking_one_key_in_turn_exclude_each_other_and_leave_no_lock_file(
    url: str, tmp_path: Path
) -> None:
    """Each holder removes its lock file as it lets go (a folder of them grew by one per blob
    ever added): whoever waited on the removed file must then take the new one, not run
    beside its taker."""
    counter = tmp_path / "counter"
    counter.write_text("0")
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    counters = [ctx.Process(target=_count, args=(url, str(counter), 150, start)) for _ in range(3)]
    for process in counters:
        process.start()
    start.set()
    for process in counters:
        process.join(120)
        assert process.exitcode == 0
    assert counter.read_text() == "450"
    locks = Path(url.split("///")[1]).parent / "locks"
    assert locks.is_dir() and not list(locks.iterdir())
