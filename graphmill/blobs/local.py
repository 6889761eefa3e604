"""Blobs in a local folder, sharded by hash."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import anyio

from graphmill.blobs.base import CHUNK, BlobStore, shard
from graphmill.errors import BackendUnavailable, BlobStoreUnwritable, BlobUnreadable

log = logging.getLogger("graphmill.blobs")


class LocalBlobStore(BlobStore):
    name = "local"

    def __init__(self, root: Path, staging_dir: Path) -> None:
        super().__init__(staging_dir)
        self.root = root

    def _path(self, sha256: str) -> Path:
        return self.root / shard(sha256)

    def local_path(self, sha256: str) -> Path:
        return self._path(sha256)

    def location(self, sha256: str) -> str:
        return f"file://{self._path(sha256).resolve()}"

    async def _commit(self, staged: Path, sha256: str, size: int) -> str:
        target = self._path(sha256)

        def move() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Same bytes, same name: an existing object is already right, and rename is atomic.
            os.replace(staged, target)
            dir_fd = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

        try:
            await anyio.to_thread.run_sync(move)
        except OSError as exc:
            log.error("cannot write to %s: %s", self.root, exc, extra={"action": "blob.write"})
            raise BlobStoreUnwritable() from exc
        return self.location(sha256)

    async def size(self, sha256: str) -> int:
        try:
            return (await anyio.to_thread.run_sync(self._path(sha256).stat)).st_size
        except OSError as exc:
            raise BlobUnreadable(f"blob {sha256} cannot be read: {exc.strerror}") from exc

    async def read(self, sha256: str, start: int, end: int) -> AsyncIterator[bytes]:
        # A range of one chunk (a small document) in one trip to a thread, not four.
        path = self._path(sha256)
        try:
            if 0 <= end - start < CHUNK:
                data = await anyio.to_thread.run_sync(_read_range, path, start, end)
                if len(data) < end - start + 1:
                    raise BlobUnreadable(f"blob {sha256} is shorter than recorded")
                yield data
                return
            handle = await anyio.open_file(path, "rb")
        except OSError as exc:
            raise BlobUnreadable(f"blob {sha256} cannot be read: {exc.strerror}") from exc
        async with handle:
            await handle.seek(start)
            remaining = end - start + 1
            while remaining > 0:
                chunk = await handle.read(min(CHUNK, remaining))
                if not chunk:
                    raise BlobUnreadable(f"blob {sha256} is shorter than recorded")
                remaining -= len(chunk)
                yield chunk

    async def delete(self, sha256: str) -> None:
        try:
            await anyio.to_thread.run_sync(lambda: self._path(sha256).unlink(missing_ok=True))
        except OSError as exc:
            raise BackendUnavailable(f"cannot delete from {self.root}: {exc}") from exc

    async def check(self) -> None:
        def probe() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK):
                raise BackendUnavailable(f"blob folder {self.root} is not writable")

        await anyio.to_thread.run_sync(probe)


def _read_range(path: Path, start: int, end: int) -> bytes:
    with path.open("rb") as handle:
        handle.seek(start)
        return handle.read(end - start + 1)
