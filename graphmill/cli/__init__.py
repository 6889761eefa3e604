"""`graphmill ...`: a thin shell over the async core, in-process or against a server."""

from __future__ import annotations

import asyncio
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from graphmill.cli.accounts import api_keys, create_user, users
from graphmill.cli.base import Connection, pass_connection
from graphmill.cli.data import add, data, datasets, search, status
from graphmill.cli.memory import forget, improve, recall, remember, sessions
from graphmill.cli.runs import cognify, runs
from graphmill.errors import GraphmillError

# Commands import what they use when they run: `graphmill --help` loads click and rich only.
if TYPE_CHECKING:
    from graphmill.config import Settings


def _expected(exc: Exception) -> bool:
    """An error whose message says it all (no traceback hint)."""
    if isinstance(exc, OSError | GraphmillError):
        return True
    from httpx import HTTPError
    from pydantic import ValidationError

    from graphmill.cli.selftest import SelftestError

    return isinstance(exc, ValidationError | SelftestError | HTTPError)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", envvar="GRAPHMILL_URL", help="A graphmill server (GRAPHMILL_URL).")
@click.option("--api-key", envvar="GRAPHMILL_API_KEY", help="API key (GRAPHMILL_API_KEY).")
@click.option("--token", envvar="GRAPHMILL_TOKEN", help="Login token (GRAPHMILL_TOKEN).")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    help="Local data folder (GRAPHMILL_DATA_DIR; default ./.graphmill).",
)
@click.option("--as", "email", help="Locally: act as this account instead of the local user.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks.")
@click.version_option(package_name="graphmill")
@click.pass_context
def cli(
    ctx: click.Context,
    url: str | None,
    api_key: str | None,
    token: str | None,
    data_dir: Path | None,
    email: str | None,
    as_json: bool,
    verbose: bool,
) -> None:
    """graphmill: documents into a knowledge graph you can search.

    Works on the local data folder as the local user, or on a server with --url and an
    API key (or token).
    """
    ctx.obj = Connection(url, api_key, token, data_dir, email, as_json, verbose)


def _server_settings(conn: Connection, data_dir: Path | None) -> Settings:
    from graphmill.config import Settings

    return Settings(data_dir=data_dir) if data_dir else conn.settings()


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=int, default=8000, show_default=True, help="Port to listen on.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Data folder.")
@pass_connection
def serve(conn: Connection, host: str, port: int, data_dir: Path | None) -> int:
    """Run the REST API."""
    import uvicorn

    from graphmill.api.app import create_app
    from graphmill.api.server import http_protocol
    from graphmill.logs import configure_logging

    settings = _server_settings(conn, data_dir)
    configure_logging(settings)
    uvicorn.run(
        create_app(settings, standalone=True),
        host=host,
        port=port,
        http=http_protocol(settings.max_header_bytes),
        log_config=None,  # uvicorn's loggers write through ours (configure_logging)
        timeout_graceful_shutdown=10,
    )
    return 0


@cli.command()
@click.option("--concurrency", type=int, default=4, show_default=True, help="Runs at once.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Data folder.")
@click.option("--for-server", type=int, hidden=True, help="Be this server's pipeline process.")
@pass_connection
def worker(
    conn: Connection, concurrency: int, data_dir: Path | None, for_server: int | None
) -> int:
    """Execute pipeline runs taken from PostgreSQL."""
    from graphmill.logs import configure_logging
    from graphmill.pipelines.executors import die_with, serve_pipelines, work
    from graphmill.services import close_services, freeze_startup_heap, open_services

    if for_server is not None:
        die_with(for_server)
    settings = _server_settings(conn, data_dir)
    configure_logging(settings)

    async def run() -> None:
        services = await open_services(settings, role="worker")
        freeze_startup_heap()
        try:
            if for_server is not None:
                await serve_pipelines(services.runtime)
            else:
                await work(services.runtime, concurrency)
        finally:
            await close_services(services)

    asyncio.run(run())
    return 0


@cli.command()
@click.option("--url", "selftest_url", help="The server (GRAPHMILL_URL).")
@click.option("--first", metavar="EMAIL:PASSWORD", envvar="GRAPHMILL_SELFTEST_FIRST")
@click.option("--second", metavar="EMAIL:PASSWORD", envvar="GRAPHMILL_SELFTEST_SECOND")
@click.option("--first-api-key", help="The owner's API key instead of a password.")
@click.option("--second-api-key", help="The prober's API key instead of a password.")
@click.option("--register", is_flag=True, help="Register two fresh accounts and use them.")
@click.option("--timeout", type=float, default=300.0, show_default=True, help="Per request.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_connection
def selftest(
    conn: Connection,
    selftest_url: str | None,
    first: str | None,
    second: str | None,
    first_api_key: str | None,
    second_api_key: str | None,
    register: bool,
    timeout: float,
    as_json: bool,
) -> int:
    """Prove against a running server that one user cannot see another's data.

    Two accounts: the first plants a dataset with a unique token and cognifies it; the
    second probes every route, search type and the event stream for it; then the first
    deletes it. Exit status 0 when every check passes.
    """
    from graphmill.cli.selftest import Credentials, SelftestError, register_pair, run_selftest

    url = selftest_url or conn.url
    if not url:
        raise SelftestError("give the server with --url (or GRAPHMILL_URL)")
    if register:
        owner, prober = register_pair(url, timeout)
    else:
        owner = Credentials.parse(first, first_api_key)
        prober = Credentials.parse(second, second_api_key)
    report = run_selftest(url, owner, prober, timeout=timeout)
    click.echo(report.as_json() if as_json or conn.as_json else report.render())
    return 0 if report.passed else 1


for command in (
    add,
    cognify,
    status,
    search,
    remember,
    recall,
    forget,
    improve,
    sessions,
    datasets,
    data,
    runs,
    users,
    api_keys,
    create_user,
):
    cli.add_command(command)


def _report(exc: BaseException) -> None:
    click.echo(f"graphmill: {exc}", err=True)
    cause = exc.__cause__
    while cause is not None:
        click.echo(f"  caused by: {cause}", err=True)
        cause = cause.__cause__


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its cause on stderr and a non-zero status when it fails."""
    args = list(argv) if argv is not None else sys.argv[1:]
    verbose = False
    try:
        with cli.make_context("graphmill", args) as ctx:
            verbose = bool(ctx.params.get("verbose"))
            return int(cli.invoke(ctx) or 0)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        click.echo("graphmill: interrupted", err=True)
        return 130
    except Exception as exc:
        if verbose:
            traceback.print_exc()
        _report(exc)
        if not verbose and not _expected(exc):
            click.echo("  (an unexpected error: run with -v for the traceback)", err=True)
        return 1
