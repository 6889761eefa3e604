"""The store of record: engine, sessions, and the single-writer rule for SQLite."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import operator
import os
import random
import threading
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

from pgvector.asyncpg import register_vector
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Uuid,
    any_,
    bindparam,
    create_engine,
    event,
    func,
    make_url,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from graphmill.errors import BackendUnavailable, StoreFull

log = logging.getLogger("graphmill.db")

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _configure_sqlite(
    engine: AsyncEngine | Engine, *, writer: bool, max_bytes: int | None = None
) -> None:
    """Pragmas on connect (`max_bytes`: the file's size cap, as PRAGMA max_page_count);
    `BEGIN IMMEDIATE` for the writer, `BEGIN` for readers."""
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Transactions are begun explicitly below, so pysqlite must not begin its own.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if max_bytes is not None:
            cursor.execute("PRAGMA page_size")
            page_size = cursor.fetchone()[0]
            cursor.execute(f"PRAGMA max_page_count={max(1, max_bytes // page_size)}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # The writer takes the write lock up front, so a transaction never fails half-way
        # with "database is locked" when it upgrades from reading to writing.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


def _configure_pgvector(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # The extension is created by a migration; connections opened before it exists
        # are dropped once migrations have run (Database.reset_pool).
        with contextlib.suppress(ValueError):
            dbapi_conn.run_async(register_vector)


def advisory_key(name: bytes) -> int:
    """A PostgreSQL advisory-lock key (signed 64-bit) for a name."""
    return int.from_bytes(hashlib.sha256(name).digest()[:8], "big", signed=True)


_XACT_LOCK = text("SELECT pg_advisory_xact_lock(:k)")


async def lock_dataset(session: AsyncSession, dataset_id: uuid.UUID) -> None:
    """Serialise this transaction with the dataset's other state changes (PostgreSQL; SQLite
    has one writer anyway). Event ids come from a sequence, so without it two transactions
    could commit their events out of id order and a reader resuming after the higher id would
    miss one; taken first, it also keeps concurrent item writes from deadlocking."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(_XACT_LOCK, {"k": advisory_key(dataset_id.bytes)})


def lock_dataset_in(conn: Connection, dataset_id: uuid.UUID) -> None:
    """`lock_dataset` in a transaction run by `Database.run`."""
    if conn.dialect.name == "postgresql":
        conn.execute(_XACT_LOCK, {"k": advisory_key(dataset_id.bytes)})


# PostgreSQL: deadlock_detected, serialization_failure, lock_not_available.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001", "55P03"})


# PostgreSQL: disk_full.
_FULL_SQLSTATES = frozenset({"53100"})
# SQLite's SQLITE_FULL (the disk, or max_page_count); a new PostgreSQL session that cannot
# write its relation-cache init file on a full volume (FATAL, sqlstate XX000 like any
# internal error).
_NEW_SESSION_FULL = "could not write init file"
_FULL_MESSAGES = ("database or disk is full", _NEW_SESSION_FULL)
# A read that cannot open a new PostgreSQL session for a full volume waits for a pooled one:
# this many tries, this far apart (a second in all).
_POOLED_TRIES, _POOLED_PAUSE = 50, 0.02


def is_store_full(exc: BaseException) -> bool:
    """The store refused a write for lack of space."""
    if not isinstance(exc, DBAPIError):
        return False
    if getattr(exc.orig, "sqlstate", None) in _FULL_SQLSTATES:
        return True
    message = str(exc.orig)
    return any(sign in message for sign in _FULL_MESSAGES)


def _raise_if_full(exc: DBAPIError) -> None:
    if is_store_full(exc):
        log.error("store of record is full: %s", exc.orig, extra={"action": "db.full"})
        raise StoreFull() from exc


def _raise_for_read(exc: DBAPIError) -> None:
    """A read's error as the store's: StoreFull when even a read is refused for room (a new
    PostgreSQL session writes its relation-cache file first: "could not write init file"
    on a full volume was a 500), BackendUnavailable when the store cannot be reached."""
    _raise_if_full(exc)
    if isinstance(exc, OperationalError):
        raise BackendUnavailable(f"store of record unavailable: {exc.orig}") from exc


