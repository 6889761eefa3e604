"""The blob stores, local folder and S3 (moto's server), through the same cases."""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import anyio
import boto3
import pytest

from graphmill.blobs import BlobRef, BlobStore, LocalBlobStore
from graphmill.blobs.base import CHUNK, shard
from graphmill.blobs.s3 import S3BlobStore
from graphmill.errors import BackendUnavailable, BlobUnreadable, UploadTooLarge
from tests.conftest import S3Server

T = TypeVar("T")


def run(fn: Callable[[], Awaitable[T]]) -> T:
    return anyio.run(fn)


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


async def chunked(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def put(store: BlobStore, data: bytes, max_bytes: int = 1 << 30) -> BlobRef:
    staged = await store.stage(chunked(data), max_bytes)
    try:
        return await store.commit(staged)
    finally:
        staged.discard()


async def read_all(store: BlobStore, sha256: str, start: int, end: int) -> list[bytes]:
    return [chunk async for chunk in store.read(sha256, start, end)]


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    staging = tmp_path / "staging"
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs", staging_dir=staging)
    s3: S3Server = request.getfixturevalue("s3")
    return S3BlobStore(
        f"s3://{s3.bucket}/{uuid.uuid4().hex}",
        staging_dir=staging,
        endpoint_url=s3.endpoint,
        path_style=True,
    )


def stored_objects(store: BlobStore) -> list[str]:
    """What the backend holds, looked at behind the store's back."""
    if isinstance(store, LocalBlobStore):
        return [p.relative_to(store.root).as_posix() for p in files_under(store.root)]
    assert isinstance(store, S3BlobStore)
    listing = store.client.list_objects_v2(Bucket=store.bucket, Prefix=f"{store.prefix}/")
    return sorted(o["Key"][len(store.prefix) + 1 :] for o in listing.get("Contents", []))


def test_stage_and_commit_return_hash_size_and_location(store: BlobStore) -> None:
    data = payload(300_000)
    ref = run(lambda: put(store, data))
    sha = hashlib.sha256(data).hexdigest()
    assert ref.sha256 == sha
    assert ref.size == len(data)
    if isinstance(store, LocalBlobStore):
        assert ref.location.startswith("file://")
        assert Path(ref.location.removeprefix("file://")).read_bytes() == data
    else:
        assert isinstance(store, S3BlobStore)
        assert ref.location == f"s3://{store.bucket}/{store.prefix}/{shard(sha)}"
    assert stored_objects(store) == [shard(sha)]
    assert b"".join(run(lambda: read_all(store, sha, 0, len(data) - 1))) == data


@pytest.mark.parametrize("size", [200_000, 3 * CHUNK + 12_345])
def test_staged_file_is_hashed_while_written(store: BlobStore, size: int) -> None:
    """In one go below a chunk; above, each chunk hashed and written while the next arrives."""
    data = payload(size, seed=1)

    async def scenario() -> tuple[str, int, bytes]:
        staged = await store.stage(chunked(data, 7_777), max_bytes=len(data))
        try:
            return staged.sha256, staged.size, staged.path.read_bytes()
        finally:
            staged.discard()

    sha, size, on_disk = run(scenario)
    assert sha == hashlib.sha256(data).hexdigest()
    assert size == len(data)
    assert on_disk == data


def test_committing_the_same_bytes_twice_is_idempotent(store: BlobStore) -> None:
    data = payload(50_000, seed=2)
    first = run(lambda: put(store, data))
    second = run(lambda: put(store, data))
    assert first == second
    assert stored_objects(store) == [shard(first.sha256)]
    assert b"".join(run(lambda: read_all(store, first.sha256, 0, len(data) - 1))) == data
    assert run(lambda: store.size(first.sha256)) == len(data)


def test_distinct_bytes_are_distinct_objects(store: BlobStore) -> None:
    a = run(lambda: put(store, b"alpha"))
    b = run(lambda: put(store, b"beta"))
    assert a.sha256 != b.sha256
    assert stored_objects(store) == sorted([shard(a.sha256), shard(b.sha256)])
    assert b"".join(run(lambda: read_all(store, a.sha256, 0, 4))) == b"alpha"
    assert b"".join(run(lambda: read_all(store, b.sha256, 0, 3))) == b"beta"


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, 0),
        (5, 9),
        (CHUNK - 3, CHUNK + 3),
        (CHUNK, 2 * CHUNK),
        (0, 2 * CHUNK + 999),
        (2 * CHUNK + 999, 2 * CHUNK + 999),
    ],
)
def test_read_returns_exactly_the_inclusive_range(store: BlobStore, start: int, end: int) -> None:
    data = payload(2 * CHUNK + 1000, seed=3)
    ref = run(lambda: put(store, data))
    chunks = run(lambda: read_all(store, ref.sha256, start, end))
    assert b"".join(chunks) == data[start : end + 1]
    assert all(0 < len(c) <= CHUNK for c in chunks)


def test_read_of_a_large_object_streams_in_chunks(store: BlobStore) -> None:
    data = payload(2 * CHUNK + 1000, seed=4)
    ref = run(lambda: put(store, data))
    chunks = run(lambda: read_all(store, ref.sha256, 0, len(data) - 1))
    assert len(chunks) >= 3
    assert max(len(c) for c in chunks) <= CHUNK


