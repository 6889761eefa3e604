"""Fault injection in storage: the blob store becoming unwritable in the middle of an upload,
and the store of record running out of space.

After each: a clear JSON error (503 or 507), nothing half-added (no dataset, item, object or
staged file), the stores still agree, and the same request succeeds once the fault is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from graphmill.blobs import base as blobs_base
from graphmill.blobs.base import sweep_staging
from graphmill.blobs.local import LocalBlobStore
from graphmill.config import Settings
from graphmill.db import Database
from graphmill.services import close_services, open_services
from tests.conftest import LiveServer, S3Server
from tests.fault_checks import (
    SmallVolume,
    inventory,
    multipart_stream,
    query_rows,
    small_pg_database,
    text_chunks,
    wait_consistent,
)
from tests.support import Api, add_files, cognify_in_background, sign_up, wait_run_final
from tests.test_cognify import stored_chunks

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


@dataclass
class FullStore:
    """A server whose store of record fills up, and how an operator makes room again.

    SQLite: a file that may not grow past 1 MiB (330 KiB when migrated) besides its reserve,
    the real SQLITE_FULL path; deleting data makes room. PostgreSQL: a database on a 6 MiB volume
    (~3 MiB when migrated), the real `disk_full`; a delete cannot make room there (it is
    audited, so it needs room itself, and PostgreSQL reuses deleted rows' room only after
    VACUUM): it is refused with 507 and changes nothing, and the operator grows the volume."""

    settings: Settings
    api: Api
    volume: SmallVolume | None
    size_kib: int = 6 * 1024

    def make_room(self, fillers: list[str], kib: int) -> None:
        """SQLite: delete the `fillers` datasets; PostgreSQL: grow the volume by `kib` KiB."""
        if self.volume is None:
            for ds in fillers:
                assert self.api.delete(f"/api/v1/datasets/{ds}").status_code == 200
            return
        refused = self.api.delete(f"/api/v1/datasets/{fillers[0]}")
        assert refused.status_code == 507, refused.text
        assert self.api.get(f"/api/v1/datasets/{fillers[0]}/data").status_code == 200
        assert inventory(self.settings).consistent  # its objects are all still there
        self.size_kib += kib
        self.volume.resize(self.size_kib)

    def fill(self) -> list[str]:
        """Add padded datasets until the store refuses one with 507; their ids."""
        added: list[str] = []
        for i in range(400):
            files, form = _padded(i)
            r = add_files(self.api, f"ds{i}", files, **form)
            if r.status_code != 200:
                assert r.status_code == 507, r.text
                assert "full" in r.json()["error"]
                return added
            added.append(r.json()["dataset_id"])
        raise AssertionError("the store never filled up")


@pytest.fixture
def store_overrides() -> dict[str, Any]:
    """More settings of `full_store`'s server (a test parametrizes it)."""
    return {}


@pytest.fixture
def full_store(
    backend: str,
    settings_factory: Any,
    store_overrides: dict[str, Any],
    request: pytest.FixtureRequest,
) -> Iterator[FullStore]:
    with contextlib.ExitStack() as stack:
        volume = None
        if backend == "sqlite-local":
            # 1 MiB besides the store's reserve (kept for ending runs, not for data)
            reserve = Settings.model_fields["store_reserve_bytes"].default
            settings = settings_factory(sqlite_max_bytes=MIB + reserve, **store_overrides)
        else:
            volume = stack.enter_context(small_pg_database(request.getfixturevalue("pg"), 6))
            settings = settings_factory(database_url=volume.url, **store_overrides)
        live = stack.enter_context(LiveServer(settings))
        yield FullStore(settings, sign_up(live.base_url), volume)


def _padded(i: int) -> tuple[list[tuple[str, bytes]], dict[str, str]]:
    """Four small files with 12 KB of metadata each, random so that PostgreSQL cannot
    compress it away."""
    files = [(f"doc{i}-{j}.txt", f"document {i}.{j}".encode()) for j in range(4)]
    metadata = [{"padding": f"{i}.{j} " + secrets.token_hex(6000)} for j in range(4)]
    return files, {"external_metadata": json.dumps(metadata)}


def test_database_full(full_store: FullStore) -> None:
    """Adds until the store of record is full: 507, nothing half-added, the stores agree, and
    once there is room again the same request succeeds."""
    settings, api = full_store.settings, full_store.api
    added = full_store.fill()
    assert added  # some adds fitted
    before = inventory(settings)
    assert before.consistent, before
    assert {d["id"] for d in api.get("/api/v1/datasets").json()} == set(added)
    files, form = _padded(len(added))
    full_store.make_room(added[:2], kib=8192)
    assert inventory(settings).consistent
    again = add_files(api, f"ds{len(added)}", files, **form)
    assert again.status_code == 200, again.text
    assert len(api.get(f"/api/v1/datasets/{again.json()['dataset_id']}/data").json()) == 4
    assert wait_consistent(settings).consistent


