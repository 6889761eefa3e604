"""`graphmill add`, `search`, `status`, `datasets ...`, `data ...`."""

from __future__ import annotations

import glob
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

import click

from graphmill.cli.base import Connection, emit, err, json_option, out, pass_connection
from graphmill.errors import InvalidInput
from graphmill.search.types import DEFAULT_TYPE, SearchType

# The client, the wire schemas and rich's tables are imported where used: `--help` stays fast.
if TYPE_CHECKING:
    from graphmill.api.dto import SearchPayloadDTO
    from graphmill.client.base import Client, Source

P = TypeVar("P", bound="SearchPayloadDTO")
F = TypeVar("F", bound=Callable[..., Any])


def collect(paths: tuple[str, ...]) -> list[Source]:
    """Files, folders (recursively), globs (`**` too) and `-` for stdin, in the given order."""
    from graphmill.client.base import Source, files_under

    sources: list[Source] = []
    for raw in paths:
        if raw == "-":
            sources.append(Source.of_bytes(sys.stdin.buffer.read(), "stdin.txt"))
            continue
        matches = [raw] if Path(raw).exists() else sorted(glob.glob(raw, recursive=True))
        if not matches:
            raise InvalidInput(f"No such file or folder: {raw}")
        for match in matches:
            sources.extend(Source.of_path(p) for p in files_under(Path(match)))
    if not sources:
        raise InvalidInput("Nothing to add: the folders given hold no files.")
    return sources


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--dataset", "-d", default="main_dataset", show_default=True, help="Dataset name.")
@click.option("--node-set", multiple=True, help="Node set of the added items (repeatable).")
@json_option
@pass_connection
def add(conn: Connection, paths: tuple[str, ...], dataset: str, node_set: tuple[str, ...]) -> int:
    """Add files, folders (recursively), globs or `-` (stdin) to a dataset."""
    sources = collect(paths)
    info = conn.run(lambda c: c.add(sources, dataset, node_set=list(node_set) or None))

    def human() -> None:
        entries = info.data_ingestion_info or []
        known = sum(e.run_info.status == "PipelineRunAlreadyCompleted" for e in entries)
        out.print(
            f"Added {len(entries) - known} new item(s) to dataset [bold]{info.dataset_name}"
            f"[/bold] ({known} already there). Next: graphmill cognify {info.dataset_name}"
        )

    emit(conn, info, human)
    return 0


def query_payload(
    model: type[P],
    query: str,
    search_type: str | None,
    datasets: tuple[str, ...],
    top_k: int,
    **extra: Any,
) -> P:
    """A search (or recall) payload from the command's options; sources always included."""
    return model(
        query=query,
        search_type=SearchType(search_type.upper()) if search_type else None,
        datasets=list(datasets) or None,
        top_k=top_k,
        include_references=True,
        **extra,
    )


def source_line(ref: dict[str, Any]) -> str:
    span = f" chars {ref.get('start')}-{ref.get('end')}" if ref.get("start") is not None else ""
    return f"{ref.get('document_name')}{span}  {ref.get('raw_url')}"


def query_options(default_type: str | None, top_k: int) -> Callable[[F], F]:
    """QUERY, --type, --dataset and --top-k, as `search` and `recall` take them."""

    def apply(command: F) -> F:
        for option in reversed(
            [
                click.argument("query"),
                click.option(
                    "--type",
                    "search_type",
                    type=click.Choice([t.value for t in SearchType], case_sensitive=False),
                    default=default_type,
                    show_default=default_type is not None,
                    help="Search type." if default_type else "Search type (default: chosen).",
                ),
                click.option(
                    "--dataset", "-d", "datasets", multiple=True, help="Dataset (repeatable)."
                ),
                click.option(
                    "--top-k",
                    type=click.IntRange(min=1),
                    default=top_k,
                    show_default=True,
                    help="Most passages used.",
                ),
            ]
        ):
            command = option(command)
        return command

    return apply


@click.command()
@query_options(DEFAULT_TYPE.value, top_k=10)
@json_option
@pass_connection
def search(
    conn: Connection, query: str, search_type: str, datasets: tuple[str, ...], top_k: int
) -> int:
    """Search the datasets you can read; every hit names the file it came from."""
    from graphmill.api.dto import SearchPayloadDTO

    payload = query_payload(SearchPayloadDTO, query, search_type, datasets, top_k)
    envelopes = conn.run(lambda c: c.search(payload))

    def human() -> None:
        if not envelopes:
            out.print("No dataset to search: add and cognify one first.")
        for env in envelopes:
            out.rule(f"[bold]{env.dataset_name}")
            results = getattr(env, "search_result", None) or []
            if not results:
                out.print("[dim]nothing found[/dim]")
            for result in results:
                text = result.get("text") if isinstance(result, dict) else result
                out.print(str(text).strip(), highlight=False)
                if isinstance(result, dict) and "raw_url" in result:
                    out.print(f"  [dim]source:[/dim] {source_line(result)}", highlight=False)
                out.print()
            refs = env.references or []
            if refs and not any(isinstance(r, dict) and "raw_url" in r for r in results):
                out.print("[dim]sources:[/dim]")
                for ref in refs:
                    out.print(f"  {source_line(ref)}", highlight=False)
            for note in env.notes or []:
                err.print(f"[dim]note: {note}[/dim]", highlight=False)

    emit(conn, envelopes, human)
    return 0


