"""`Database.run` and `run_read`: a whole transaction or read as one synchronous function."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import Connection, event, func, insert, select
from sqlalchemy.exc import DBAPIError

from graphmill.db import Bulk, Database, bind_ids, in_ids, migrate
from graphmill.db import engine as engine_module
from graphmill.db.engine import is_retryable, is_store_full
from graphmill.db.models import User
from graphmill.errors import StoreFull
from tests.test_graph_store import db_url  # noqa: F401  (the fixture: both backends)


def _add_user(conn: Connection, email: str) -> uuid.UUID:
    user_id = uuid.uuid4()
    conn.execute(insert(User).values(id=user_id, email=email, hashed_password=None))
    return user_id


def _emails(conn: Connection) -> set[str]:
    return set(conn.execute(select(User.email)).scalars())


class Refused(Exception):
    pass


def _counted(db: Database, name: str) -> list[int]:
    """A list that gets a 1 each time the SQLite writer's engine fires event `name`."""
    fired: list[int] = []
    assert db._sync_writer is not None
    event.listen(db._sync_writer, name, lambda *_: fired.append(1))
    return fired


async def _open(url: str, tmp_path: Path) -> Database:
    db = Database(url)
    if db.is_sqlite:
        await migrate(db, tmp_path)
        await db.reset_pool()
    return db


def test_run_commits_on_return_and_rolls_back_on_raise(db_url: str, tmp_path: Path) -> None:  # noqa: F811
    async def main() -> tuple[set[str], set[str], set[str]]:
        db = await _open(db_url, tmp_path)
        try:
            await db.run(lambda conn: _add_user(conn, "kept@example.com"))

            def half_done(conn: Connection) -> None:
                _add_user(conn, "lost@example.com")
                raise Refused()

            with pytest.raises(Refused):
                await db.run(half_done)
            return (
                await db.run_read(_emails),
                await db.run_read(_emails, inline=True),
                set(await db.read_rows(select(User.email).order_by(User.email))),
            )
        finally:
            await db.dispose()

    threaded, inline, rows = asyncio.run(main())
    assert "kept@example.com" in threaded and "lost@example.com" not in threaded
    assert inline == threaded
    assert {row[0] for row in rows} == threaded


def test_a_read_does_not_wait_for_an_open_write_on_sqlite(tmp_path: Path) -> None:
    """While a write transaction is open in the writer thread (its function blocked
    half-way), reads in a reader thread and inline answer with the state before it; the
    write commits afterwards. (SQLite only: on PostgreSQL the function runs on the event
    loop under a greenlet, so it must never block; MVCC readers never wait there.)"""

    async def main() -> tuple[int, int, int]:
        db = await _open(f"sqlite+aiosqlite:///{tmp_path / 'graphmill.db'}", tmp_path)
        inserted, release = threading.Event(), threading.Event()

        def slow_write(conn: Connection) -> None:
            _add_user(conn, "slow@example.com")
            inserted.set()
            assert release.wait(30)

        count = select(func.count()).select_from(User)
        try:
            writing = asyncio.create_task(db.run(slow_write))
            assert await asyncio.to_thread(inserted.wait, 30)
            during = await db.read_scalar(count)
            during_inline = await db.read_scalar(count, inline=True)
            release.set()
            await writing
            return during, during_inline, await db.read_scalar(count, inline=True)
        finally:
            release.set()
            await db.dispose()

    during, during_inline, after = asyncio.run(main())
    assert during == during_inline
    assert after == during + 1


