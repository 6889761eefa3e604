"""GET /api/v1/datasets/status: flat and nested shapes, absent datasets, bad input."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, create_engine, make_url, text

from graphmill.config import Settings
from tests.conftest import LiveServer
from tests.support import Api, add_files

COMPLETED = "DATASET_PROCESSING_COMPLETED"
INITIATED = "DATASET_PROCESSING_INITIATED"


def _dataset(api: Api, name: str) -> str:
    r = add_files(api, name, [(f"{name}.txt", name.encode())])
    assert r.status_code == 200, r.text
    return str(r.json()["dataset_id"])


def test_default_pipeline_is_cognify_and_datasets_without_runs_are_absent(alice: Api) -> None:
    ds = _dataset(alice, "only_added")
    r = alice.get("/api/v1/datasets/status", params={"dataset": ds})
    assert r.status_code == 200
    assert r.json() == {}


def test_one_pipeline_gives_the_flat_shape(alice: Api) -> None:
    a, b = _dataset(alice, "a"), _dataset(alice, "b")
    r = alice.get("/api/v1/datasets/status", params={"dataset": [a, b], "pipeline": "add_pipeline"})
    assert r.json() == {a: COMPLETED, b: COMPLETED}


def test_repeating_the_same_pipeline_is_still_flat(alice: Api) -> None:
    a = _dataset(alice, "a")
    r = alice.get(
        "/api/v1/datasets/status",
        params={"dataset": a, "pipeline": ["add_pipeline", "add_pipeline"]},
    )
    assert r.json() == {a: COMPLETED}


def test_several_pipelines_give_the_nested_shape_with_every_readable_dataset(
    alice: Api,
) -> None:
    a = _dataset(alice, "a")
    empty = alice.post("/api/v1/datasets", json={"name": "empty"}).json()["id"]
    r = alice.get(
        "/api/v1/datasets/status",
        params={"dataset": [a, empty], "pipeline": ["add_pipeline", "cognify_pipeline"]},
    )
    assert r.json() == {a: {"add_pipeline": COMPLETED}, empty: {}}


def test_no_dataset_parameter_means_every_readable_dataset(alice: Api, bob: Api) -> None:
    a, b = _dataset(alice, "a"), _dataset(alice, "b")
    _dataset(bob, "a")
    r = alice.get("/api/v1/datasets/status", params={"pipeline": "add_pipeline"})
    assert r.json() == {a: COMPLETED, b: COMPLETED}


def test_unreadable_and_missing_ids_are_simply_absent(alice: Api, bob: Api) -> None:
    mine = _dataset(alice, "a")
    theirs = _dataset(bob, "b")
    r = alice.get(
        "/api/v1/datasets/status",
        params={"dataset": [mine, theirs, str(uuid.uuid4())], "pipeline": "add_pipeline"},
    )
    assert r.status_code == 200
    assert r.json() == {mine: COMPLETED}


def test_unknown_pipeline_is_a_400_naming_the_available_ones(alice: Api) -> None:
    r = alice.get("/api/v1/datasets/status", params={"pipeline": "skills_ingest_pipeline"})
    assert r.status_code == 400
    assert "add_pipeline" in r.json()["error"]
    assert "cognify_pipeline" in r.json()["error"]
    assert "memify_pipeline" in r.json()["error"]  # improve's runs


def test_malformed_dataset_id_is_a_400_validation_error(alice: Api) -> None:
    r = alice.get("/api/v1/datasets/status", params={"dataset": "not-a-uuid"})
    assert r.status_code == 400
    assert r.json()["detail"][0]["loc"] == ["query", "dataset", 0]
    assert "body" in r.json()


def test_status_requires_credentials(anon: object) -> None:
    import httpx

    assert isinstance(anon, httpx.Client)
    r = anon.get("/api/v1/datasets/status")
    assert r.status_code == 401
    assert r.json() == {"detail": "Unauthorized"}


def test_query_strings_read_the_same_with_and_without_escapes(alice: Api) -> None:
    """Plain query strings are split on a fast path, escaped ones parsed as before."""
    a, b = _dataset(alice, "a"), _dataset(alice, "b")
    plain = f"dataset={a}&&dataset={b}&pipeline=add_pipeline&extra"
    escaped = plain.replace("-", "%2D").replace("add_", "add%5F") + "&x=1+2"
    for query in (plain, escaped):
        r = alice.get(f"/api/v1/datasets/status?{query}")
        assert r.status_code == 200, query
        assert r.json() == {a: COMPLETED, b: COMPLETED}
    r = alice.get(f"/api/v1/datasets/status?dataset={a}&dataset=")
    assert r.status_code == 400
    assert r.json()["detail"][0]["loc"] == ["query", "dataset", 1]


def test_parse_query_gives_the_pairs_parse_qsl_gives() -> None:
    from urllib.parse import parse_qsl

    from graphmill.api.query import parse_query

    for raw in (b"", b"a=1&&b=&c&d=x=y", b"a=%20+b&c=d", b"a;b=c", b"x=\xc3\xa9&=v", b"&&"):
        assert parse_query(raw) == parse_qsl(raw.decode("latin-1"), keep_blank_values=True)


def _writer_engine(settings: Settings) -> Engine:
    """A synchronous engine on the server's store, beside the server's own."""
    url = make_url(settings.sqlalchemy_url)
    sqlite = url.drivername.startswith("sqlite")
    return create_engine(url.set(drivername="sqlite+pysqlite" if sqlite else "postgresql+psycopg"))


def test_status_answers_while_another_writer_holds_the_store(
    alice: Api, server: LiveServer
) -> None:
    """Reads never wait behind writes: with another connection in the middle of a write
    transaction on the very rows status reads (SQLite: holding the file's write lock), status
    and the dataset list answer at once, from what is committed. Were they to wait, they
    would wait for the writer (SQLite's busy timeout is 30 s) and the client give up first."""
    a = _dataset(alice, "a")
    engine = _writer_engine(server.settings)
    try:
        with engine.connect() as writer:
            changed = writer.execute(text("UPDATE pipeline_runs SET state = 'failed'"))
            assert changed.rowcount >= 1  # the write lock (SQLite) or the row locks are held
            with Api(base_url=server.base_url, headers=alice.headers, timeout=10) as reader:
                r = reader.get("/api/v1/datasets/status", params={"pipeline": "add_pipeline"})
                assert r.status_code == 200, r.text
                assert r.json() == {a: COMPLETED}  # the committed state, not the writer's
                r = reader.get("/api/v1/datasets/status", params={"dataset": a})
                assert r.status_code == 200 and r.json() == {}
                listed = reader.get("/api/v1/datasets")
                assert listed.status_code == 200
                assert [d["id"] for d in listed.json()] == [a]
            writer.rollback()
    finally:
        engine.dispose()
    r = alice.get("/api/v1/datasets/status", params={"dataset": a, "pipeline": "add_pipeline"})
    assert r.json() == {a: COMPLETED}