def is_retryable(exc: BaseException) -> bool:
    """A store error that a fresh attempt of the same transaction can get past: a deadlock or
    serialisation failure on PostgreSQL, "database is locked" on SQLite."""
    if not isinstance(exc, DBAPIError):
        return False
    if getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
        return True
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


def retrying(attempts: int = 5) -> Callable[[F], F]:
    """Run a whole transaction function again when the store reports a retryable conflict
    (each attempt is a fresh transaction; the function must be safe to repeat, as guarded
    state changes are)."""

    def decorate(function: F) -> F:
        @functools.wraps(function)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            for attempt in range(1, attempts + 1):
                try:
                    return await function(*args, **kwargs)
                except DBAPIError as exc:
                    if attempt == attempts or not is_retryable(exc):
                        raise
                    log.warning(
                        "store conflict, transaction retried: %s",
                        exc.orig,
                        extra={"action": "db.retry", "attempt": attempt},
                    )
                    await asyncio.sleep(random.uniform(0, 0.05 * 2**attempt))
            raise AssertionError("unreachable")

        return cast(F, wrapper)

    return decorate


def dialect_insert(bind: AsyncSession | Connection) -> Any:
    """`insert` of the session's or connection's dialect, for ON CONFLICT clauses."""
    dialect = bind.dialect if isinstance(bind, Connection) else bind.get_bind().dialect
    return pg_insert if dialect.name == "postgresql" else sqlite_insert


def in_ids(column: Any, name: str, sqlite: bool, item_type: Any = Uuid) -> ColumnElement[bool]:
    """`column IN (ids)` with all the ids bound as ONE parameter `name` (`bind_ids`, or
    `bind_strings` with `item_type=String`): a JSON array read by `json_each` on SQLite, an
    array on PostgreSQL. An expanding IN renders, and binds one by one, a placeholder per
    id on every execution; this statement is compiled once."""
    if sqlite:
        values = func.json_each(bindparam(name)).table_valued("value")
        return cast(ColumnElement[bool], column.in_(select(values.c.value)))
    return cast(ColumnElement[bool], column == any_(bindparam(name, type_=ARRAY(item_type))))


def bind_ids(ids: Iterable[uuid.UUID], sqlite: bool) -> Any:
    """The value of an `in_ids` parameter (SQLite keeps a UUID as its 32 hex digits)."""
    return json.dumps([i.hex for i in ids]) if sqlite else list(ids)


def bind_strings(values: Iterable[str], sqlite: bool) -> Any:
    """The value of an `in_ids(..., item_type=String)` parameter."""
    return json.dumps(list(values)) if sqlite else list(values)