def test_writes_waiting_for_the_sqlite_writer_commit_together_each_with_its_own_outcome(
    tmp_path: Path,
) -> None:
    """Functions queued while the writer is busy run as one transaction (one commit); when
    one of them raises, each still gets the outcome it would have had alone: its exception
    and nothing of its work, the others' values and work. A caller cancelled before its
    turn never runs."""

    async def main() -> tuple[list[object], list[object], set[str], list[int]]:
        db = await _open(f"sqlite+aiosqlite:///{tmp_path / 'graphmill.db'}", tmp_path)
        commits = _counted(db, "commit")

        async def behind_a_busy_writer(*fns: Callable[[Connection], object]) -> list[object]:
            """Each function's outcome, all queued while another transaction is open."""
            started, release = threading.Event(), threading.Event()

            def blocking(conn: Connection) -> str:
                started.set()
                assert release.wait(30)
                return "first"

            first = asyncio.create_task(db.run(blocking))
            try:
                assert await asyncio.to_thread(started.wait, 30)
                queued = [asyncio.create_task(db.run(fn)) for fn in fns]
                gone = asyncio.create_task(db.run(lambda c: _add_user(c, "gone@example.com")))
                await asyncio.sleep(0.05)  # all of them queued behind the open transaction
                gone.cancel()
            finally:
                release.set()
            outcomes = await asyncio.gather(first, *queued, return_exceptions=True)
            with pytest.raises(asyncio.CancelledError):
                await gone
            return outcomes[1:]

        def refused(conn: Connection) -> None:
            _add_user(conn, "refused@example.com")
            raise Refused()

        try:
            together = await behind_a_busy_writer(
                lambda c: _add_user(c, "a@example.com"),
                lambda c: _add_user(c, "b@example.com"),
                lambda c: len(_emails(c)),
            )
            commits_together = sum(commits)
            apart = await behind_a_busy_writer(
                lambda c: _add_user(c, "c@example.com"), refused, lambda c: len(_emails(c))
            )
            return together, apart, await db.run_read(_emails), [commits_together, sum(commits)]
        finally:
            await db.dispose()

    together, apart, emails, commits = asyncio.run(main())
    assert [type(outcome) for outcome in together] == [uuid.UUID, uuid.UUID, int]
    assert together[2] == 2  # it saw the work of the two before it, in the same transaction
    assert commits[0] == 2  # the blocking transaction, then the three queued ones as one
    assert isinstance(apart[0], uuid.UUID) and isinstance(apart[1], Refused)
    assert apart[2] == 3  # a, b and c: nothing of the refused function's work
    assert emails == {f"{name}@example.com" for name in "abc"}