@click.command()
@click.argument("datasets", nargs=-1)
@json_option
@pass_connection
def status(conn: Connection, datasets: tuple[str, ...]) -> int:
    """Each dataset's cognify status and its latest run's counts."""
    from graphmill.client.base import find_dataset

    async def work(client: Client) -> list[dict[str, Any]]:
        found = [await find_dataset(client, d) for d in datasets] or await client.list_datasets()
        ids = [d.id for d in found]
        progress = await client.progress(ids) if ids else {}
        states = await client.status(ids) if ids else {}
        return [
            {
                "dataset_id": str(d.id),
                "dataset_name": d.name,
                "status": states.get(str(d.id)),
                "progress": progress.get(str(d.id), {}).get("progress"),
            }
            for d in found
        ]

    rows = conn.run(work)

    def human() -> None:
        from rich.table import Table

        table = Table("dataset", "status", "done", "failed", "total", "stage")
        for row in rows:
            p = row["progress"] or {}
            table.add_row(
                row["dataset_name"],
                row["status"] or "never cognified",
                str(p.get("completed", "")),
                str(p.get("failed", "")),
                str(p.get("total", "")),
                p.get("stage") or "",
            )
        out.print(table)

    emit(conn, rows, human)
    return 0


@click.group()
def datasets() -> None:
    """List and delete datasets."""


@datasets.command("list")
@json_option
@pass_connection
def datasets_list(conn: Connection) -> int:
    """The datasets you can read."""
    found = conn.run(lambda c: c.list_datasets())

    def human() -> None:
        from rich.table import Table

        table = Table("name", "id", "created")
        for d in found:
            table.add_row(d.name, str(d.id), d.created_at.strftime("%Y-%m-%d %H:%M"))
        out.print(table)

    emit(conn, found, human)
    return 0


def confirm(yes: bool, question: str) -> None:
    """Ask unless `yes`; a "no" changes nothing and exits 1."""
    if not yes and not click.confirm(question):
        err.print("Nothing changed.")
        raise click.exceptions.Exit(1)


@datasets.command("delete")
@click.argument("dataset")
@click.option("--yes", "-y", is_flag=True, help="Do not ask.")
@json_option
@pass_connection
def datasets_delete(conn: Connection, dataset: str, yes: bool) -> int:
    """Delete a dataset, its data, graph and vectors (by name or id)."""
    from graphmill.client.base import find_dataset

    async def work(client: Client) -> dict[str, str]:
        found = await find_dataset(client, dataset)
        confirm(yes, f"Delete dataset {found.name} ({found.id}) and everything in it?")
        await client.delete_dataset(found.id)
        return {"deleted": str(found.id)}

    done = conn.run(work)
    emit(conn, done, lambda: out.print(f"Deleted dataset {dataset}."))
    return 0


@click.group()
def data() -> None:
    """List, download and delete a dataset's items."""


@data.command("list")
@click.argument("dataset")
@click.option("--status", "state", help="Only items in this cognify state (e.g. failed).")
@json_option
@pass_connection
def data_list(conn: Connection, dataset: str, state: str | None) -> int:
    """A dataset's items with their cognify state (errors in words)."""
    from graphmill.client.base import find_dataset

    async def work(client: Client) -> list[Any]:
        return await client.list_data((await find_dataset(client, dataset)).id, state)

    items = conn.run(work)

    def human() -> None:
        from rich.table import Table

        table = Table("name", "id", "bytes", "state", "error")
        for item in items:
            st = item.pipeline_status.get("cognify_pipeline")
            error = f"{st.error_class}: {st.error_message}" if st and st.error_class else ""
            table.add_row(
                item.original_name,
                str(item.id),
                str(item.data_size),
                st.state if st else "not cognified",
                error,
            )
        out.print(table)

    emit(conn, items, human)
    return 0


@data.command("download")
@click.argument("dataset")
@click.argument("item")
@click.option("--output", "-o", help="File to write (`-`: stdout); default: its original name.")
@pass_connection
def data_download(conn: Connection, dataset: str, item: str, output: str | None) -> int:
    """Download exactly the bytes that were added (ITEM: id or file name)."""
    from graphmill.client.base import find_data, find_dataset

    async def work(client: Client, sink: BinaryIO) -> tuple[str, int]:
        found = await find_dataset(client, dataset)
        entry = await find_data(client, found, item)
        size = 0
        async for chunk in client.download(found.id, entry.id):
            sink.write(chunk)
            size += len(chunk)
        return entry.original_name, size

    if output == "-":
        conn.run(lambda c: work(c, sys.stdout.buffer))
        sys.stdout.buffer.flush()
        return 0
    # Written beside the target under a temporary name: a failed download leaves nothing.
    part = Path(f"{output or 'graphmill-download'}.part-{uuid.uuid4().hex[:8]}")
    try:
        with part.open("wb") as file:
            name, size = conn.run(lambda c: work(c, file))
        target = Path(output or Path(name).name)
        part.replace(target)
    finally:
        part.unlink(missing_ok=True)
    err.print(f"Wrote {size} bytes to {target}.", highlight=False)
    return 0


@data.command("delete")
@click.argument("dataset")
@click.argument("item")
@click.option("--yes", "-y", is_flag=True, help="Do not ask.")
@json_option
@pass_connection
def data_delete(conn: Connection, dataset: str, item: str, yes: bool) -> int:
    """Delete one item and what only it supported in the graph (ITEM: id or file name)."""
    from graphmill.client.base import find_data, find_dataset

    async def work(client: Client) -> dict[str, str]:
        found = await find_dataset(client, dataset)
        entry = await find_data(client, found, item)
        confirm(yes, f"Delete {entry.original_name} ({entry.id}) from {found.name}?")
        await client.delete_data(found.id, entry.id)
        return {"deleted": str(entry.id)}

    done = conn.run(work)
    emit(conn, done, lambda: out.print(f"Deleted {item} from {dataset}."))
    return 0
