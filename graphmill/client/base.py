"""What the CLI and the Python API ask of graphmill, in-process or over HTTP: one protocol.

Both implementations answer with the REST API's wire schemas (`graphmill.api.dto`), so a
script sees the same objects, and `--json` the same JSON, whichever way it is connected.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from graphmill.api.dto import (
    ApiKeyRead,
    DataDTO,
    DatasetDTO,
    ForgetPayloadDTO,
    ImprovePayloadDTO,
    PipelineRunInfo,
    RecallPayloadDTO,
    RememberEntryDTO,
    RememberFormDTO,
    RunDTO,
    SearchEnvelopeDTO,
    SearchPayloadDTO,
    SearchVerboseEnvelopeDTO,
    UserRead,
)
from graphmill.errors import DataNotFound, DatasetNotFound, InvalidInput

CHUNK_BYTES = 1 << 20
FINAL_STATES = frozenset({"completed", "completed_with_errors", "failed", "cancelled"})


@dataclass(frozen=True)
class Source:
    """One file to add: its name and how to open its bytes (opened once, when sent)."""

    name: str
    open: Callable[[], IO[bytes]]

    @classmethod
    def of_path(cls, path: Path) -> Source:
        return cls(path.name, lambda: path.open("rb"))

    @classmethod
    def of_bytes(cls, data: bytes, name: str | None = None) -> Source:
        """Bytes; unnamed ones are called `data_<sha256 prefix>.txt` (`.bin` if not UTF-8)."""
        if name is None:
            try:
                data.decode("utf-8")
                suffix = ".txt"
            except UnicodeDecodeError:
                suffix = ".bin"
            name = f"data_{hashlib.sha256(data).hexdigest()[:12]}{suffix}"
        return cls(name, lambda: io.BytesIO(data))

    async def chunks(self) -> AsyncIterator[bytes]:
        with self.open() as file:
            while chunk := file.read(CHUNK_BYTES):
                yield chunk


def files_under(path: Path) -> list[Path]:
    """A file, or every file under a folder (recursively, in name order, hidden ones skipped)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InvalidInput(f"No such file or folder: {path}")
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )


def sources_of(data: Any) -> list[Source]:
    """cognee's add inputs: a path (file or folder), text, bytes, a file object, or a list."""
    if isinstance(data, list | tuple):
        return [s for item in data for s in sources_of(item)]
    if isinstance(data, Path):
        return [Source.of_path(p) for p in files_under(data)]
    if isinstance(data, str):
        path = Path(data.removeprefix("file://"))
        if "\n" not in data and len(data) < 4096 and path.exists():
            return [Source.of_path(p) for p in files_under(path)]
        text = data.encode()
        return [Source.of_bytes(text, f"text_{hashlib.sha256(text).hexdigest()[:12]}.txt")]
    if isinstance(data, bytes | bytearray):
        return [Source.of_bytes(bytes(data))]
    if hasattr(data, "read"):
        raw = data.read()
        content = raw.encode() if isinstance(raw, str) else bytes(raw)
        name = getattr(data, "name", None)
        return [Source.of_bytes(content, Path(name).name if isinstance(name, str) else None)]
    raise InvalidInput(f"Cannot add a {type(data).__name__}: give paths, text, bytes or files.")


class Client(Protocol):
    """graphmill as one user sees it; `LocalClient` and `RemoteClient` implement it."""

    async def me(self) -> UserRead: ...

    async def add(
        self,
        sources: Sequence[Source],
        dataset_name: str | None,
        dataset_id: uuid.UUID | None = None,
        node_set: list[str] | None = None,
    ) -> PipelineRunInfo: ...

    async def cognify(
        self, datasets: Sequence[str], dataset_ids: Sequence[uuid.UUID], background: bool
    ) -> dict[str, PipelineRunInfo]: ...

    async def search(
        self, payload: SearchPayloadDTO
    ) -> list[SearchEnvelopeDTO | SearchVerboseEnvelopeDTO]: ...

    async def remember(self, sources: Sequence[Source], form: RememberFormDTO) -> dict[str, Any]:
        """cognee's RememberResult as `POST /remember` answers it (also when it errored)."""
        ...

    async def recall(self, payload: RecallPayloadDTO) -> list[dict[str, Any]]: ...

    async def forget(self, payload: ForgetPayloadDTO) -> dict[str, Any]: ...

    async def improve(self, payload: ImprovePayloadDTO) -> dict[str, Any]:
        """cognee's ImproveResult as `POST /improve` answers it (also when it errored)."""
        ...

    async def remember_entry(self, payload: RememberEntryDTO) -> dict[str, Any]: ...

    async def list_sessions(self, range: str, limit: int, offset: int) -> dict[str, Any]:
        """A page of the caller's sessions as `GET /sessions` answers it."""
        ...

    async def get_session(self, session_id: str) -> dict[str, Any]: ...

    async def list_datasets(self) -> list[DatasetDTO]: ...

    async def delete_dataset(self, dataset_id: uuid.UUID) -> None: ...

    async def list_data(
        self, dataset_id: uuid.UUID, status: str | None = None
    ) -> list[DataDTO]: ...

    def download(self, dataset_id: uuid.UUID, data_id: uuid.UUID) -> AsyncIterator[bytes]: ...

    async def delete_data(self, dataset_id: uuid.UUID, data_id: uuid.UUID) -> None: ...

    async def status(self, dataset_ids: Sequence[uuid.UUID] | None) -> dict[str, str]: ...

    async def progress(self, dataset_ids: Sequence[uuid.UUID]) -> dict[str, dict[str, Any]]: ...

    async def list_runs(self, dataset_id: uuid.UUID) -> list[RunDTO]: ...

    async def get_run(self, run_id: uuid.UUID) -> RunDTO: ...

    async def cancel_run(self, run_id: uuid.UUID) -> RunDTO: ...

    async def create_user(self, email: str, password: str) -> UserRead: ...

    async def create_api_key(self, name: str | None) -> ApiKeyRead: ...

    async def list_api_keys(self) -> list[ApiKeyRead]: ...

    async def revoke_api_key(self, key_id: uuid.UUID) -> None: ...

    async def aclose(self) -> None: ...


async def find_dataset(client: Client, ref: str) -> DatasetDTO:
    """A readable dataset by id or name (the caller's own first, as search scopes do)."""
    datasets = await client.list_datasets()
    try:
        wanted = uuid.UUID(ref)
    except ValueError:
        named = [d for d in datasets if d.name == ref]
        if len(named) > 1:
            me = (await client.me()).id
            named.sort(key=lambda d: d.owner_id != me)
        if named:
            return named[0]
    else:
        for d in datasets:
            if d.id == wanted:
                return d
    raise DatasetNotFound(f"No dataset {ref!r} that you can read.")


async def find_data(client: Client, dataset: DatasetDTO, ref: str) -> DataDTO:
    """A data item of the dataset by id or by name (its stored or original file name)."""
    items = await client.list_data(dataset.id)
    for item in items:
        if ref in (str(item.id), item.name, item.original_name):
            return item
    raise DataNotFound(f"No data item {ref!r} in dataset {dataset.name!r}.")
