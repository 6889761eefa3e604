"""Where cognify's CPU goes, in one process (a profile, not a benchmark: the HTTP-level
figures come from time_to_searchable.py).

Starts the zero-latency fake OpenAI-compatible server (bench/fake_llm_server.py), adds
DOCS generated documents (time_to_searchable's corpus) through the Python API into a fresh
data folder, cognifies them, and prints: the process's CPU per document; the writer
thread's CPU per document for each kind of transaction (SQLite runs them all in one
thread), split into BEGIN, the work inside and COMMIT, and the bytes each kind wrote; each
bulk write's CPU and rows per document; with --pages, the pages each kind of transaction
wrote, by table and index; with --cprofile, the event loop thread's functions by own time
(wall clock: calls that release the GIL include the wait to get it back).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/profile_cognify.py --docs 200 [--cprofile 30] [--pages]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import cProfile
import io
import os
import pstats
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import proc_figure  # noqa: E402  (found through the line above)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--cprofile", type=int, default=0, help="print the N top functions")
    parser.add_argument(
        "--pages",
        action="store_true",
        help="also count the pages each kind of transaction wrote, by table and index (reads "
        "the write-ahead log's frame headers; SQLite's automatic checkpoints are off then)",
    )
    args = parser.parse_args()
    fake = subprocess.Popen(
        [sys.executable, str(HERE / "fake_llm_server.py")],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(HERE.parent)},
    )
    try:
        assert fake.stdout is not None
        base, key = fake.stdout.readline().decode().split()
        os.environ.update(
            GRAPHMILL_DATA_DIR=tempfile.mkdtemp(prefix="graphmill-profile-"),
            LLM_ENDPOINT=base,
            LLM_API_KEY=key,
            LLM_MODEL="openai/fake",
            EMBEDDING_PROVIDER="openai_compatible",
            EMBEDDING_MODEL="fake",
            EMBEDDING_ENDPOINT=base,
            EMBEDDING_API_KEY=key,
            EMBEDDING_DIMENSIONS="384",
            LOG_LEVEL="WARNING",
        )
        asyncio.run(profile(args.docs, args.cprofile, args.pages))
    finally:
        fake.terminate()


async def profile(docs: int, top: int, by_page: bool) -> None:
    from time_to_searchable import corpus

    import graphmill
    from graphmill.db import engine

    transactions: dict[tuple[str, str], float] = collections.defaultdict(float)
    calls: collections.Counter[str] = collections.Counter()
    bulk: dict[str, float] = collections.defaultdict(float)
    rows: collections.Counter[str] = collections.Counter()
    written: collections.Counter[str] = collections.Counter()
    execute = engine.Bulk.execute
    log = WalPages(Path(os.environ["GRAPHMILL_DATA_DIR"]) / "graphmill.db") if by_page else None

    def timed_transaction(db_engine: Any, fn: Any) -> Any:
        """`engine._transaction`, timed by part: BEGIN, the function, COMMIT, the close;
        with the bytes the transaction wrote (the write-ahead log's pages, and those a
        checkpoint it triggered copied back)."""
        # A group commit's functions (`engine._Together`) named together.
        names = {getattr(f, "__qualname__", repr(f)) for f in getattr(fn, "fns", [fn])}
        name = " + ".join(sorted(names)).replace(".<locals>.", ".")
        calls[name] += 1
        before = thread_written()
        with db_engine.connect() as conn:
            if log is not None:  # no checkpoint: the log keeps every page written
                conn.connection.dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")
            for part, step in (("BEGIN", conn.begin), ("inside", lambda: fn(conn))):
                start = time.thread_time()
                value = step()
                transactions[name, part] += time.thread_time() - start
            start = time.thread_time()
            conn.commit()
            transactions[name, "COMMIT"] += time.thread_time() - start
        written[name] += thread_written() - before
        if log is not None:
            log.read_new(name)
        return value

    def timed_execute(self: Any, conn: Any, batch: Any) -> None:
        start = time.thread_time()
        try:
            execute(self, conn, batch)
        finally:
            table = getattr(getattr(self.statement, "table", None), "name", "?")
            bulk[table] += time.thread_time() - start
            rows[table] += len(batch)

    engine._transaction = timed_transaction  # type: ignore[assignment]
    engine.Bulk.execute = timed_execute  # type: ignore[method-assign,assignment]
    texts = corpus(docs, 1, 300, 650)
    for start in range(0, docs, 50):
        await graphmill.add([io.BytesIO(b) for _, b in texts[start : start + 50]], "profile")
    profiler = cProfile.Profile() if top else None
    cpu, wall = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    await graphmill.cognify(["profile"])
    if profiler:
        profiler.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    per = 1000 / docs
    print(f"process CPU per document: {cpu * per:.2f} ms (wall {wall * per:.2f} ms)")
    print("writer thread (SQLite), CPU per document by transaction and part:")
    for (name, part), seconds in sorted(transactions.items()):
        print(f"  {name:32s} {part:7s} {seconds * per:7.3f} ms ({calls[name]} transactions)")
    print("writer thread (SQLite), bytes written per document by transaction:")
    for name, count in written.most_common():
        print(f"  {name:32s} {count / docs / 1024:8.1f} KiB ({calls[name]} transactions)")
    print("bulk writes, CPU and rows per document:")
    for table, seconds in sorted(bulk.items(), key=lambda kv: -kv[1]):
        print(f"  {table:20s} {seconds * per:7.3f} ms {rows[table] / docs:7.1f} rows")
    if log is not None:
        log.report(docs)
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


class WalPages:
    """The pages each kind of transaction wrote, from the page numbers in the headers of the
    frames it appended to the write-ahead log (with checkpoints off, the log only grows);
    named by table or index once the store is closed (SQLite's `dbstat`)."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.offset = 32  # the log's header
        self.pages: dict[str, list[int]] = collections.defaultdict(list)

    def read_new(self, kind: str) -> None:
        with open(f"{self.database}-wal", "rb") as wal:
            page_size = int.from_bytes(wal.read(16)[8:12], "big")
            wal.seek(self.offset)
            while len(header := wal.read(24)) == 24:
                self.pages[kind].append(int.from_bytes(header[:4], "big"))
                wal.seek(page_size, io.SEEK_CUR)
            self.offset = wal.tell() - len(header)

    def report(self, docs: int) -> None:
        with contextlib.closing(sqlite3.connect(self.database)) as store:
            owner = dict(store.execute("SELECT pageno, name FROM dbstat"))
        print("pages written per document by transaction, by table or index:")
        for kind, pages in sorted(self.pages.items(), key=lambda kv: -len(kv[1])):
            print(f"  {kind:32s} {len(pages) / docs:7.1f}")
            named = collections.Counter(owner.get(page, "?") for page in pages)
            for name, count in named.most_common(12):
                print(f"    {name:40s} {count / docs:7.1f}")


def thread_written() -> int:
    """Bytes this thread has sent, or queued to send, to storage (Linux; 0 elsewhere)."""
    return proc_figure("/proc/thread-self/io", "write_bytes")


if __name__ == "__main__":
    main()