def test_a_group_that_cannot_begin_is_every_callers_failure_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holding SQLite's write lock past the busy timeout: each queued call
    fails with "database is locked" (which `retrying` callers retry), the group after one
    try to begin, not once more per function."""
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 300)
    path = tmp_path / "graphmill.db"

    async def main() -> tuple[list[object], int]:
        db = await _open(f"sqlite+aiosqlite:///{path}", tmp_path)
        # A transaction takes the writer's connection from its pool, then fails to begin.
        tries = _counted(db, "checkout")
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            calls = [db.run(partial(_add_user, email=f"{n}@example.com")) for n in range(3)]
            outcomes = await asyncio.gather(*calls, return_exceptions=True)
        finally:
            other.execute("ROLLBACK")
            other.close()
            await db.dispose()
        return outcomes, sum(tries)

    outcomes, tries = asyncio.run(main())
    assert all(isinstance(o, DBAPIError) and is_retryable(o) for o in outcomes), outcomes
    assert tries == 2  # the first call alone, then the two queued behind it together


def test_a_write_after_the_store_is_closed_fails_at_once(tmp_path: Path) -> None:
    """The writer thread gone (`Database.dispose`): a queued write gets the error instead of
    waiting for a group that never runs."""

    async def main() -> None:
        db = await _open(f"sqlite+aiosqlite:///{tmp_path / 'graphmill.db'}", tmp_path)
        await db.dispose()
        with pytest.raises(RuntimeError, match="shutdown"):
            await asyncio.wait_for(db.run(lambda c: _add_user(c, "late@example.com")), 10)

    asyncio.run(main())


def test_in_ids_binds_any_number_of_ids_as_one_parameter(db_url: str, tmp_path: Path) -> None:  # noqa: F811
    async def main() -> list[str]:
        db = await _open(db_url, tmp_path)
        try:
            ids = await db.run(
                lambda conn: [_add_user(conn, f"u{i}@example.com") for i in range(3)]
            )
            wanted = [ids[0], ids[2], *(uuid.uuid4() for _ in range(2000))]
            statement = select(User.email).where(in_ids(User.id, "ids", db.is_sqlite))
            params = {"ids": bind_ids(wanted, db.is_sqlite)}
            return sorted(row[0] for row in await db.read_rows(statement, params))
        finally:
            await db.dispose()

    assert asyncio.run(main()) == ["u0@example.com", "u2@example.com"]


def test_bulk_writes_rows_through_the_column_types_and_refuses_missing_defaults(
    db_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    columns = ["id", "email", "hashed_password", "is_active", "is_superuser", "is_verified"]
    bulk = Bulk(insert(User), [*columns, "created_at"])
    ids = [uuid.uuid4() for _ in range(3)]
    now = datetime.now(UTC)

    def rows(prefix: str) -> list[dict[str, object]]:
        return [
            {"id": i, "email": f"{prefix}{n}@x.org", "hashed_password": None, "is_active": True}
            | {"is_superuser": False, "is_verified": False, "created_at": now}
            for n, i in enumerate(ids)
        ]

    async def main() -> list[tuple[uuid.UUID, str, datetime]]:
        db = await _open(db_url, tmp_path)
        try:
            await db.run(lambda conn: bulk.execute(conn, rows("b")))
            with pytest.raises(DBAPIError):  # driver errors arrive wrapped, nothing written
                await db.run(lambda conn: bulk.execute(conn, rows("c")))
            without_default = Bulk(insert(User), columns)
            with pytest.raises(ValueError, match="every value bound"):
                await db.run(lambda conn: without_default.execute(conn, rows("d")))
            statement = select(User.id, User.email, User.created_at).order_by(User.email)
            return [tuple(row) for row in await db.read_rows(statement)]
        finally:
            await db.dispose()

    found = asyncio.run(main())
    assert [(i, e) for i, e, _ in found] == [(i, f"b{n}@x.org") for n, i in enumerate(ids)]
    assert all(created == now for _, _, created in found)  # UTC and aware, as the ORM reads it


class _DriverError(Exception):
    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("message", "sqlstate", "full"),
    [
        ("could not extend file: No space left on device", "53100", True),
        ("database or disk is full", None, True),
        # A new PostgreSQL session on a full volume: FATAL before its first statement.
        ("could not write init file", "XX000", True),
        ("cache lookup failed for relation 1234", "XX000", False),
        ("database is locked", None, False),
    ],
)
def test_store_full_is_told_by_sqlstate_or_by_the_message(
    message: str, sqlstate: str | None, full: bool
) -> None:
    error = DBAPIError("SELECT 1", {}, _DriverError(message, sqlstate))
    assert is_store_full(error) is full
    assert not is_store_full(_DriverError(message, sqlstate))  # only the store's errors


def test_a_read_refused_for_room_is_store_full(db_url: str, tmp_path: Path) -> None:  # noqa: F811
    """A new PostgreSQL session on a full volume fails before its first statement ("could
    not write init file"): for a read too, that is the store being full (507), not a 500."""

    def refused() -> DBAPIError:
        return DBAPIError("SELECT 1", {}, _DriverError("could not write init file", "XX000"))

    def read(conn: Connection) -> None:
        raise refused()

    async def main() -> None:
        db = await _open(db_url, tmp_path)
        try:
            for inline in (False, True):
                with pytest.raises(StoreFull):
                    await db.run_read(read, inline=inline)
            with pytest.raises(StoreFull):
                async with db.read():
                    raise refused()
        finally:
            await db.dispose()

    asyncio.run(main())
