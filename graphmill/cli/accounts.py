"""`graphmill users create`, `graphmill create-user` (for scripts) and `graphmill api-keys ...`."""

from __future__ import annotations

import sys
import uuid
from dataclasses import replace
from pathlib import Path

import click

from graphmill.cli.base import Connection, emit, err, json_option, out, pass_connection


@click.group()
def users() -> None:
    """Accounts."""


@users.command("create")
@click.argument("email")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    envvar="GRAPHMILL_PASSWORD",
    help="The password (GRAPHMILL_PASSWORD; asked when not given).",
)
@json_option
@pass_connection
def users_create(conn: Connection, email: str, password: str) -> int:
    """Create an account (the way to make the first one); it signs in with its password."""
    user = conn.run(lambda c: c.create_user(email, password))
    emit(conn, user, lambda: out.print(f"Created {user.email} ({user.id}).", highlight=False))
    return 0


@click.group("api-keys")
def api_keys() -> None:
    """API keys of the account acting (locally: the local user, or `--as EMAIL`)."""


@api_keys.command("create")
@click.option("--name", help="A name to recognise the key by.")
@json_option
@pass_connection
def api_keys_create(conn: Connection, name: str | None) -> int:
    """A new key; it is shown once, here."""
    key = conn.run(lambda c: c.create_api_key(name))

    def human() -> None:
        out.print(key.key, highlight=False)
        err.print(f"API key {key.id}: keep it now, it is never shown again.", highlight=False)

    emit(conn, key, human)
    return 0


@api_keys.command("list")
@json_option
@pass_connection
def api_keys_list(conn: Connection) -> int:
    """The account's keys (their first characters only)."""
    keys = conn.run(lambda c: c.list_api_keys())

    def human() -> None:
        from rich.table import Table

        table = Table("id", "name", "key")
        for k in keys:
            table.add_row(str(k.id), k.name or "", k.label)
        out.print(table)

    emit(conn, keys, human)
    return 0


@api_keys.command("revoke")
@click.argument("key_id", type=click.UUID)
@json_option
@pass_connection
def api_keys_revoke(conn: Connection, key_id: uuid.UUID) -> int:
    """Delete a key: requests with it are refused from now on."""
    conn.run(lambda c: c.revoke_api_key(key_id))
    emit(conn, {"revoked": str(key_id)}, lambda: out.print(f"Revoked {key_id}."))
    return 0


@click.command("create-user")
@click.option("--email", required=True, help="The account's email (its login name).")
@click.option("--api-key", "key_name", metavar="NAME", help="Also create an API key so named.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Data folder.")
@pass_connection
def create_user(conn: Connection, email: str, key_name: str | None, data_dir: Path | None) -> int:
    """For scripts: the first account (and an API key for cognee's clients); the password is
    read from stdin (asked on a terminal). Prints `user_id: …` and `api_key: …`."""
    if sys.stdin.isatty():
        password = click.prompt("password", hide_input=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise click.UsageError("an empty password is not allowed")
    if data_dir is not None:
        conn = replace(conn, data_dir=data_dir)
    user = conn.run(lambda c: c.create_user(email, password))
    click.echo(f"user_id: {user.id}")
    if key_name:
        key = replace(conn, email=email).run(lambda c: c.create_api_key(key_name))
        click.echo(f"api_key: {key.key}")
    return 0