PEOPLE = ["Ada Lovelace", "Charles Babbage", "Marie Curie", "Alan Turing", "Grace Hopper"]
CITIES = ["Paris", "London", "Vienna", "Berlin", "Zurich", "Copenhagen"]


def _letters(i: int) -> tuple[str, bytes]:
    """A document of a dozen sentences naming people and cities (entities and relations to
    extract), and a word of its own."""
    lines = [
        f"In {1900 + i * 13 + k}, {PEOPLE[(i + k) % 5]} wrote to {PEOPLE[(i + 2 * k + 1) % 5]}"
        f" from {CITIES[(i + k) % 6]} about problem {k} of ledger{i}."
        for k in range(12)
    ]
    return f"letters{i}.txt", " ".join(lines).encode()


def _cognify(api: Api, ds: str) -> dict[str, Any]:
    """A blocking cognify: it answers once its run has ended; the run, or the 507 body."""
    r = api.post("/api/v1/cognify", json={"datasetIds": [ds]})
    if r.status_code == 507:
        return {"refused": r.json()}
    assert r.status_code == 200, r.text
    run = api.get(f"/api/v1/runs/{r.json()[ds]['pipeline_run_id']}").json()
    assert run["state"] not in ("queued", "running"), run
    return dict(run)


def _cognify_states(api: Api, ds: str) -> dict[str, dict[str, Any]]:
    return {
        i["id"]: i["pipelineStatus"].get("cognify_pipeline", {"state": "pending"})
        for i in api.get(f"/api/v1/datasets/{ds}/data").json()
    }


def _ended_explained(api: Api, settings: Settings, ds: str, run: dict[str, Any]) -> set[str]:
    """The run ended (or was refused, 507); each item is completed with all its rows or has
    none, and says why: failed for the full store, or left for the next run by a run that
    stopped for it. The items not completed."""
    if "refused" in run:  # the request itself found no room to queue a run
        assert "full" in run["refused"]["error"]
    else:
        assert run["state"] in ("failed", "completed_with_errors"), run
    states = _cognify_states(api, ds)
    done = {data_id for data_id, s in states.items() if s["state"] == "completed"}
    for data_id in set(states) - done:
        item = states[data_id]
        if item["state"] == "failed":
            assert item["errorClass"] == "store_full" and "full" in item["errorMessage"], item
        else:  # not run: refused, or left by a run that stopped for the full store
            assert "refused" in run or run["error"]["class"] == "store_full", (run, item)
    assert {data_id for data_id, _ in stored_chunks(settings, ds)} == done
    assert inventory(settings).consistent
    return set(states) - done


def test_database_full_during_cognify(full_store: FullStore) -> None:
    """The store fills up before and while cognify writes chunks, vectors and the graph: runs
    end (never left running), each item is completed with all its rows or has none, every
    failure says the store is full, and with room again cognify completes the dataset."""
    settings, api = full_store.settings, full_store.api
    r = add_files(api, "letters", [_letters(i) for i in range(5)])
    assert r.status_code == 200, r.text
    ds = r.json()["dataset_id"]
    fillers = full_store.fill()

    # Full before the run starts.
    assert len(_ended_explained(api, settings, ds, _cognify(api, ds))) == 5
    if full_store.volume is not None:
        # As after autovacuum updated a catalog's statistics: a new PostgreSQL session must
        # write the relation-cache init file first, and on the full volume dies doing so.
        # The search (one read per dataset, dozens of datasets, more sessions than the pool
        # keeps) must be served by pooled sessions.
        for init_file in full_store.volume.point.rglob("pg_internal.init"):
            init_file.unlink()
    ok = api.post("/api/v1/search", json={"query": "ledger3", "searchType": "CHUNKS"})
    assert ok.status_code == 200, ok.text  # reading needs no room

    # Room for a few items: the store fills up again while the run writes.
    full_store.make_room(fillers[:3], kib=512)
    left = _ended_explained(api, settings, ds, _cognify(api, ds))
    assert left, "the store did not fill up during the run"

    # Room again: cognify completes the dataset, and search finds what the failed items held.
    full_store.make_room(fillers[3:], kib=16384)
    run = _cognify(api, ds)
    assert run["state"] == "completed", run
    states = _cognify_states(api, ds)
    assert {s["state"] for s in states.values()} == {"completed"}
    assert {data_id for data_id, _ in stored_chunks(settings, ds)} == set(states)
    names = {i["id"]: i["name"] for i in api.get(f"/api/v1/datasets/{ds}/data").json()}
    word = names[sorted(left)[0]].removesuffix(".txt").replace("letters", "ledger")
    found = api.post(
        "/api/v1/search",
        json={"query": word, "searchType": "CHUNKS_LEXICAL", "datasetIds": [ds], "topK": 1},
    )
    assert found.status_code == 200, found.text
    [hit] = found.json()[0]["search_result"]
    assert word in hit["text"]
    assert wait_consistent(settings).consistent