class Bulk:
    """A Core statement compiled once per dialect and run with a list of rows as one raw
    DBAPI `executemany` (`Connection.exec_driver_sql`): each row is a tuple made by the
    columns' own bind processors, without SQLAlchemy's per-row parameter handling (about
    half the cost of a many-row write). Rows must give every parameter the statement
    binds, defaults included (`created_at`); constants inside the statement keep the
    values they were built with. Driver errors still arrive wrapped (`DBAPIError`)."""

    def __init__(self, statement: Any, columns: Sequence[str] | None = None) -> None:
        """`columns`: for an INSERT without `.values()`, the columns the rows give."""
        self.statement = statement
        self.columns = list(columns) if columns is not None else None
        self._compiled: dict[str, tuple[str, Callable[[Mapping[str, Any]], tuple[Any, ...]]]] = {}

    def execute(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        compiled = self._compiled.get(conn.dialect.name)
        if compiled is None:
            compiled = self._compiled[conn.dialect.name] = self._compile(conn.dialect)
        sql, to_tuple = compiled
        conn.exec_driver_sql(sql, [to_tuple(row) for row in rows])

    def _compile(
        self, dialect: Dialect
    ) -> tuple[str, Callable[[Mapping[str, Any]], tuple[Any, ...]]]:
        compiled: Any = self.statement.compile(dialect=dialect, column_keys=self.columns)
        if compiled.insert_prefetch or compiled.positiontup is None:
            raise ValueError("Bulk needs a positional statement with every value bound")
        processors = compiled._bind_processors  # the processors SQLAlchemy itself applies
        parts: list[Callable[[Mapping[str, Any]], Any]] = []
        for name in compiled.positiontup:
            process = processors.get(name)
            if compiled.binds[name].required:
                parts.append(_bound(name, process))
            else:  # a constant built into the statement
                value = compiled.params[name]
                parts.append(_constant(process(value) if process else value))
        return compiled.string, lambda row: tuple([part(row) for part in parts])


def _constant(value: Any) -> Callable[[Mapping[str, Any]], Any]:
    return lambda _row: value


def _bound(name: str, process: Callable[[Any], Any] | None) -> Callable[[Mapping[str, Any]], Any]:
    if process is None:
        return operator.itemgetter(name)
    return lambda row: process(row[name])


def _sqlite_lock_dir(url: str) -> Path | None:
    """`locks/` beside the SQLite file of `url`; None for an in-memory database."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).parent / "locks"


def _take_file_lock(path: Path) -> int:
    """Blocking: an open descriptor of `path` holding an exclusive `flock`.

    Its holder removes the file before releasing it (`_release_file_locks`), so that a
    folder of lock files does not keep one per key ever taken: whoever got the lock of a
    file that was removed meanwhile holds nothing and tries again on the file now there.
    (The open descriptor keeps the removed file's inode, so no new file can share it.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held = os.fstat(fd)
            with contextlib.suppress(FileNotFoundError):
                there = os.stat(path)
                if (there.st_dev, there.st_ino) == (held.st_dev, held.st_ino):
                    return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _remove_and_close(files: list[tuple[Path, int]]) -> None:
    for path, fd in files:
        # While still locked: see `_take_file_lock`. A file that cannot go stays, harmless;
        # every lock is released whatever happens to the others.
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
        os.close(fd)


async def _release_file_locks(files: list[tuple[Path, int]]) -> None:
    """Remove the lock files taken and release them, in one thread for all."""
    if files:
        await asyncio.to_thread(_remove_and_close, files)


def _release_if_taken(taken: concurrent.futures.Future[int]) -> None:
    if taken.exception() is None:
        os.close(taken.result())


async def _flock(path: Path) -> int:
    """An exclusive OS lock on `path`, as a descriptor whose closing releases it.

    Taken in a thread of its own: the event loop never blocks, and waits on another
    process never fill the shared executor that the lock holders themselves need. A lock
    taken for a caller that gave up meanwhile is released, its file left in place.
    """
    taken: concurrent.futures.Future[int] = concurrent.futures.Future()

    def take() -> None:
        try:
            taken.set_result(_take_file_lock(path))
        except BaseException as exc:
            taken.set_exception(exc)

    threading.Thread(target=take, name="graphmill-key-lock", daemon=True).start()
    try:
        return await asyncio.shield(asyncio.wrap_future(taken))
    except asyncio.CancelledError:
        # The thread may still get the lock after the caller gave up: release it then.
        taken.add_done_callback(_release_if_taken)
        raise


class CancelledCleanup(logging.Filter):
    """Drops what SQLAlchemy's pool logs, as an error with a traceback, when handing back or
    closing a connection is cut off by a cancellation or Ctrl-C (anything not an Exception):
    the pool then discards that connection and the cancellation goes on, so there is nothing
    to act on — and an interrupted command printed it as if it had crashed."""

    def filter(self, record: logging.LogRecord) -> bool:
        kind = record.exc_info[0] if record.exc_info else None
        return kind is None or issubclass(kind, Exception)


def _quiet_cancelled_cleanup(engine: Engine | AsyncEngine) -> None:
    found: Any = engine.pool.logger
    logger: logging.Logger = getattr(found, "logger", found)  # an InstanceLogger when echoing
    if not any(isinstance(f, CancelledCleanup) for f in logger.filters):
        logger.addFilter(CancelledCleanup())


class Database:
    """The store of record, two ways in.

    `run(fn)` and `run_read(fn)` run a whole transaction (or read) as one synchronous
    function `fn(conn: sqlalchemy.Connection) -> T`: on SQLite in a dedicated thread over
    pysqlite (one writer thread, a few reader threads), so a transaction of fifteen
    statements costs one hand-off between threads instead of fifteen; on PostgreSQL through
    `AsyncConnection.run_sync` (asyncpg under one greenlet). The hot paths (an item's state
    changes and outputs, status, search, the caches) use them.

    `read()` and `write()` give ORM sessions for everything else. Writes of both kinds are
    serialised in-process on SQLite (one writer, `BEGIN IMMEDIATE`) and run concurrently on
    PostgreSQL.
    """

    READER_THREADS = 4
    # Most transaction functions one SQLite commit groups (`_run_queued`).
    GROUP_LIMIT = 32

    def __init__(self, url: str, sqlite_max_bytes: int | None = None) -> None:
        """`sqlite_max_bytes`: most bytes the SQLite file may grow to (writes beyond it fail
        with StoreFull, as on a full disk)."""
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine = create_async_engine(url, pool_size=8, max_overflow=8)
            self.write_engine = create_async_engine(url, pool_size=1, max_overflow=0)
            _configure_sqlite(self.engine, writer=False)
            _configure_sqlite(self.write_engine, writer=True, max_bytes=sqlite_max_bytes)
            sync_url = make_url(url).set(drivername="sqlite+pysqlite")
            threads = {"check_same_thread": False}
            self._sync_writer: Engine | None = create_engine(
                sync_url, pool_size=1, max_overflow=0, connect_args=threads
            )
            self._sync_reader: Engine | None = create_engine(
                sync_url, pool_size=self.READER_THREADS, max_overflow=0, connect_args=threads
            )
            # Inline reads run on the event loop, one at a time: one connection of their own.
            self._sync_inline: Engine | None = create_engine(
                sync_url, pool_size=1, max_overflow=0, connect_args=threads
            )
            _configure_sqlite(self._sync_writer, writer=True, max_bytes=sqlite_max_bytes)
            _configure_sqlite(self._sync_reader, writer=False)
            _configure_sqlite(self._sync_inline, writer=False)
            self._writer_thread: concurrent.futures.ThreadPoolExecutor | None = (
                concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="graphmill-db-write")
            )
            self._reader_threads: concurrent.futures.ThreadPoolExecutor | None = (
                concurrent.futures.ThreadPoolExecutor(
                    self.READER_THREADS, thread_name_prefix="graphmill-db-read"
                )
            )
        else:
            self.engine = create_async_engine(
                url, pool_size=10, max_overflow=20, pool_pre_ping=True
            )
            self.write_engine = self.engine
            _configure_pgvector(self.engine)
            self._sync_writer = self._sync_reader = self._sync_inline = None
            self._writer_thread = self._reader_threads = None
        for engine in (
            self.engine,
            self.write_engine,
            self._sync_writer,
            self._sync_reader,
            self._sync_inline,
        ):
            if engine is not None:
                _quiet_cancelled_cleanup(engine)
        # One-statement reads on PostgreSQL run without BEGIN/ROLLBACK (two round trips
        # fewer; a statement is its own snapshot either way).
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._read_sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._queued: list[_Queued] = []
        self._key_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    @property
    def backend(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    async def run(self, fn: Callable[[Connection], T]) -> T:
        """One write transaction: `fn` runs synchronously on a connection, and its work
        commits when it returns and rolls back when it raises; StoreFull when the store has
        no space for it (nothing is changed then). On SQLite `fn` may share its transaction
        with others waiting for the writer (`_run_queued`) and so run twice, its first run
        rolled back: it must be safe to repeat."""
        try:
            if self._sync_writer is None:
                async with self.engine.begin() as conn:
                    return await conn.run_sync(fn)
            return await self._run_queued(fn)
        except DBAPIError as exc:
            _raise_if_full(exc)
            raise

    async def _run_queued(self, fn: Callable[[Connection], T]) -> T:
        """`run` on SQLite: the functions waiting for the writer when it comes free run
        together in one transaction (a group commit; `_transactions`).

        Each caller gets its own function's value or exception, as if it had run alone, once
        its work is committed. Items completing at the same time then write the pages they
        share (their entities' rows, the ledger's counters) once instead of once per item
        (issue 7: the pipeline's writes reaching the disk)."""
        assert self._write_lock is not None and self._sync_writer is not None
        loop = asyncio.get_running_loop()
        queued = _Queued(fn, loop.create_future())
        self._queued.append(queued)
        try:
            async with self._write_lock:
                if not queued.taken:
                    self._start_group(loop)
                    # Held until the group has committed (the writer is free only then); the
                    # transaction runs on if this caller is cancelled.
                    await asyncio.wait([queued.future])
        except asyncio.CancelledError:
            if queued.taken:
                queued.future.cancel()  # its outcome, when settled, goes to no one
            else:
                self._queued.remove(queued)
            raise
        return await queued.future

    def _start_group(self, loop: asyncio.AbstractEventLoop) -> None:
        """Hand the queued functions (up to GROUP_LIMIT) to the writer thread as one
        transaction; each caller's future is settled when it is over."""
        group = self._queued[: self.GROUP_LIMIT]
        del self._queued[: self.GROUP_LIMIT]
        for queued in group:
            queued.taken = True
        assert self._writer_thread is not None and self._sync_writer is not None
        try:
            done = self._writer_thread.submit(
                _transactions, self._sync_writer, [queued.fn for queued in group]
            )
        except RuntimeError as exc:  # the writer thread is shut down (Database.dispose)
            done = concurrent.futures.Future()
            done.set_exception(exc)
        done.add_done_callback(lambda done: loop.call_soon_threadsafe(_settle, group, done))

    async def run_read(self, fn: Callable[[Connection], T], *, inline: bool = False) -> T:
        """One read: `fn` runs synchronously on a connection in a transaction of its own
        (one snapshot), which is rolled back; BackendUnavailable when the store is not there.

        `inline`: on SQLite, run on the calling thread (the event loop) instead of a reader
        thread, for short indexed lookups where the hand-off to a thread and back costs
        more than the read (status, cache lookups). A reader never waits for the writer in
        WAL mode, so the loop is held only as long as the read itself."""
        return await self._read(fn, inline, self.engine)

    async def _read(self, fn: Callable[[Connection], T], inline: bool, pg: AsyncEngine) -> T:
        """`run_read`, through `pg` on PostgreSQL (in a transaction, or in autocommit)."""
        try:
            if self._sync_reader is None:
                return await _pg_read(pg, fn)
            if inline and self._sync_inline is not None:
                return _read(self._sync_inline, fn)
            return await self._in_thread(self._reader_threads, _read, self._sync_reader, fn)
        except DBAPIError as exc:
            _raise_for_read(exc)
            raise

    @staticmethod
    async def _in_thread(
        threads: concurrent.futures.ThreadPoolExecutor | None,
        call: Callable[[Engine, Callable[[Connection], T]], T],
        engine: Engine,
        fn: Callable[[Connection], T],
    ) -> T:
        assert threads is not None
        return await asyncio.wrap_future(threads.submit(call, engine, fn))

    async def read_scalar(
        self, statement: Any, params: dict[str, Any] | None = None, *, inline: bool = False
    ) -> Any:
        """One query's first column of its first row (see `run_read`)."""
        return await self._read_one(
            lambda conn: conn.execute(statement, params or {}).scalar(), inline
        )

    async def read_rows(
        self, statement: Any, params: dict[str, Any] | None = None, *, inline: bool = False
    ) -> list[Any]:
        """One query's rows (see `run_read`)."""
        return await self._read_one(
            lambda conn: list(conn.execute(statement, params or {})), inline
        )

    async def _read_one(self, fn: Callable[[Connection], T], inline: bool) -> T:
        """`run_read` of one statement: on PostgreSQL outside a transaction."""
        return await self._read(fn, inline, self._autocommit)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for queries; nothing it does is committed."""
        async with self._read_sessions() as session:
            try:
                yield session
            except DBAPIError as exc:
                _raise_for_read(exc)
                raise

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits on exit and rolls back on error; StoreFull when the
        store has no space for it (nothing is changed then)."""
        try:
            if self._write_lock is None:
                async with self._write_sessions() as session, session.begin():
                    yield session
                return
            async with self._write_lock, self._write_sessions() as session, session.begin():
                yield session
        except DBAPIError as exc:
            _raise_if_full(exc)
            raise

    @asynccontextmanager
    async def key_lock(self, *keys: str) -> AsyncIterator[None]:
        """Mutual exclusion on names across processes: advisory locks on PostgreSQL; on
        SQLite an asyncio lock per key in front of an OS file lock per key, so processes
        sharing the SQLite file (on one host) exclude each other and one process never
        contends with itself.

        Keys are taken in sorted order so two holders of overlapping sets cannot deadlock.
        """
        ordered = sorted(set(keys))
        if self.is_sqlite:
            lock_dir = _sqlite_lock_dir(self.url)
            files: list[tuple[Path, int]] = []
            async with AsyncExitStack() as stack:
                # Released last, after this process's own locks: a task of this process
                # that then finds a file about to go takes the lock of the next one.
                stack.push_async_callback(_release_file_locks, files)
                for key in ordered:
                    lock = self._key_locks.get(key)
                    if lock is None:
                        lock = self._key_locks[key] = asyncio.Lock()
                    await stack.enter_async_context(lock)
                    if lock_dir is not None:
                        path = lock_dir / hashlib.sha256(key.encode()).hexdigest()
                        files.append((path, await _flock(path)))
                yield
            return
        lock_ids = [advisory_key(k.encode()) for k in ordered]
        async with AsyncExitStack() as stack:
            try:
                conn = await stack.enter_async_context(self.engine.connect())
                stack.push_async_callback(_unlock_all, conn)  # also after a failed acquisition
                for lock_id in lock_ids:
                    await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_id})
                await conn.commit()
            except DBAPIError as exc:
                _raise_for_read(exc)  # a new session on a full volume: StoreFull
                raise
            yield

    async def execute_outside_transaction(self, statement: Any) -> None:
        """One statement in autocommit (PostgreSQL's VACUUM cannot run in a transaction);
        StoreFull when the store has no room for it."""
        try:
            async with self._autocommit.connect() as conn:
                await conn.execute(statement)
        except DBAPIError as exc:
            _raise_if_full(exc)
            raise

    async def reset_pool(self) -> None:
        """Close pooled connections, so new ones see types that migrations created."""
        await self.engine.dispose()
        if self.write_engine is not self.engine:
            await self.write_engine.dispose()
        for engine in (self._sync_writer, self._sync_reader, self._sync_inline):
            if engine is not None:
                engine.dispose()

    async def ping(self) -> None:
        """Raise BackendUnavailable unless the store answers."""
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (OperationalError, OSError) as exc:
            raise BackendUnavailable(f"store of record unreachable: {exc}") from exc

    async def dispose(self) -> None:
        await self.reset_pool()
        for threads in (self._writer_thread, self._reader_threads):
            if threads is not None:
                threads.shutdown(wait=False)


