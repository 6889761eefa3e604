"""`graphmill ...`: a thin shell over the async core."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Sequence
from pathlib import Path

from httpx import HTTPError
from pydantic import ValidationError

from graphmill.cli.selftest import SelftestError
from graphmill.config import Settings
from graphmill.errors import GraphmillError
from graphmill.logs import configure_logging


def _settings(args: argparse.Namespace) -> Settings:
    if getattr(args, "data_dir", None):
        return Settings(data_dir=Path(args.data_dir))
    return Settings()


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from graphmill.api.app import create_app
    from graphmill.api.server import http_protocol

    settings = _settings(args)
    configure_logging(settings)
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        http=http_protocol(settings.max_header_bytes),
        log_config=None,  # uvicorn's loggers write through ours (configure_logging)
        timeout_graceful_shutdown=10,
    )
    return 0


def worker(args: argparse.Namespace) -> int:
    from graphmill.pipelines.executors import work
    from graphmill.services import close_services, open_services

    settings = _settings(args)
    configure_logging(settings)

    async def run() -> None:
        services = await open_services(settings, role="worker")
        try:
            await work(services.runtime, args.concurrency)
        finally:
            await close_services(services)

    asyncio.run(run())
    return 0


def selftest(args: argparse.Namespace) -> int:
    import os
    import uuid

    import httpx

    from graphmill.cli.selftest import Credentials, SelftestError, run_selftest

    url = args.url or os.environ.get("GRAPHMILL_URL")
    if not url:
        raise SelftestError("give the server with --url (or GRAPHMILL_URL)")
    if args.register:
        accounts = []
        for _ in range(2):
            email = f"selftest-{uuid.uuid4().hex[:12]}@example.com"
            password = uuid.uuid4().hex
            created = httpx.post(
                f"{url.rstrip('/')}/api/v1/auth/register",
                json={"email": email, "password": password},
                timeout=args.timeout,
            )
            if created.status_code not in (200, 201):
                raise SelftestError(f"registration refused: {created.status_code} {created.text}")
            accounts.append(Credentials(email=email, password=password))
        first, second = accounts
    else:
        first = Credentials.parse(
            args.first or os.environ.get("GRAPHMILL_SELFTEST_FIRST"), args.first_api_key
        )
        second = Credentials.parse(
            args.second or os.environ.get("GRAPHMILL_SELFTEST_SECOND"), args.second_api_key
        )
    report = run_selftest(url, first, second, timeout=args.timeout)
    print(report.as_json() if args.json else report.render())
    return 0 if report.passed else 1


def create_user(args: argparse.Namespace) -> int:
    """Register a user (the first one of a new installation, say) from the command line; the
    password is read from stdin, or asked for on a terminal. With --api-key, also print a
    new API key of the user (for clients that send X-Api-Key, like cognee's SDK)."""
    from graphmill.auth.users import create_api_key, register_user
    from graphmill.db import Database, migrate

    settings = _settings(args)
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        print("graphmill: an empty password is not allowed", file=sys.stderr)
        return 1

    async def run() -> None:
        db = Database(settings.sqlalchemy_url)
        try:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            await migrate(db, settings.data_dir)
            user = await register_user(db, args.email, password)
            print(f"user_id: {user.id}")
            if args.api_key:
                key = await create_api_key(db, user.id, args.api_key, settings.max_api_keys)
                print(f"api_key: {key.key}")
        finally:
            await db.dispose()

    asyncio.run(run())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graphmill", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("serve", help="run the REST API")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    p.add_argument("--port", type=int, default=8000, help="port to listen on")
    p.add_argument("--data-dir", help="data folder (GRAPHMILL_DATA_DIR; default ./.graphmill)")
    p.set_defaults(func=serve)
    w = commands.add_parser("worker", help="execute pipeline runs taken from PostgreSQL")
    w.add_argument("--concurrency", type=int, default=4, help="runs executed at once")
    w.add_argument("--data-dir", help="data folder (GRAPHMILL_DATA_DIR; default ./.graphmill)")
    w.set_defaults(func=worker)
    t = commands.add_parser(
        "selftest",
        help="prove against a running server that one user cannot see another's data",
        description="Two accounts: the first plants a dataset with a unique token and "
        "cognifies it; the second probes every route, search type and the event stream "
        "for it; then the first deletes it. Exit status 0 when every check passes.",
    )
    t.add_argument("--url", help="the server (GRAPHMILL_URL)")
    t.add_argument("--first", metavar="EMAIL:PASSWORD", help="the owner (GRAPHMILL_SELFTEST_FIRST)")
    t.add_argument(
        "--second", metavar="EMAIL:PASSWORD", help="the prober (GRAPHMILL_SELFTEST_SECOND)"
    )
    t.add_argument("--first-api-key", help="the owner's API key instead of a password")
    t.add_argument("--second-api-key", help="the prober's API key instead of a password")
    t.add_argument(
        "--register", action="store_true", help="register two fresh accounts and use them"
    )
    t.add_argument("--timeout", type=float, default=300.0, help="seconds per request")
    t.add_argument("--json", action="store_true", help="print the report as JSON")
    t.set_defaults(func=selftest)

    u = commands.add_parser("create-user", help="register a user; the password comes on stdin")
    u.add_argument("--email", required=True, help="the user's email (the login name)")
    u.add_argument("--api-key", metavar="NAME", help="also create an API key with this name")
    u.add_argument("--data-dir", help="data folder (GRAPHMILL_DATA_DIR; default ./.graphmill)")
    u.set_defaults(func=create_user)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ValidationError, OSError, GraphmillError, SelftestError, HTTPError) as exc:
        if args.verbose:
            raise
        print(f"graphmill: {exc}", file=sys.stderr)
        cause = exc.__cause__
        while cause is not None:
            print(f"  caused by: {cause}", file=sys.stderr)
            cause = cause.__cause__
        return 1
