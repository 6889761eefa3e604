"""The Python API, shaped as cognee's SDK: `await graphmill.add(...)`, `cognify`, `search`,
`remember`, `remember_entry`, `recall`, `forget`, `improve`, `graphmill.datasets.*`,
`graphmill.sessions.*`, and `graphmill.connect(url, api_key=...)` for a server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from graphmill.api.dto import (
    DataDTO,
    DatasetDTO,
    FeedbackEntryDTO,
    ForgetPayloadDTO,
    ImprovePayloadDTO,
    PipelineRunInfo,
    QAEntryDTO,
    RecallPayloadDTO,
    RememberEntryDTO,
    RememberFormDTO,
    SearchEnvelopeDTO,
    SearchPayloadDTO,
    SearchVerboseEnvelopeDTO,
    TraceEntryDTO,
)
from graphmill.client.base import Client, sources_of
from graphmill.client.local import LocalClient
from graphmill.client.remote import RemoteClient
from graphmill.config import Settings
from graphmill.search.types import SearchType

Opener = Callable[[bool], AbstractAsyncContextManager[Client]]

# cognee's typed memory entries (`cognee.QAEntry`, ...): a QA turn, an agent's trace step,
# feedback on a QA turn; `remember(entry, session_id=...)` keeps one in a session.
QAEntry = QAEntryDTO
TraceEntry = TraceEntryDTO
FeedbackEntry = FeedbackEntryDTO
MemoryEntry = QAEntryDTO | TraceEntryDTO | FeedbackEntryDTO


def _query(
    query_text: str,
    datasets: str | Sequence[str] | None,
    dataset_ids: Sequence[uuid.UUID] | None,
    top_k: int | None,
    system_prompt: str | None,
    node_name: list[str] | None,
) -> dict[str, Any]:
    """The fields search and recall share, as their payloads name them."""
    return {
        "query": query_text,
        "datasets": [datasets] if isinstance(datasets, str) else datasets,
        "dataset_ids": dataset_ids,
        "top_k": top_k,
        "node_name": node_name,
        **({"system_prompt": system_prompt} if system_prompt is not None else {}),
    }


def _name_or_id(dataset: str | uuid.UUID | None) -> tuple[str | None, uuid.UUID | None]:
    """A dataset given by name (`str`) or by id (`uuid.UUID`), as the payloads take it."""
    if isinstance(dataset, uuid.UUID):
        return None, dataset
    return dataset, None


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


class Sessions:
    """`graphmill.sessions`: the caller's sessions (what `GET /api/v1/sessions` answers)."""

    def __init__(self, opener: Opener) -> None:
        self._open = opener

    async def list_sessions(
        self, range: str = "30d", limit: int = 50, offset: int = 0
    ) -> dict[str, Any]:
        """A page of sessions, most recently active first: `sessions`, `total`, `has_more`;
        `range` is `24h`, `7d`, `30d` or `all`."""
        async with self._open(False) as client:
            return await client.list_sessions(range, limit, offset)

    async def get_session(self, session_id: str) -> dict[str, Any]:
        """One session with its QA turns (`qas`) and trace steps (`traces`), oldest first."""
        async with self._open(False) as client:
            return await client.get_session(session_id)


