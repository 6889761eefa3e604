"""Test services: real PostgreSQL (pgserver), real S3 (moto's server), real HTTP servers.

Every API test runs once per backend pair: SQLite + local folder, PostgreSQL + S3.
Each test gets a fresh database (PostgreSQL: a copy of a migrated template) and blob prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# moto and boto3 read credentials from the standard variables; these are the test server's.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}.items():
    os.environ[_name] = _value

from argon2 import PasswordHasher  # noqa: E402

from graphmill.api.app import create_app  # noqa: E402
from graphmill.auth import tokens  # noqa: E402
from graphmill.config import Settings  # noqa: E402
from graphmill.db import Database, migrate  # noqa: E402
from tests import pg_folders  # noqa: E402
from tests.support import Api, free_port, sign_up  # noqa: E402

# Argon2id at its default cost (64 MiB, 3 passes, 4 lanes) takes ~0.2 s of CPU a hash, and
# nearly every API test signs up and logs in one or two users: a fifth of the suite's CPU went
# to it. Servers in this process hash with the same algorithm at its lowest cost; server
# processes (tests.support.ServerProcess, the CLI) keep graphmill's own hasher, whose cost
# tests/test_auth.py checks.
GRAPHMILL_HASHER = tokens._hasher
tokens._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)

# The fake OpenAI-compatible server's fixtures (`fake_llm`), for every test module: declared
# in a test module, they existed only when that module was collected too.
pytest_plugins = ["tests.fake_openai"]

BACKENDS = ["sqlite-local", "postgresql-s3"]
TEMPLATE_DB = "graphmill_template"


@dataclass
class PgServer:
    server: Any
    uri: str
    root: Path  # this session's folder (tests.pg_folders)
    admin: psycopg.Connection[Any] | None = None

    def url_for(self, database: str) -> str:
        base, _, query = self.uri.partition("?")
        return f"{base.rsplit('/', 1)[0]}/{database}?{query}"

    def execute(self, sql: str) -> None:
        """One statement outside a transaction, on a connection kept for the session (a
        `psql` process each time cost ~0.1 s per test)."""
        if self.admin is None:
            self.admin = psycopg.connect(self.uri, autocommit=True)
        self.admin.execute(sql.encode())

    def create_database(self, request: pytest.FixtureRequest, template: str = TEMPLATE_DB) -> str:
        """A fresh database: a copy of the migrated template, or empty with template0;
        dropped when `request`'s test or fixture ends (a session's ~450 copies of ~12 MB
        each made its final clean-up take 20-45 s)."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
        request.addfinalizer(lambda: self.drop_database(name))
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop it, ending any connection a test left (a killed server's included); a
        database that cannot be dropped stays until the server's folder is deleted."""
        with contextlib.suppress(psycopg.Error):
            self.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def pg() -> Iterator[PgServer]:
    """A real PostgreSQL 16 with pgvector, from the pgserver wheel, with a migrated template."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        # Killed sessions leave a running server and gigabytes behind: stop and delete
        # theirs (never a live session's) before adding one more.
        pg_folders.sweep_dead()
        root = pg_folders.claim_folder()
        # "delete": a session's copies of the template add up to gigabytes; left behind in
        # /tmp by every run, they filled the disk.
        server = pgserver.get_server(root / "data", cleanup_mode="delete")
    pg = PgServer(server, server.get_uri(), root)
    # A throwaway server: durability against an OS crash buys nothing here, and every commit
    # and CREATE DATABASE waited for the disk of a machine shared with other jobs.
    for name in ("fsync", "synchronous_commit", "full_page_writes"):
        pg.execute(f"ALTER SYSTEM SET {name} = off")
    pg.execute("SELECT pg_reload_conf()")
    pg.execute(f"DROP DATABASE IF EXISTS {TEMPLATE_DB}")
    pg.execute(f"CREATE DATABASE {TEMPLATE_DB}")

    async def prepare() -> None:
        db = Database(Settings(database_url=pg.url_for(TEMPLATE_DB)).sqlalchemy_url)
        await migrate(db, root)
        await db.dispose()

    # In a thread of its own: the first test to need PostgreSQL may run inside an event loop
    # (Playwright's sync API keeps one running in the main thread).
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, prepare()).result()
    yield pg
    if pg.admin is not None:
        pg.admin.close()
    server.cleanup()
    # "stop" keeps the data folder: 1-3 GB per test session, which filled the disk.
    shutil.rmtree(root, ignore_errors=True)


@dataclass
class S3Server:
    endpoint: str
    bucket: str


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """A real S3-compatible HTTP server (moto's server mode) with one bucket."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="graphmill-test")
    yield S3Server(endpoint, "graphmill-test")
    server.stop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_settings(
    backend: str, folder: Path, request: pytest.FixtureRequest, **overrides: Any
) -> Settings:
    """Settings on a fresh store of the backend pair (data folder under `folder`)."""
    values: dict[str, Any] = {"data_dir": folder / "data", "log_level": "WARNING"}
    if backend == "postgresql-s3":
        pg: PgServer = request.getfixturevalue("pg")
        s3: S3Server = request.getfixturevalue("s3")
        values |= {
            "database_url": pg.create_database(request),
            "blob_url": f"s3://{s3.bucket}/{uuid.uuid4().hex}",
            "s3_endpoint_url": s3.endpoint,
            "s3_path_style": True,
        }
    values |= overrides
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings_factory(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    """Make Settings for this test's backend pair; keyword arguments override."""

    def make(**overrides: Any) -> Settings:
        return make_settings(backend, tmp_path, request, **overrides)

    return make


@pytest.fixture
def settings(settings_factory: Any) -> Settings:
    return settings_factory()


class LiveServer:
    """graphmill served by uvicorn on a real port, in a thread of the test process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("graphmill did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    with LiveServer(settings) as live:
        yield live


@pytest.fixture
def alice(server: LiveServer) -> Iterator[Api]:
    api = sign_up(server.base_url, "alice@example.com")
    yield api
    api.close()


@pytest.fixture
def bob(server: LiveServer) -> Iterator[Api]:
    api = sign_up(server.base_url, "bob@example.com")
    yield api
    api.close()


@pytest.fixture
def anon(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        yield client