async def _unlock_all(conn: AsyncConnection) -> None:
    """Release a `key_lock` connection's advisory locks. A wait for a lock cut off (a
    cancelled task) invalidates the connection: closing it ends the session and its locks,
    and a statement on it would raise in place of the cancellation (a janitor then never
    stopped)."""
    if not conn.invalidated:
        await conn.execute(text("SELECT pg_advisory_unlock_all()"))
        await conn.commit()


async def _pg_read(pg: AsyncEngine, fn: Callable[[Connection], T]) -> T:
    """`fn` on a connection of `pg`. A new PostgreSQL session writes the database's
    relation-cache init file first whenever it has been invalidated (autovacuum updating a
    catalog's statistics does that), and on a full volume dies doing so (FATAL "could not
    write init file"); a session already open reads without room. So a read refused that way
    waits for a pooled session: a burst of reads (a search over many datasets at once) opens
    more sessions than the pool keeps, and the ones that got a pooled session hand it on."""
    for _ in range(_POOLED_TRIES - 1):
        try:
            async with pg.connect() as conn:
                return await conn.run_sync(fn)
        except DBAPIError as exc:
            if _NEW_SESSION_FULL not in str(exc.orig):
                raise
        await asyncio.sleep(_POOLED_PAUSE)
    async with pg.connect() as conn:  # the last try: its error is the read's
        return await conn.run_sync(fn)


