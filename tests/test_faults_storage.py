"""Fault injection in storage: the blob store becoming unwritable in the middle of an upload,
and the store of record running out of space.

After each: a clear JSON error (503 or 507), nothing half-added (no dataset, item, object or
staged file), the stores still agree, and the same request succeeds once the fault is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from graphmill.blobs.base import sweep_staging
from graphmill.blobs.local import LocalBlobStore
from graphmill.config import Settings
from tests.conftest import LiveServer, S3Server
from tests.fault_checks import (
    inventory,
    multipart_stream,
    small_pg_database,
    text_chunks,
    wait_consistent,
)
from tests.support import Api, add_files, sign_up

MIB = 1024 * 1024


def _local_faults(settings: Settings) -> tuple[Callable[[], None], Callable[[], None]]:
    """Break: a file where the blob folder was (root ignores permission bits, so a read-only
    folder would not stop this test's server, which runs as the same user). Repair: undo it."""
    root = settings.data_dir / "blobs"
    away = settings.data_dir / "blobs.away"

    def fail() -> None:
        root.rename(away)
        root.write_bytes(b"not a folder")

    def repair() -> None:
        root.unlink()
        away.rename(root)

    return fail, repair


def _s3_faults(settings: Settings) -> tuple[Callable[[], None], Callable[[], None]]:
    """Break: the bucket is deleted (it holds nothing yet). Repair: it is created again."""
    bucket = (settings.blob_url or "").removeprefix("s3://").split("/")[0]
    client = boto3.client("s3", endpoint_url=settings.s3_endpoint_url)
    return (lambda: client.delete_bucket(Bucket=bucket)), (
        lambda: client.create_bucket(Bucket=bucket)
    )


@pytest.fixture
def store_settings(backend: str, settings_factory: Any, request: pytest.FixtureRequest) -> Settings:
    """This test's own bucket on S3, so that deleting it touches no other test."""
    if backend == "sqlite-local":
        return settings_factory()  # type: ignore[no-any-return]
    s3: S3Server = request.getfixturevalue("s3")
    bucket = f"fault-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3.endpoint).create_bucket(Bucket=bucket)
    return settings_factory(blob_url=f"s3://{bucket}/blobs")  # type: ignore[no-any-return]


def test_blob_store_unwritable_mid_upload(backend: str, store_settings: Settings) -> None:
    fail, repair = (_local_faults if backend == "sqlite-local" else _s3_faults)(store_settings)

    def pace(i: int) -> None:
        if i == 3:
            fail()  # while the body is still arriving

    with LiveServer(store_settings) as live:
        api = sign_up(live.base_url)
        headers, body = multipart_stream("photos", "notes.txt", text_chunks(6, pace))
        refused = api.post("/api/v1/add", content=body, headers=headers)
        assert refused.status_code == 503, refused.text
        assert "cannot be written" in refused.json()["error"]
        assert api.get("/api/v1/datasets").json() == []
        repair()
        left = inventory(store_settings)
        assert not left.objects and not left.data_hashes and not left.staged
        headers, body = multipart_stream("photos", "notes.txt", text_chunks(6))
        added = api.post("/api/v1/add", content=body, headers=headers)
        assert added.status_code == 200, added.text
        ds = added.json()["dataset_id"]
        [item] = api.get(f"/api/v1/datasets/{ds}/data").json()
        raw = api.get(f"/api/v1/datasets/{ds}/data/{item['id']}/raw")
        assert raw.content == b"".join(text_chunks(6))
        assert len(wait_consistent(store_settings).objects) == 1


FreeRoom = Callable[[Api, list[str]], None]


def _delete_two(api: Api, added: list[str]) -> None:
    for ds in added[:2]:
        assert api.delete(f"/api/v1/datasets/{ds}").status_code == 200


@pytest.fixture
def full_store(
    backend: str, settings_factory: Any, request: pytest.FixtureRequest
) -> Iterator[tuple[Settings, Api, FreeRoom]]:
    """A server whose store of record fills up, and how to make room again.

    SQLite: a file that may not grow past 512 KiB (330 KiB when migrated), the real
    SQLITE_FULL path; deleting data makes room. PostgreSQL: a database on a 6 MiB volume
    (~3 MiB when migrated), the real `disk_full`; a delete cannot make room there (it is
    audited, so it needs room itself, and PostgreSQL reuses deleted rows' room only after
    VACUUM): it is refused with 507 and changes nothing, and the operator grows the volume."""
    with contextlib.ExitStack() as stack:
        if backend == "sqlite-local":
            settings, free_room = settings_factory(sqlite_max_bytes=512 * 1024), _delete_two
        else:
            volume = stack.enter_context(small_pg_database(request.getfixturevalue("pg"), 6))
            settings = settings_factory(database_url=volume.url)

            def free_room(api: Api, added: list[str]) -> None:
                refused = api.delete(f"/api/v1/datasets/{added[0]}")
                assert refused.status_code == 507, refused.text
                assert api.get(f"/api/v1/datasets/{added[0]}/data").status_code == 200
                assert inventory(settings).consistent  # its objects are all still there
                volume.grow(16)
                _delete_two(api, added)

        live = stack.enter_context(LiveServer(settings))
        yield settings, sign_up(live.base_url), free_room


def _padded(i: int) -> tuple[list[tuple[str, bytes]], dict[str, str]]:
    """Four small files with 12 KB of metadata each, random so that PostgreSQL cannot
    compress it away."""
    files = [(f"doc{i}-{j}.txt", f"document {i}.{j}".encode()) for j in range(4)]
    metadata = [{"padding": f"{i}.{j} " + secrets.token_hex(6000)} for j in range(4)]
    return files, {"external_metadata": json.dumps(metadata)}


def test_database_full(full_store: tuple[Settings, Api, FreeRoom]) -> None:
    """Adds until the store of record is full: 507, nothing half-added, the stores agree, and
    once there is room again the same request succeeds."""
    settings, api, free_room = full_store
    added: list[str] = []
    for i in range(400):
        files, form = _padded(i)
        r = add_files(api, f"ds{i}", files, **form)
        if r.status_code != 200:
            break
        added.append(r.json()["dataset_id"])
    else:
        raise AssertionError("the store never filled up")
    assert r.status_code == 507, r.text
    assert "full" in r.json()["error"]
    assert added  # some adds fitted
    before = inventory(settings)
    assert before.consistent, before
    assert {d["id"] for d in api.get("/api/v1/datasets").json()} == set(added)
    free_room(api, added)
    assert inventory(settings).consistent
    again = add_files(api, f"ds{i}", files, **form)
    assert again.status_code == 200, again.text
    assert len(api.get(f"/api/v1/datasets/{again.json()['dataset_id']}/data").json()) == 4
    assert wait_consistent(settings).consistent


def test_staging_sweep_removes_only_what_dead_processes_left(tmp_path: Path) -> None:
    """Several processes stage under one data folder: a sweep spares every live one's uploads
    (this process's and another's), and removes a killed process's."""
    root = tmp_path / "staging"
    here = LocalBlobStore(tmp_path / "blobs", staging_dir=root)
    (here.staging_dir / "upload-live").write_bytes(b"arriving")
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from graphmill.blobs.local import LocalBlobStore\n"
        "folder = Path(sys.argv[1])\n"
        "store = LocalBlobStore(folder / 'blobs', staging_dir=folder / 'staging')\n"
        "(store.staging_dir / 'upload-other').write_bytes(b'arriving')\n"
        "print(store.staging_dir, flush=True)\n"
        "time.sleep(120)\n"
    )
    other = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    try:
        assert other.stdout is not None
        theirs = Path(other.stdout.readline().decode().strip())
        assert (theirs / "upload-other").exists()
        assert sweep_staging(root) == 0  # both alive
        assert (theirs / "upload-other").exists()
        other.kill()
        other.wait(timeout=30)
        assert sweep_staging(root) == 1
        assert not theirs.exists()
        assert (here.staging_dir / "upload-live").read_bytes() == b"arriving"
    finally:
        other.kill()
        other.wait(timeout=30)
        here.close()
    assert list(root.iterdir()) == []
