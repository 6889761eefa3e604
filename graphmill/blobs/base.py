"""What every blob backend does; staging and hashing are shared."""

from __future__ import annotations

import hashlib
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import anyio

from graphmill.errors import UploadTooLarge

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class BlobRef:
    sha256: str
    size: int
    location: str


@dataclass
class Staged:
    """An upload written to local staging and hashed, not yet in the store."""

    path: Path
    sha256: str
    size: int

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def shard(sha256: str) -> str:
    """Relative key of an object: two levels of fan-out keep folders small."""
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


class BlobStore(ABC):
    """Stores bytes under their SHA-256. Writes are atomic; reads stream."""

    name: str

    def __init__(self, staging_dir: Path) -> None:
        self.staging_dir = staging_dir

    async def stage(self, chunks: AsyncIterator[bytes], max_bytes: int) -> Staged:
        """Stream chunks to a local staging file, hashing on the way (never all in memory).

        The caller commits the staged file with `commit` and always discards it after.
        """
        await anyio.to_thread.run_sync(lambda: self.staging_dir.mkdir(parents=True, exist_ok=True))
        fd, tmp_name = tempfile.mkstemp(dir=self.staging_dir, prefix="upload-")
        staged = Staged(Path(tmp_name), "", 0)
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out:

                def write(data: bytearray) -> None:
                    # In a worker thread: hashing and writing both release the GIL.
                    digest.update(data)
                    out.write(data)

                # Network chunks are small: gather a CHUNK per thread hop.
                pending = bytearray()
                async for chunk in chunks:
                    staged.size += len(chunk)
                    if staged.size > max_bytes:
                        raise UploadTooLarge(max_bytes)
                    pending += chunk
                    if len(pending) >= CHUNK:
                        full, pending = pending, bytearray()
                        await anyio.to_thread.run_sync(write, full)
                if pending:
                    await anyio.to_thread.run_sync(write, pending)
                await anyio.to_thread.run_sync(out.flush)
                await anyio.to_thread.run_sync(os.fsync, out.fileno())
        except BaseException:
            staged.discard()
            raise
        staged.sha256 = digest.hexdigest()
        return staged

    async def commit(self, staged: Staged) -> BlobRef:
        """Put a staged file in place under its hash, atomically; idempotent."""
        location = await self._commit(staged.path, staged.sha256, staged.size)
        return BlobRef(staged.sha256, staged.size, location)

    @abstractmethod
    async def _commit(self, staged: Path, sha256: str, size: int) -> str:
        """Move a fully written, fsynced staging file into place; return its location."""

    @abstractmethod
    async def size(self, sha256: str) -> int:
        """Size of a stored object; BlobUnreadable when it is missing or unreadable."""

    def local_path(self, sha256: str) -> Path | None:
        """The file holding a stored object, when the store is a local folder."""
        return None

    @abstractmethod
    def read(self, sha256: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes start..end (inclusive) of a stored object, in chunks."""

    @abstractmethod
    async def delete(self, sha256: str) -> None:
        """Remove an object; removing a missing object is not an error."""

    @abstractmethod
    async def check(self) -> None:
        """Raise BackendUnavailable unless the store can be used."""
