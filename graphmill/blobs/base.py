"""What every blob backend does; staging and hashing are shared."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import tempfile
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import anyio

from graphmill.errors import UploadTooLarge

log = logging.getLogger("graphmill.blobs")

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


class _StagingWriter:
    """Hashes and writes an upload's chunks to its staging file in a thread of its own, in
    order, while the next chunk arrives: receiving, hashing and writing one after the other
    made a large upload's speed the sum of their times instead of the slowest's. One chunk
    is written while the next is received, no more (memory stays at two chunks).

    Small uploads, whose bytes all arrive before the first chunk is full, never start the
    thread: their one write, the flush and the fsync go to the shared worker threads.
    """

    def __init__(self, fd: int) -> None:
        self._out = os.fdopen(fd, "wb")
        self._digest = hashlib.sha256()
        self._thread: concurrent.futures.ThreadPoolExecutor | None = None
        self._in_flight: concurrent.futures.Future[None] | None = None

    def _write(self, data: bytearray) -> None:
        # Hashing and writing both release the GIL.
        self._digest.update(data)
        self._out.write(data)

    def _end(self, data: bytearray) -> None:
        if data:
            self._write(data)
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()

    async def _hand_over(
        self, step: Callable[[bytearray], None], data: bytearray
    ) -> concurrent.futures.Future[None]:
        """Give `step(data)` to the thread once the step before it is done (its error is
        raised here); the step's future."""
        if self._in_flight is not None:
            await asyncio.wrap_future(self._in_flight)
        if self._thread is None:
            self._thread = concurrent.futures.ThreadPoolExecutor(1, "graphmill-staging")
        self._in_flight = self._thread.submit(step, data)
        return self._in_flight

    async def write(self, data: bytearray) -> None:
        await self._hand_over(self._write, data)

    async def finish(self, data: bytearray) -> str:
        """Write the last bytes, flush and fsync the file and close it; its SHA-256."""
        if self._thread is None:
            await anyio.to_thread.run_sync(self._end, data)
        else:
            await asyncio.wrap_future(await self._hand_over(self._end, data))
            self._thread.shutdown(wait=False)
        return self._digest.hexdigest()

    def abort(self) -> None:
        """Close the file once the write in flight (if any) is done, without waiting."""
        if self._thread is None:
            self._out.close()
            return
        self._thread.submit(self._out.close)
        self._thread.shutdown(wait=False)


def shard(sha256: str) -> str:
    """Relative key of an object: two levels of fan-out keep folders small."""
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


def _claim_staging(root: Path) -> tuple[Path, int]:
    """A staging folder of this store's own, `<root>/<id>/`, and a descriptor of it holding an
    OS lock (flock) that marks it in use until closed, or until the process dies."""
    root.mkdir(parents=True, exist_ok=True)
    while True:
        folder = root / uuid.uuid4().hex
        folder.mkdir()
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue  # swept between its making and its opening (a sweep at start-up)
        fcntl.flock(fd, fcntl.LOCK_EX)
        with contextlib.suppress(FileNotFoundError):
            if os.stat(folder).st_ino == os.fstat(fd).st_ino:  # not swept before the lock
                return folder, fd
        os.close(fd)


def sweep_staging(root: Path) -> int:
    """Remove staging folders no live store holds (left by killed processes): their uploads
    never reached the store. Returns how many were removed."""
    removed = 0
    for folder in root.iterdir() if root.exists() else []:
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            continue  # gone meanwhile, or a file an older version staged
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # a live store's
        try:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
        finally:
            os.close(fd)
    if removed:
        log.warning(
            "removed %d staging folders of stopped processes (uploads cut off mid-body)",
            removed,
            extra={"action": "staging.sweep"},
        )
    return removed


class BlobStore(ABC):
    """Stores bytes under their SHA-256. Writes are atomic; reads stream."""

    name: str

    def __init__(self, staging_root: Path) -> None:
        self.staging_root = staging_root
        self._staging: tuple[Path, int] | None = None
        self._staging_lock = threading.Lock()

    @property
    def staging_dir(self) -> Path:
        """This store's own staging folder, claimed on first use (blocking: call in a thread).

        Several processes may share one data folder: each stages under a folder it holds an OS
        lock on, so `sweep_staging` removes exactly what stopped or killed processes left.
        """
        with self._staging_lock:
            if self._staging is None:
                self._staging = _claim_staging(self.staging_root)
            return self._staging[0]

    def close(self) -> None:
        """Give up the staging folder (its uploads are discarded by then)."""
        with self._staging_lock:
            if self._staging is not None:
                folder, fd = self._staging
                self._staging = None
                shutil.rmtree(folder, ignore_errors=True)
                os.close(fd)

    @abstractmethod
    def location(self, sha256: str) -> str:
        """Where an object is (or will be) stored, as shown to users (`rawDataLocation`)."""

    async def stage(self, chunks: AsyncIterator[bytes], max_bytes: int) -> Staged:
        """Stream chunks to a local staging file, hashing on the way (never all in memory).

        The caller commits the staged file with `commit` and always discards it after.
        """
        fd, tmp_name = await anyio.to_thread.run_sync(
            lambda: tempfile.mkstemp(dir=self.staging_dir, prefix="upload-")
        )
        staged = Staged(Path(tmp_name), "", 0)
        writer = _StagingWriter(fd)
        try:
            # Network chunks are small: gather a CHUNK per thread hop.
            pending = bytearray()
            async for chunk in chunks:
                staged.size += len(chunk)
                if staged.size > max_bytes:
                    raise UploadTooLarge(max_bytes)
                pending += chunk
                if len(pending) >= CHUNK:
                    full, pending = pending, bytearray()
                    await writer.write(full)
            staged.sha256 = await writer.finish(pending)
        except BaseException:
            writer.abort()
            staged.discard()
            raise
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
