"""The Python API, shaped as cognee's SDK: `await graphmill.add(...)`, `cognify`, `search`,
`graphmill.datasets.*`, and `graphmill.connect(url, api_key=...)` for a server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from graphmill.api.dto import (
    DataDTO,
    DatasetDTO,
    PipelineRunInfo,
    SearchEnvelopeDTO,
    SearchPayloadDTO,
    SearchVerboseEnvelopeDTO,
)
from graphmill.client.base import Client, sources_of
from graphmill.client.local import LocalClient
from graphmill.client.remote import RemoteClient
from graphmill.config import Settings
from graphmill.search.types import SearchType

Opener = Callable[[bool], AbstractAsyncContextManager[Client]]


class Datasets:
    """`graphmill.datasets`: what cognee's `cognee.datasets` offers."""

    def __init__(self, opener: Opener) -> None:
        self._open = opener

    async def list_datasets(self) -> list[DatasetDTO]:
        """The datasets the caller can read."""
        async with self._open(False) as client:
            return await client.list_datasets()

    async def list_data(self, dataset_id: uuid.UUID | str) -> list[DataDTO]:
        """A dataset's items, each with its state per pipeline."""
        async with self._open(False) as client:
            return await client.list_data(uuid.UUID(str(dataset_id)))

    async def get_status(self, dataset_ids: Sequence[uuid.UUID | str]) -> dict[str, str]:
        """cognee's status (`DATASET_PROCESSING_COMPLETED`, ...) by dataset id."""
        async with self._open(False) as client:
            return await client.status([uuid.UUID(str(d)) for d in dataset_ids])

    async def delete_data(self, dataset_id: uuid.UUID | str, data_id: uuid.UUID | str) -> None:
        """Delete one item and what only it supported in the graph."""
        async with self._open(False) as client:
            await client.delete_data(uuid.UUID(str(dataset_id)), uuid.UUID(str(data_id)))

    async def delete_dataset(self, dataset_id: uuid.UUID | str) -> None:
        """Delete a dataset with its data, graph and vectors."""
        async with self._open(False) as client:
            await client.delete_dataset(uuid.UUID(str(dataset_id)))


class Graphmill:
    """graphmill for one user: in-process on a data folder, or a server (`connect`).

    The methods answer with the REST API's schemas, whichever way it is connected.
    """

    def __init__(self, opener: Opener, close: Callable[[], Any] | None = None) -> None:
        self._open = opener
        self._close = close
        self.datasets = Datasets(opener)

    async def add(
        self,
        data: Any,
        dataset_name: str = "main_dataset",
        *,
        dataset_id: uuid.UUID | None = None,
        node_set: list[str] | None = None,
    ) -> PipelineRunInfo:
        """Add paths (files, folders), text, bytes or file objects (or a list of them)."""
        sources = sources_of(data)
        async with self._open(False) as client:
            return await client.add(sources, dataset_name, dataset_id, node_set)

    async def cognify(
        self,
        datasets: str | Sequence[str] | None = None,
        *,
        dataset_ids: Sequence[uuid.UUID] | None = None,
        run_in_background: bool = False,
    ) -> dict[str, PipelineRunInfo]:
        """Build the graph and vectors of the datasets (default: all of the caller's).

        In-process the run executes here, so the call waits for it; against a server
        `run_in_background=True` returns at once.
        """
        names = [datasets] if isinstance(datasets, str) else list(datasets or [])
        async with self._open(True) as client:
            ids = list(dataset_ids or [])
            if not names and not ids:
                me = (await client.me()).id
                ids = [d.id for d in await client.list_datasets() if d.owner_id == me]
            return await client.cognify(names, ids, background=run_in_background)

    async def search(
        self,
        query_text: str,
        query_type: SearchType | str = SearchType.GRAPH_COMPLETION,
        datasets: str | Sequence[str] | None = None,
        top_k: int = 10,
        *,
        dataset_ids: Sequence[uuid.UUID] | None = None,
        system_prompt: str | None = None,
        node_name: list[str] | None = None,
        only_context: bool = False,
        verbose: bool = False,
        include_references: bool = False,
    ) -> list[SearchEnvelopeDTO | SearchVerboseEnvelopeDTO]:
        """Search the datasets the caller can read: one answer per dataset, with sources."""
        payload = SearchPayloadDTO(
            query=query_text,
            search_type=SearchType(str(query_type).upper()),
            datasets=[datasets] if isinstance(datasets, str) else datasets,
            dataset_ids=dataset_ids,
            top_k=top_k,
            node_name=node_name,
            only_context=only_context,
            verbose=verbose,
            include_references=include_references,
            **({"system_prompt": system_prompt} if system_prompt is not None else {}),
        )
        async with self._open(False) as client:
            return await client.search(payload)

    async def aclose(self) -> None:
        """Close the connection to the server (nothing to do in-process)."""
        if self._close is not None:
            await self._close()

    async def __aenter__(self) -> Graphmill:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def local(data_dir: str | Path | None = None) -> Graphmill:
    """graphmill in-process on a data folder (default: GRAPHMILL_DATA_DIR or ./.graphmill)
    as the local user; each call opens the store, works, and closes it."""

    @asynccontextmanager
    async def opener(execute: bool) -> AsyncIterator[Client]:
        settings = Settings(data_dir=Path(data_dir)) if data_dir else Settings()
        client = await LocalClient.open(settings, execute=execute)
        try:
            yield client
        finally:
            await client.aclose()

    return Graphmill(opener)


def connect(url: str, *, api_key: str | None = None, token: str | None = None) -> Graphmill:
    """A graphmill server as the account of the API key (or login token); close it with
    `await client.aclose()` or use it as `async with graphmill.connect(...) as client`."""
    remote = RemoteClient(url, api_key=api_key, token=token)

    @asynccontextmanager
    async def opener(execute: bool) -> AsyncIterator[Client]:
        yield remote

    return Graphmill(opener, remote.aclose)


_default = local()
add = _default.add
cognify = _default.cognify
search = _default.search
datasets = _default.datasets