def test_size_is_the_stored_length(store: BlobStore) -> None:
    one = run(lambda: put(store, b"x"))
    many = run(lambda: put(store, payload(123_457, seed=5)))
    assert run(lambda: store.size(one.sha256)) == 1
    assert run(lambda: store.size(many.sha256)) == 123_457


def test_delete_removes_the_object_and_twice_is_fine(store: BlobStore) -> None:
    keep = run(lambda: put(store, b"keep me"))
    gone = run(lambda: put(store, b"delete me"))
    run(lambda: store.delete(gone.sha256))
    assert stored_objects(store) == [shard(keep.sha256)]
    with pytest.raises(BlobUnreadable):
        run(lambda: store.size(gone.sha256))
    with pytest.raises(BlobUnreadable):
        run(lambda: read_all(store, gone.sha256, 0, 8))
    run(lambda: store.delete(gone.sha256))
    run(lambda: store.delete(hashlib.sha256(b"never stored").hexdigest()))
    assert run(lambda: store.size(keep.sha256)) == len(b"keep me")


def test_missing_object_is_unreadable(store: BlobStore) -> None:
    missing = hashlib.sha256(b"not there").hexdigest()
    with pytest.raises(BlobUnreadable):
        run(lambda: store.size(missing))
    with pytest.raises(BlobUnreadable):
        run(lambda: read_all(store, missing, 0, 0))


def open_uploads() -> list[str]:
    """Staged uploads this process has open (removed ones show as "... (deleted)")."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if "/upload-" in target:
                found.append(target)
    return found


def until_closed() -> None:
    """The staging file is closed once the chunk being written is: soon, not at once."""
    deadline = time.monotonic() + 10
    while open_uploads():
        assert time.monotonic() < deadline, open_uploads()
        time.sleep(0.01)


@pytest.mark.parametrize("limit", [10_000, 3 * CHUNK])
def test_staging_over_the_limit_raises_and_leaves_nothing(store: BlobStore, limit: int) -> None:
    data = payload(limit + 1, seed=6)
    with pytest.raises(UploadTooLarge) as raised:
        run(lambda: store.stage(chunked(data, 1000 if limit < CHUNK else 64 * 1024), limit))
    assert raised.value.limit == limit
    assert files_under(store.staging_dir) == []
    assert stored_objects(store) == []
    until_closed()


def test_staging_exactly_at_the_limit_is_accepted(store: BlobStore) -> None:
    data = payload(10_000, seed=7)
    ref = run(lambda: put(store, data, max_bytes=10_000))
    assert ref.size == 10_000
    assert files_under(store.staging_dir) == []


@pytest.mark.parametrize("sent", [1000, 3 * CHUNK + 1000])
def test_a_failing_upload_stream_leaves_no_staging_file(store: BlobStore, sent: int) -> None:
    async def broken() -> AsyncIterator[bytes]:
        async for chunk in chunked(b"a" * sent):
            yield chunk
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        run(lambda: store.stage(broken(), max_bytes=1 << 30))
    assert files_under(store.staging_dir) == []
    until_closed()


def test_commit_then_discard_never_leaves_temp_files(store: BlobStore) -> None:
    async def scenario() -> list[BlobRef]:
        refs = [await put(store, payload(size, seed=size)) for size in (1, 1000, CHUNK + 1)]
        await put(store, payload(1, seed=1))  # again: the object exists already
        return refs

    refs = run(scenario)
    assert files_under(store.staging_dir) == []
    assert stored_objects(store) == sorted(shard(r.sha256) for r in refs)
    if isinstance(store, LocalBlobStore):
        # Nothing but the sharded objects themselves in the blob folder: no temp names.
        assert all(p.name in {r.sha256 for r in refs} for p in files_under(store.root))


def test_discarding_an_uncommitted_upload_removes_it(store: BlobStore) -> None:
    async def scenario() -> Path:
        staged = await store.stage(chunked(b"abandoned"), max_bytes=100)
        assert staged.path.exists()
        staged.discard()
        staged.discard()
        return staged.path

    path = run(scenario)
    assert not path.exists()
    assert files_under(store.staging_dir) == []
    assert stored_objects(store) == []


def test_check_passes_on_a_usable_store(store: BlobStore) -> None:
    run(store.check)


def test_check_fails_for_a_missing_bucket(s3: S3Server, tmp_path: Path) -> None:
    store = S3BlobStore(
        f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/x",
        staging_dir=tmp_path / "staging",
        endpoint_url=s3.endpoint,
        path_style=True,
    )
    with pytest.raises(BackendUnavailable):
        run(store.check)


def test_s3_objects_live_under_the_prefix_only(s3: S3Server, tmp_path: Path) -> None:
    prefix = uuid.uuid4().hex
    store = S3BlobStore(
        f"s3://{s3.bucket}/{prefix}/",
        staging_dir=tmp_path / "staging",
        endpoint_url=s3.endpoint,
        path_style=True,
    )
    ref = run(lambda: put(store, b"prefixed"))
    client = boto3.client("s3", endpoint_url=s3.endpoint)
    head = client.head_object(Bucket=s3.bucket, Key=f"{prefix}/{shard(ref.sha256)}")
    assert head["ContentLength"] == len(b"prefixed")
