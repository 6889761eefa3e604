"""What every command shares: where it connects, how it prints, the one `asyncio.run`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console

if TYPE_CHECKING:
    from graphmill.client.base import Client
    from graphmill.config import Settings

T = TypeVar("T")


@dataclass
class Connection:
    """Where the commands act: a server (`url`) or this machine's store, and as whom."""

    url: str | None
    api_key: str | None
    token: str | None
    data_dir: Path | None
    email: str | None
    as_json: bool
    verbose: bool

    def settings(self) -> Settings:
        from graphmill.config import Settings

        return Settings(data_dir=self.data_dir) if self.data_dir else Settings()

    @property
    def remote(self) -> bool:
        return self.url is not None

    @asynccontextmanager
    async def client(self, *, execute: bool = False) -> AsyncIterator[Client]:
        """The client for this invocation; `execute`: in-process, run cognify here."""
        # Imported here: a command pays only for the side it uses (no database over HTTP).
        client: Client
        if self.url is not None:
            if self.email:
                raise click.UsageError("--as acts on a local store; with --url use its API key")
            from graphmill.client.remote import RemoteClient

            client = RemoteClient(self.url, api_key=self.api_key, token=self.token)
        else:
            from graphmill.client.local import LocalClient

            client = await LocalClient.open(self.settings(), email=self.email, execute=execute)
        try:
            yield client
        finally:
            await client.aclose()

    def run(self, work: Callable[[Client], Awaitable[T]], *, execute: bool = False) -> T:
        """The one sync entry point: `asyncio.run` around the async command."""

        async def main() -> T:
            async with self.client(execute=execute) as client:
                return await work(client)

        return asyncio.run(main())


pass_connection = click.make_pass_decorator(Connection)

# Human output on stdout; progress and notes on stderr, so `--json` output stays parseable.
out = Console(soft_wrap=True)
err = Console(stderr=True)


def _set_json(ctx: click.Context, _: click.Parameter, value: bool) -> None:
    conn = ctx.find_object(Connection)
    if value and conn is not None:
        conn.as_json = True


json_option = click.option(
    "--json",
    is_flag=True,
    expose_value=False,
    callback=_set_json,
    help="Print JSON (the REST API's shapes) for scripts.",
)


def emit(conn: Connection, value: Any, human: Callable[[], None]) -> None:
    """`value` as JSON with --json, else the human rendering."""
    if conn.as_json:
        from pydantic_core import to_jsonable_python

        click.echo(json.dumps(to_jsonable_python(value, by_alias=True), indent=2))
    else:
        if not out.is_terminal:
            # A pipe or a file has no width: tables keep their natural width instead of
            # cutting names to rich's default 80 columns (a script greps whole words).
            out.width = 1000
        human()