def test_a_run_takes_no_more_items_once_the_store_is_full(full_store: FullStore) -> None:
    """Once an item finds the store full at its commit, the run starts no other (each would
    do, and with an LLM pay for, all its work only to fail the same way): at most the items
    already in flight fail with store_full, the rest stay pending for the next run, and the
    run ends failed with store_full."""
    settings, api = full_store.settings, full_store.api
    ds = add_files(api, "letters", [_letters(i) for i in range(12)]).json()["dataset_id"]
    fillers = full_store.fill()
    full_store.make_room(fillers[:2], kib=256)  # room for a few items, not for twelve
    run = _cognify(api, ds)
    left = _ended_explained(api, settings, ds, run)
    assert len(left) > settings.item_concurrency, "the store did not fill up early in the run"
    states = _cognify_states(api, ds)
    failed = [i for i in left if states[i]["state"] == "failed"]
    assert len(failed) <= settings.item_concurrency  # those in flight when it filled up
    assert run["error"]["class"] == "store_full", run
    # With more room, the next run takes the items up again and completes more of them.
    full_store.make_room(fillers[2:], kib=16384)
    again = _cognify(api, ds)
    done = again.get("state") == "completed"
    still_left = set() if done else _ended_explained(api, settings, ds, again)
    assert len(still_left) < len(left)


@pytest.mark.parametrize("store_overrides", [{"cognify_steps": "tests.fault_steps:pipeline"}])
def test_runs_end_explained_when_not_even_their_failure_fits(full_store: FullStore) -> None:
    """The store fills to the last byte while a run works (a step takes the room, as another
    writer could): an item's completion, then its failure, cannot be recorded (each needs a
    new event row). The run still ends at once, failed with `store_full`, its unfinished
    items pending again and nothing half-written. A run queued before (new data waiting)
    cannot be claimed (listing its items needs rows): it ends the same way. With room again
    cognify completes both."""
    settings, api = full_store.settings, full_store.api
    waiting = add_files(api, "waiting", [("w0.txt", b"ledger5")]).json()["dataset_id"]
    assert _cognify(api, waiting)["state"] == "completed"
    add_files(api, "waiting", [("w1.txt", b"ledger6")])  # queues its next run, unrequested
    files = [("fill.txt", b"@fillstore ledger0"), ("a.txt", b"ledger1"), ("b.txt", b"ledger2")]
    r = add_files(api, "letters", files)
    assert r.status_code == 200, r.text
    ds = r.json()["dataset_id"]
    pad_files, form = _padded(0)
    filler = add_files(api, "filler", pad_files, **form).json()["dataset_id"]

    for dataset in (ds, waiting):
        run = wait_run_final(api, cognify_in_background(api, dataset), timeout=60)
        assert run["state"] == "failed", run
        assert run["error"]["class"] == "store_full", run
        assert "full" in run["error"]["message"], run
        states = _cognify_states(api, dataset)
        done = {data_id for data_id, s in states.items() if s["state"] == "completed"}
        assert len(done) < len(states), states
        assert {s["state"] for s in states.values()} <= {"completed", "pending"}, states
        assert {data_id for data_id, _ in stored_chunks(settings, dataset)} == done
    assert inventory(settings).consistent
    # Still full: a new request finds no room to queue a run (its event) and says so (507),
    # or, where PostgreSQL still finds a few bytes in some page for the run's rows, its run
    # ends failed with store_full at once; never a run left waiting.
    again = _cognify(api, ds)
    if "refused" in again:
        assert "full" in again["refused"]["error"], again
    else:
        assert again["state"] == "failed" and again["error"]["class"] == "store_full", again

    full_store.make_room([filler], kib=8192)
    for dataset, count in ((ds, 3), (waiting, 2)):
        run = _cognify(api, dataset)
        assert run["state"] == "completed", run
        assert {s["state"] for s in _cognify_states(api, dataset).values()} == {"completed"}
        assert len(stored_chunks(settings, dataset)) == count
    assert wait_consistent(settings).consistent


