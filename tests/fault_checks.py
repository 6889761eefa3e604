"""What must hold after any fault: the store of record, the blob store and staging agree.

Read straight from the stores (not through the API), so a test sees what a user never could:
an object no row names, a row no item uses, a half-written upload left in staging.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg
from sqlalchemy import text

from graphmill.blobs import open_blob_store
from graphmill.catalog.data import blob_lock_key
from graphmill.config import Settings
from graphmill.db import Database
from graphmill.db.models import RunState
from tests.conftest import TEMPLATE_DB, PgServer

BOUNDARY = "graphmill-fault-boundary"


@dataclass(frozen=True)
class Inventory:
    objects: frozenset[str]  # hashes of objects in the blob store
    blob_rows: frozenset[str]  # hashes recorded in the blobs table
    data_hashes: frozenset[str]  # hashes data items use
    staged: tuple[str, ...]  # files left in staging
    unfinished_runs: tuple[str, ...]  # runs still running (a queued marker run is fine)

    @property
    def consistent(self) -> bool:
        """Every object is recorded and used, every used hash is stored, staging is empty."""
        return (
            self.objects == self.blob_rows == self.data_hashes
            and not self.staged
            and not self.unfinished_runs
        )


def _objects(settings: Settings) -> frozenset[str]:
    if settings.blob_url:
        import boto3

        parsed = urlparse(settings.blob_url)
        client = boto3.client("s3", endpoint_url=settings.s3_endpoint_url)
        found: set[str] = set()
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=parsed.netloc, Prefix=parsed.path.strip("/") + "/"
        ):
            found.update(o["Key"].rsplit("/", 1)[-1] for o in page.get("Contents", []))
        return frozenset(found)
    root = settings.data_dir / "blobs"
    return (
        frozenset(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else frozenset()
    )


def remove_objects(settings: Settings, hashes: list[str]) -> None:
    """Remove stored objects behind the server's back (through the blob store alone), as a
    collection cut off after removing them, but not yet their rows, leaves the store."""

    async def remove() -> None:
        store = open_blob_store(settings)
        try:
            for sha in hashes:
                await store.delete(sha)
        finally:
            store.close()

    asyncio.run(remove())


# Connections to the disk-full test databases, by URL, opened while they had room.
_KEPT: dict[str, psycopg.Connection[Any]] = {}


def kept_rows(settings: Settings, sql: str, *params: Any) -> list[tuple[Any, ...]] | None:
    """The rows of `sql` through the kept connection of the settings' database, if it is a
    disk-full test database; None otherwise."""
    conn = _KEPT.get(settings.database_url or "")
    return None if conn is None else conn.execute(sql.encode(), params).fetchall()


def query_rows(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    """The rows of `sql` (no parameters): through the kept connection of a disk-full test
    database, else through a store opened for the query."""
    kept = kept_rows(settings, sql)
    if kept is not None:
        return kept

    async def read() -> list[tuple[Any, ...]]:
        db = Database(settings.sqlalchemy_url)
        try:
            return [tuple(row) for row in await db.read_rows(text(sql))]
        finally:
            await db.dispose()

    return asyncio.run(read())


def inventory(settings: Settings) -> Inventory:
    staging = settings.data_dir / "staging"
    staged = tuple(sorted(str(p) for p in staging.rglob("*") if p.is_file()))
    blobs = query_rows(settings, "SELECT sha256 FROM blobs")
    used = query_rows(settings, "SELECT content_hash FROM data")
    running = query_rows(
        settings,
        f"SELECT pipeline_name, state FROM pipeline_runs WHERE state = '{RunState.RUNNING}'",
    )
    return Inventory(
        _objects(settings),
        frozenset(r[0] for r in blobs),
        frozenset(r[0] for r in used),
        staged,
        tuple(sorted(f"{name}:{state}" for name, state in running)),
    )


def wait_consistent(settings: Settings, timeout: float = 30) -> Inventory:
    """The inventory once it is consistent (sweeps run in the background after start-up)."""
    deadline = time.monotonic() + timeout
    while True:
        found = inventory(settings)
        if found.consistent:
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.2)


def multipart_stream(
    dataset: str, file_name: str, chunks: Iterator[bytes]
) -> tuple[dict[str, str], Iterator[bytes]]:
    """Headers and a streamed body of `POST /api/v1/add` with one file, sent as it is made."""

    def body() -> Iterator[bytes]:
        yield (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="datasetName"\r\n\r\n'
            f'{dataset}\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name="data"; '
            f'filename="{file_name}"\r\nContent-Type: text/plain\r\n\r\n'
        ).encode()
        yield from chunks
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    return {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}, body()


def text_chunks(total_mib: int, marker: Any = None) -> Iterator[bytes]:
    """`total_mib` MiB of text in 1 MiB chunks; `marker(i)` is called before chunk i."""
    line = b"graphmill streams uploads to staging and never holds them in memory.\n"
    chunk = (line * (1024 * 1024 // len(line) + 1))[: 1024 * 1024]
    for i in range(total_mib):
        if marker is not None:
            marker(i)
        yield chunk


@dataclass(frozen=True)
class SmallVolume:
    """A PostgreSQL database on a small volume of its own (`small_pg_database`)."""

    url: str
    point: Path

    def resize(self, size_kib: int) -> None:
        """Give the volume more room, as an operator would for a full disk."""
        options = f"remount,size={size_kib}k"
        subprocess.run(["mount", "-o", options, str(self.point)], check=True)


@contextlib.contextmanager
def small_pg_database(pg: PgServer, size_mib: int) -> Iterator[SmallVolume]:
    """A fresh copy of the migrated template whose tables and indexes live on a tmpfs of
    `size_mib` MiB (a tablespace), so writes fill it up and PostgreSQL answers `disk_full`
    (SQLSTATE 53100); its WAL stays on the main disk, so the server lives on.

    Mounting needs root (or CAP_SYS_ADMIN), as CI has: refused, the test fails saying so. The
    volume sits in the session's folder, so a killed session's is detached by the sweep."""
    name = f"full_{uuid.uuid4().hex[:12]}"
    point = pg.root / name
    point.mkdir()
    data_owner = (pg.root / "data").stat()  # the OS user the server runs as
    options = f"size={size_mib}m,uid={data_owner.st_uid},gid={data_owner.st_gid},mode=0700"
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        point.rmdir()
        raise AssertionError(
            "the disk-full test mounts a small tmpfs for a PostgreSQL tablespace and needs"
            f" root or CAP_SYS_ADMIN to do so (CI runs as root); mount said: {mounted.stderr}"
        )
    try:
        pg.execute(f"CREATE TABLESPACE {name} LOCATION '{point}'")
        try:
            pg.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB} TABLESPACE {name}")
            url = pg.url_for(name)
            # The checks below read through a connection opened now, while there is room: a
            # new connection may have to write the relation cache's init file (dropped
            # whenever autovacuum cleans a catalog), which the full volume refuses ("could
            # not write init file"). graphmill's own pool keeps its connections open.
            _KEPT[url] = psycopg.connect(url, autocommit=True)
            try:
                yield SmallVolume(url, point)
            finally:
                _KEPT.pop(url).close()
                pg.execute(f"DROP DATABASE {name} WITH (FORCE)")
        finally:
            pg.execute(f"DROP TABLESPACE {name}")
    finally:
        subprocess.run(["umount", "-l", str(point)], check=True)
        point.rmdir()


def hold_blob_lock(settings: Settings, sha256: str) -> tuple[threading.Event, threading.Event]:
    """Hold a blob's lock (the one an add and garbage collection take) from this process, as
    another process would, until `release` is set."""
    held, release = threading.Event(), threading.Event()

    async def hold() -> None:
        db = Database(settings.sqlalchemy_url)
        try:
            async with db.key_lock(blob_lock_key(sha256)):
                held.set()
                await asyncio.to_thread(release.wait)
        finally:
            await db.dispose()

    threading.Thread(target=asyncio.run, args=(hold(),), daemon=True).start()
    assert held.wait(30)
    return held, release