class Graphmill:
    """graphmill for one user: in-process on a data folder, or a server (`connect`).

    The methods answer with the REST API's schemas, whichever way it is connected.
    """

    def __init__(self, opener: Opener, close: Callable[[], Any] | None = None) -> None:
        self._open = opener
        self._close = close
        self.datasets = Datasets(opener)
        self.sessions = Sessions(opener)

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
            search_type=SearchType(str(query_type).upper()),
            **_query(query_text, datasets, dataset_ids, top_k, system_prompt, node_name),
            only_context=only_context,
            verbose=verbose,
            include_references=include_references,
        )
        async with self._open(False) as client:
            return await client.search(payload)

    async def remember(
        self,
        data: Any,
        dataset_name: str = "main_dataset",
        *,
        session_id: str | None = None,
        run_in_background: bool = False,
        dataset_id: uuid.UUID | None = None,
        node_set: list[str] | None = None,
        custom_prompt: str | None = None,
        chunk_size: int | None = None,
        chunks_per_batch: int | None = None,
    ) -> dict[str, Any]:
        """Add, then cognify, in one call (what `add` takes); with `session_id` text is kept
        in that session too. Answers cognee's RememberResult as `POST /remember` does:
        `status` is `completed`, `running` (in the background) or `errored` (with `error`).
        In-process the run executes here, so the call waits for it. A `QAEntry`,
        `TraceEntry` or `FeedbackEntry` is kept in the session instead (`remember_entry`)."""
        if isinstance(data, QAEntryDTO | TraceEntryDTO | FeedbackEntryDTO):
            return await self.remember_entry(data, dataset_name, session_id=session_id)
        sources = sources_of(data)
        form = RememberFormDTO(
            dataset_name=dataset_name,
            dataset_id=str(dataset_id) if dataset_id else None,
            node_set=node_set,
            session_id=session_id,
            run_in_background=run_in_background,
            custom_prompt=custom_prompt,
            chunk_size=chunk_size,
            chunks_per_batch=chunks_per_batch,
        )
        async with self._open(True) as client:
            return await client.remember(sources, form)

    async def remember_entry(
        self,
        entry: MemoryEntry | dict[str, Any],
        dataset_name: str = "main_dataset",
        *,
        session_id: str | None = None,
    ) -> dict[str, Any]:
        """Keep a QA turn or a trace step in session `session_id`, or attach feedback to a
        QA turn (`entry` a `QAEntry`, `TraceEntry`, `FeedbackEntry` or its dict with `type`).
        Answers as `POST /remember/entry` does (`status: "session_stored"`, `entry_id`)."""
        payload = RememberEntryDTO.model_validate(
            {"entry": entry, "dataset_name": dataset_name, "session_id": session_id}
        )
        async with self._open(False) as client:
            return await client.remember_entry(payload)

    async def recall(
        self,
        query_text: str,
        search_type: SearchType | str | None = None,
        datasets: str | Sequence[str] | None = None,
        top_k: int | None = None,
        *,
        session_id: str | None = None,
        scope: str | Sequence[str] | None = None,
        dataset_ids: Sequence[uuid.UUID] | None = None,
        system_prompt: str | None = None,
        node_name: list[str] | None = None,
        only_context: bool = False,
        verbose: bool = False,
        include_references: bool = False,
    ) -> list[dict[str, Any]]:
        """Search the memory: one flat list of items, each with its `source` (`graph`,
        `session`, `trace`), as `POST /recall` answers. No `search_type`: graphmill chooses;
        `scope` picks the sources (default `auto`: the graph, and the session if named)."""
        payload = RecallPayloadDTO(
            search_type=SearchType(str(search_type).upper()) if search_type else None,
            **_query(query_text, datasets, dataset_ids, top_k, system_prompt, node_name),
            only_context=only_context,
            verbose=verbose,
            include_references=include_references,
            session_id=session_id,
            scope=scope if scope is None or isinstance(scope, str) else list(scope),
        )
        async with self._open(False) as client:
            return await client.recall(payload)

    async def forget(
        self,
        data_id: uuid.UUID | str | None = None,
        dataset: str | uuid.UUID | None = None,
        everything: bool = False,
        memory_only: bool = False,
    ) -> dict[str, Any]:
        """Delete an item (`data_id` and its `dataset`), a dataset (by name, or by id as a
        UUID) or everything the caller owns; `memory_only` keeps the uploads and drops what
        cognify derived. Answers as `POST /forget` does (`status: "success"`, and counts)."""
        name, dataset_id = _name_or_id(dataset)
        payload = ForgetPayloadDTO(
            data_id=uuid.UUID(str(data_id)) if data_id else None,
            dataset=name,
            dataset_id=dataset_id,
            everything=everything,
            memory_only=memory_only,
        )
        async with self._open(False) as client:
            return await client.forget(payload)

    async def improve(
        self,
        dataset: str | uuid.UUID = "main_dataset",
        *,
        run_in_background: bool = False,
        session_ids: list[str] | None = None,
    ) -> dict[str, Any]:
        """Make a dataset's memory better (by name, or by id as a UUID): merge duplicate
        entities, then fold the useful answers of `session_ids` into the graph. Answers
        cognee's ImproveResult as `POST /improve` does (`status`, `stages`). In-process the
        run executes here, so the call waits for it."""
        name, dataset_id = _name_or_id(dataset)
        payload = ImprovePayloadDTO(
            dataset_name=name,
            dataset_id=dataset_id,
            run_in_background=run_in_background,
            session_ids=session_ids,
        )
        async with self._open(True) as client:
            return await client.improve(payload)

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
remember = _default.remember
remember_entry = _default.remember_entry
recall = _default.recall
forget = _default.forget
improve = _default.improve
datasets = _default.datasets
sessions = _default.sessions