# Refuses to end a run as a store full to the last byte does (a changed row needs a new
# page, which the volume has no room for), as long as the store still holds its reserve: a
# page-level condition that filling a volume cannot produce on demand, raised with the real
# error of each backend (PostgreSQL's disk_full, SQLite's "database or disk is full").
_REFUSE_RUN_END = {
    "postgresql": [
        """CREATE FUNCTION refuse_run_end() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.state = 'failed' AND EXISTS (SELECT 1 FROM store_reserve) THEN
                RAISE EXCEPTION 'could not extend file: No space left on device'
                    USING ERRCODE = 'disk_full';
            END IF;
            RETURN NEW;
        END $$""",
        """CREATE TRIGGER refuse_run_end BEFORE UPDATE ON pipeline_runs
        FOR EACH ROW EXECUTE FUNCTION refuse_run_end()""",
    ],
    "sqlite": [
        """CREATE TRIGGER refuse_run_end BEFORE UPDATE ON pipeline_runs
        WHEN NEW.state = 'failed' AND EXISTS (SELECT 1 FROM store_reserve)
        BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END""",
    ],
}


def test_a_run_ends_on_the_store_reserve_when_not_even_its_end_fits(
    settings_factory: Any,
) -> None:
    """A store so full that even the in-place change ending a run is refused (seen in CI on
    PostgreSQL: a new row version of the item status index had no page): the run gave up and
    retried every heartbeat, staying `running`, and the blocking cognify waiting for it never
    answered. Now the store's reserve is given up and the run ends `failed`, `store_full`;
    the next sweep takes the reserve again once there is room."""
    settings = settings_factory(cognify_steps="tests.fault_steps:pipeline")
    with LiveServer(settings) as live:
        api = sign_up(live.base_url)
        ds = add_files(api, "letters", [("a.txt", b"@storefull ledger1")]).json()["dataset_id"]
        assert _reserve_held(settings)  # taken at start-up
        _sql(settings, _REFUSE_RUN_END[settings.database_backend])
        run = _cognify(api, ds)  # blocking: it answers once the run has ended
        assert run["state"] == "failed", run
        assert run["error"]["class"] == "store_full", run
        assert not _reserve_held(settings)  # given up for the run's end
        _sql(
            settings,
            ["DROP TRIGGER refuse_run_end ON pipeline_runs"]
            if settings.database_backend == "postgresql"
            else ["DROP TRIGGER refuse_run_end"],
        )

        async def sweep_once() -> None:
            services = await open_services(settings, role="client")
            await close_services(services)

        asyncio.run(sweep_once())  # a process starting (or a sweep) takes it again
        assert _reserve_held(settings)
        (item,) = _cognify_states(api, ds).values()
        assert item["state"] == "failed" and item["errorClass"] == "store_full", item


def _sql(settings: Settings, statements: list[str]) -> None:
    async def run() -> None:
        db = Database(settings.sqlalchemy_url)
        try:
            async with db.engine.begin() as conn:
                for statement in statements:
                    await conn.exec_driver_sql(statement)
        finally:
            await db.dispose()

    asyncio.run(run())


def _reserve_held(settings: Settings) -> bool:
    return query_rows(settings, "SELECT count(*) FROM store_reserve") == [(1,)]


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


def test_a_staging_folder_swept_before_it_is_opened_is_made_anew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep (at start-up, beside the first upload) can find a store's new staging folder
    between its making and its locking, unlocked, and remove it: the store makes another
    instead of failing the upload (found by bench/profile_cognify.py: FileNotFoundError)."""
    root = tmp_path / "staging"
    real_open = os.open
    swept: list[Path] = []

    def open_after_a_sweep(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if not swept and Path(path).parent == root:
            swept.append(Path(path))
            assert sweep_staging(root) == 1  # the new folder, not yet locked
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(blobs_base.os, "open", open_after_a_sweep)
    store = LocalBlobStore(tmp_path / "blobs", staging_dir=root)
    try:
        (store.staging_dir / "upload-1").write_bytes(b"arriving")
        assert swept and not swept[0].exists()
        assert store.staging_dir != swept[0]
        assert sweep_staging(root) == 0  # the one in use is locked
        assert (store.staging_dir / "upload-1").read_bytes() == b"arriving"
    finally:
        store.close()