def _transaction(engine: Engine, fn: Callable[[Connection], T]) -> T:
    with engine.begin() as conn:
        return fn(conn)


class _Queued:
    """A transaction function waiting for the SQLite writer, and its caller's answer."""

    def __init__(self, fn: Callable[[Connection], Any], future: asyncio.Future[Any]) -> None:
        self.fn = fn
        self.future = future
        self.taken = False  # in a group handed to the writer thread


class _Together:
    """Transaction functions run one after another in one transaction; `raised` tells a
    function's exception from a failed BEGIN or COMMIT."""

    def __init__(self, fns: list[Callable[[Connection], Any]]) -> None:
        self.fns = fns
        self.raised = False

    def __call__(self, conn: Connection) -> list[Any]:
        values = []
        for fn in self.fns:
            try:
                values.append(fn(conn))
            except Exception:
                self.raised = True
                raise
        return values


def _transactions(engine: Engine, fns: list[Callable[[Connection], Any]]) -> list[tuple[bool, Any]]:
    """Each function's outcome (value or exception) as if each ran in a transaction of its
    own: all in one transaction; when a function raises, rolled back and each alone. No
    savepoints: a function sees the connection as it would alone (an ORM session on it joins
    the transaction as usual), and SQLite keeps no statement journal for them. A function
    may so run twice, its first run rolled back: transaction functions are safe to repeat
    (as `retrying` already requires). A BEGIN or COMMIT that fails (the file locked by
    another process past the busy timeout, a full disk) is every function's outcome, as it
    would have been for each alone, without waiting for it once per function."""
    if len(fns) > 1:
        together = _Together(fns)
        try:
            return [(True, value) for value in _transaction(engine, together)]
        except Exception as exc:
            if not together.raised:
                return [(False, exc)] * len(fns)
    outcomes: list[tuple[bool, Any]] = []
    for fn in fns:
        try:
            outcomes.append((True, _transaction(engine, fn)))
        except Exception as exc:
            outcomes.append((False, exc))
    return outcomes


def _settle(group: list[_Queued], done: concurrent.futures.Future[list[tuple[bool, Any]]]) -> None:
    """Give each caller of a group its outcome (on the event loop): its function's, or the
    group's failure (a writer that is gone) as everyone's."""
    failure = done.exception()
    outcomes = done.result() if failure is None else [(False, failure)] * len(group)
    for queued, (ok, value) in zip(group, outcomes, strict=True):
        if queued.future.done():
            continue  # its caller was cancelled
        if ok:
            queued.future.set_result(value)
        else:
            queued.future.set_exception(value)


def _read(engine: Engine, fn: Callable[[Connection], T]) -> T:
    with engine.connect() as conn:
        return fn(conn)  # the transaction begun by the first statement is rolled back
