"""`graphmill ...`: a thin shell over the async core."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ValidationError, OSError, GraphmillError) as exc:
        if args.verbose:
            raise
        print(f"graphmill: {exc}", file=sys.stderr)
        cause = exc.__cause__
        while cause is not None:
            print(f"  caused by: {cause}", file=sys.stderr)
            cause = cause.__cause__
        return 1


if __name__ == "__main__":
    sys.exit(main())
