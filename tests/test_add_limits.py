"""POST /api/v1/add with bad input: limits, empty and malformed uploads, odd names, races.

Every refused request must change nothing: no dataset, no data row, no stored object.
"""

from __future__ import annotations

import hashlib
import random
import struct
import threading
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import boto3
import httpx
import pytest

from graphmill.config import Settings
from tests.conftest import LiveServer
from tests.support import Api, add_files, response_head, sign_up

LIMIT = 64 * 1024
# Room for multipart boundaries and form fields around a file.
MULTIPART_OVERHEAD = 1024 * 1024
LIMIT_MESSAGE = f"Upload exceeds the limit of {LIMIT} bytes (GRAPHMILL_MAX_UPLOAD_BYTES)."
BOUNDARY = "graphmill-test-boundary-7f3a"
# Add refuses types no loader reads, and checks no more than a PDF's signature: a PDF header
# followed by any bytes is an accepted upload of exactly the size wanted.
PDF_HEADER = b"%PDF-1.7\n"


# --- helpers -------------------------------------------------------------------------------


def pdf(size: int, fill: bytes = b"\x00") -> bytes:
    """An upload of exactly `size` bytes that add accepts: a PDF header, then `fill`."""
    assert size >= len(PDF_HEADER)
    return PDF_HEADER + fill * (size - len(PDF_HEADER))


def png() -> bytes:
    """A real 1x1 grey PNG: signature, IHDR, IDAT and IEND with their CRCs."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
        + chunk(b"IEND", b"")
    )


def stored_objects(settings: Settings) -> list[str]:
    """Every object in the blob store, looked at behind graphmill's back."""
    if settings.blob_url is None:
        root = settings.data_dir / "blobs"
        return sorted(str(p) for p in root.rglob("*") if p.is_file()) if root.exists() else []
    parsed = urlparse(settings.blob_url)
    client = boto3.client("s3", endpoint_url=settings.s3_endpoint_url)
    listing = client.list_objects_v2(Bucket=parsed.netloc, Prefix=parsed.path.strip("/") + "/")
    return sorted(o["Key"] for o in listing.get("Contents", []))


def staging_files(settings: Settings) -> list[Path]:
    staging = settings.data_dir / "staging"
    return [p for p in staging.rglob("*") if p.is_file()] if staging.exists() else []


def assert_nothing_stored(api: Api, settings: Settings, dataset_id: str | None = None) -> None:
    """No dataset was created (or the given one is still empty), and no bytes were kept."""
    if dataset_id is None:
        assert api.get("/api/v1/datasets").json() == []
    else:
        assert api.get(f"/api/v1/datasets/{dataset_id}/data").json() == []
    assert stored_objects(settings) == []
    assert staging_files(settings) == []


def part(name: str, value: bytes, file_name: str | None = None) -> bytes:
    """One multipart part, its headers written byte for byte (no client-side escaping)."""
    disposition = f'form-data; name="{name}"'.encode()
    if file_name is not None:
        disposition += b'; filename="' + file_name.encode() + b'"'
    head = b"--" + BOUNDARY.encode() + b"\r\nContent-Disposition: " + disposition + b"\r\n"
    if file_name is not None:
        head += b"Content-Type: application/octet-stream\r\n"
    return head + b"\r\n" + value + b"\r\n"


def multipart(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


MULTIPART_HEADERS = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


@pytest.fixture
def limited(settings_factory: Any) -> Iterator[tuple[Api, Settings, LiveServer]]:
    """A server whose upload limit is LIMIT bytes, and a signed-in user of it."""
    settings: Settings = settings_factory(max_upload_bytes=LIMIT)
    with LiveServer(settings) as live:
        api = sign_up(live.base_url)
        yield api, settings, live
        api.close()


# --- size limits ---------------------------------------------------------------------------


def test_declared_body_over_the_limit_is_413_and_stores_nothing(
    limited: tuple[Api, Settings, LiveServer],
) -> None:
    api, settings, _ = limited
    big = pdf(LIMIT + MULTIPART_OVERHEAD + 1)
    r = add_files(api, "ds_big", [("big.pdf", big)])
    assert r.status_code == 413
    assert r.json() == {"detail": LIMIT_MESSAGE}
    assert_nothing_stored(api, settings)
    # The server is fine afterwards.
    assert add_files(api, "ds_big", [("small.txt", b"small")]).status_code == 200


def test_declared_oversized_body_is_refused_before_it_is_sent(
    limited: tuple[Api, Settings, LiveServer],
) -> None:
    api, settings, live = limited
    head = (
        f"POST /api/v1/add HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {api.headers['Authorization']}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {10 * 1024**3}\r\n\r\n"
    ).encode()
    # The limit is per file: the first file over it ends the request, long before the body.
    body = [
        part("datasetName", b"ds_x"),
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="data"; '
        f'filename="big.pdf"\r\n\r\n'.encode()
        + PDF_HEADER,
        *[b"\x00" * 65536] * 40,
    ]
    response = response_head(live.port, head, iter(body))
    assert response.startswith(b"HTTP/1.1 413 "), response[:200]
    assert_nothing_stored(api, settings)


def test_chunked_body_over_the_limit_is_413_and_stores_nothing(
    limited: tuple[Api, Settings, LiveServer],
) -> None:
    api, settings, _ = limited

    def body() -> Iterator[bytes]:
        yield part("datasetName", b"ds_chunked")
        yield (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="data"; '
            f'filename="big.pdf"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        yield PDF_HEADER
        for _ in range((LIMIT + MULTIPART_OVERHEAD) // 65536 + 4):
            yield b"\x00" * 65536
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    r = api.post("/api/v1/add", content=body(), headers=MULTIPART_HEADERS)
    assert "content-length" not in r.request.headers
    assert r.request.headers["transfer-encoding"] == "chunked"
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/json"
    body_json = r.json()
    assert body_json == {"detail": LIMIT_MESSAGE}
    assert_nothing_stored(api, settings)


def test_chunked_oversized_body_is_refused_before_it_ends(
    limited: tuple[Api, Settings, LiveServer],
) -> None:
    api, settings, live = limited
    head = (
        f"POST /api/v1/add HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {api.headers['Authorization']}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Transfer-Encoding: chunked\r\n\r\n"
    ).encode()

    def chunk(data: bytes) -> bytes:
        return f"{len(data):x}\r\n".encode() + data + b"\r\n"

    def chunks() -> Iterator[bytes]:
        yield chunk(part("datasetName", b"ds_x"))
        yield chunk(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="data"; '
            f'filename="big.pdf"\r\n\r\n'.encode()
            + PDF_HEADER
        )
        for _ in range((LIMIT + MULTIPART_OVERHEAD) // 65536 + 2):
            yield chunk(b"\x00" * 65536)
        # ... and the body never ends.

    response = response_head(live.port, head, chunks())
    assert response.startswith(b"HTTP/1.1 413 "), response[:200]
    assert_nothing_stored(api, settings)


def test_file_over_the_limit_inside_the_request_allowance_is_413(
    limited: tuple[Api, Settings, LiveServer],
) -> None:
    api, settings, _ = limited
    over = pdf(LIMIT + 1, b"\x01")
    r = add_files(api, "ds_mid", [("over.pdf", over)])
    assert int(r.request.headers["content-length"]) <= LIMIT + MULTIPART_OVERHEAD
    assert r.status_code == 413
    assert r.json() == {"detail": LIMIT_MESSAGE}
    assert_nothing_stored(api, settings)
    # A valid first file is not kept when a later one is over the limit.
    r = add_files(api, "ds_mid", [("fine.txt", b"fine"), ("over.pdf", over)])
    assert r.status_code == 413
    assert_nothing_stored(api, settings)
    # Exactly at the limit is accepted.
    r = add_files(api, "ds_mid", [("exact.pdf", pdf(LIMIT, b"\x01"))])
    assert r.status_code == 200, r.text
    assert len(stored_objects(settings)) == 1


def test_the_limit_is_per_file_not_per_request(
    limited: tuple[Api, Settings, LiveServer],
) -> None:
    # Issue 9, defect 11: several files each under the limit, together far over it.
    api, settings, _ = limited
    files = [(f"f{i}.pdf", pdf(LIMIT - 1024, bytes([i + 1]))) for i in range(40)]
    r = add_files(api, "ds_many", files)
    assert int(r.request.headers["content-length"]) > 2 * 1024 * 1024
    assert r.status_code == 200, r.text
    assert len(r.json()["data_ingestion_info"]) == 40
    assert len(stored_objects(settings)) == 40


# --- empty and missing uploads ---------------------------------------------------------------


def test_empty_file_is_400_with_a_reason_and_stores_nothing(alice: Api, settings: Settings) -> None:
    r = add_files(alice, "ds_empty", [("empty.txt", b"")])
    assert r.status_code == 400
    body = r.json()
    assert "empty.txt" in body["error"]
    assert "empty" in body["error"].replace("empty.txt", "")
    assert_nothing_stored(alice, settings)


def test_empty_second_file_keeps_the_first_out_too(alice: Api, settings: Settings) -> None:
    created = alice.post("/api/v1/datasets", json={"name": "ds_pair"})
    assert created.status_code == 200
    dataset_id = created.json()["id"]
    r = add_files(alice, "ds_pair", [("first.txt", b"first file"), ("second.txt", b"")])
    assert r.status_code == 400
    assert "second.txt" in r.json()["error"]
    assert_nothing_stored(alice, settings, dataset_id)
    r = alice.post(
        "/api/v1/add",
        files=[
            ("data", ("first.txt", b"first file", "text/plain")),
            ("data", ("second.txt", b"", "text/plain")),
        ],
        data={"datasetId": dataset_id},
    )
    assert r.status_code == 400
    assert_nothing_stored(alice, settings, dataset_id)


def test_no_files_is_400(alice: Api, settings: Settings) -> None:
    no_files = {
        "error": "No files were uploaded: send one or more multipart parts named 'data'.",
        "detail": None,
    }
    urlencoded = alice.post("/api/v1/add", data={"datasetName": "ds_none"})
    assert urlencoded.status_code == 400
    assert urlencoded.json() == no_files
    only_fields = alice.post(
        "/api/v1/add",
        content=multipart(part("datasetName", b"ds_none"), part("labels", b"[]")),
        headers=MULTIPART_HEADERS,
    )
    assert only_fields.status_code == 400
    assert only_fields.json() == no_files
    assert_nothing_stored(alice, settings)


def test_a_text_value_for_data_is_a_validation_error(alice: Api, settings: Settings) -> None:
    r = alice.post(
        "/api/v1/add",
        content=multipart(part("datasetName", b"ds_text"), part("data", b"just text")),
        headers=MULTIPART_HEADERS,
    )
    assert r.status_code == 400
    body = r.json()
    assert set(body) == {"detail", "body"}
    [error] = body["detail"]
    assert error["loc"][:2] == ["body", "data"]
    assert "UploadFile" in error["msg"]
    assert_nothing_stored(alice, settings)


# --- datasets ------------------------------------------------------------------------------


def test_neither_dataset_name_nor_id_is_400(alice: Api, settings: Settings) -> None:
    expected = {"error": "Either datasetId or datasetName must be provided.", "detail": None}
    files = [("data", ("a.txt", b"text", "text/plain"))]
    assert alice.post("/api/v1/add", files=files).json() == expected
    for form in ({"datasetId": ""}, {"datasetName": ""}, {"datasetId": "  "}):
        r = alice.post("/api/v1/add", files=files, data=form)
        assert r.status_code == 400, form
        assert r.json() == expected, form
    assert_nothing_stored(alice, settings)


def test_bad_dataset_names_are_400(alice: Api, settings: Settings) -> None:
    for name in ("my ds", "my.ds", "a/b", "tab\there"):
        r = add_files(alice, name, [("a.txt", b"text")])
        assert r.status_code == 400, name
        assert "Dataset name cannot contain spaces or dots" in r.json()["error"], name
    assert_nothing_stored(alice, settings)


def test_malformed_dataset_id_is_400(alice: Api, settings: Settings) -> None:
    for bad in ("not-a-uuid", "1234", "'; drop table data; --"):
        r = alice.post(
            "/api/v1/add",
            files=[("data", ("a.txt", b"text", "text/plain"))],
            data={"datasetId": bad},
        )
        assert r.status_code == 400, bad
        assert "datasetId" in r.json()["error"], bad
    assert_nothing_stored(alice, settings)


def test_unknown_dataset_id_is_404_and_stores_nothing(alice: Api, settings: Settings) -> None:
    r = alice.post(
        "/api/v1/add",
        files=[("data", ("a.txt", b"text", "text/plain"))],
        data={"datasetId": str(uuid.uuid4())},
    )
    assert r.status_code == 404
    assert r.json() == {"detail": "Dataset not found. [DatasetNotFoundError]"}
    assert_nothing_stored(alice, settings)


# --- labels and metadata -------------------------------------------------------------------


def test_bad_labels_are_400(alice: Api, settings: Settings) -> None:
    for labels in ('["a",', '["a", "b"]', "a,b", "[1]", '[["nested"]]'):
        r = add_files(alice, "ds_labels", [("a.txt", b"text")], labels=labels)
        assert r.status_code == 400, (labels, r.text)
        assert r.json()["detail"].endswith("[InvalidLabelsError]"), labels
    assert_nothing_stored(alice, settings)


def test_bad_external_metadata_is_400(alice: Api, settings: Settings) -> None:
    for metadata in (
        "{not json",
        "[1, 2]",
        '[{"a": 1}, {"b": 2}]',
        '"just a string"',
        '[{"node_set": ["x"]}]',
    ):
        r = add_files(alice, "ds_meta", [("a.txt", b"text")], external_metadata=metadata)
        assert r.status_code == 400, (metadata, r.text)
        assert r.json()["detail"].endswith("[InvalidExternalMetadataError]"), metadata
    assert_nothing_stored(alice, settings)


def test_labels_and_metadata_nested_very_deep_are_400(alice: Api, settings: Settings) -> None:
    # Issue 9, defect 7: 100,000 levels answered 500 (RecursionError inside the JSON parser).
    deep = 100_000
    r = add_files(alice, "ds_deep", [("a.txt", b"text")], labels="[" * deep + "]" * deep)
    assert r.status_code == 400, r.text
    assert r.json()["detail"].endswith("[InvalidLabelsError]")
    for depth in (deep, 1_000, 65):
        nested = '[{"a": ' + "[" * depth + "]" * depth + "}]"
        r = add_files(alice, "ds_deep", [("a.txt", b"text")], external_metadata=nested)
        assert r.status_code == 400, (depth, r.text)
        assert r.json()["detail"].endswith("[InvalidExternalMetadataError]"), depth
    assert_nothing_stored(alice, settings)
    # Reasonable nesting is still kept.
    nested = '[{"a": ' + '{"b": ' * 20 + "1" + "}" * 20 + "}]"
    r = add_files(alice, "ds_deep", [("a.txt", b"text")], external_metadata=nested)
    assert r.status_code == 200, r.text


# --- file types ----------------------------------------------------------------------------


def test_content_that_contradicts_the_name_is_400(alice: Api, settings: Settings) -> None:
    for name, content in (
        ("fake.pdf", b"this is plain text, not a PDF"),
        ("fake.png", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"),
        ("notes.txt", b"\x00\x01\x02\x03binary\xff\xfe"),
    ):
        r = add_files(alice, "ds_types", [("ok.txt", b"fine text"), (name, content)])
        assert r.status_code == 400, name
        assert name in r.json()["error"], name
    assert_nothing_stored(alice, settings)


def test_types_no_loader_reads_are_415_and_store_nothing(alice: Api, settings: Settings) -> None:
    noise = random.Random(20).randbytes(4096)
    for name, content, mime in (
        ("noise.bin", noise, "application/octet-stream"),
        ("pixel.png", png(), "image/png"),
    ):
        # Alone, and after a file that would be accepted: neither is kept.
        for files in ([(name, content)], [("ok.txt", b"fine text"), (name, content)]):
            r = add_files(alice, "ds_unsupported", files)
            assert r.status_code == 415, (name, r.text)
            assert r.headers["content-type"] == "application/json"
            body = r.json()
            assert set(body) == {"error", "detail"}, name
            assert body["detail"] is None, name
            assert isinstance(body["error"], str), name
            assert name in body["error"], name
            assert mime in body["error"], name
    assert_nothing_stored(alice, settings)


# --- hostile names -------------------------------------------------------------------------


def test_names_with_paths_and_control_characters_are_data_only(
    alice: Api, settings: Settings, tmp_path: Path
) -> None:
    token = uuid.uuid4().hex[:10]
    sent = {
        f"../../escape-{token}.txt": f"escape-{token}.txt",
        f"..\\..\\windows-{token}.txt": f"windows-{token}.txt",
        f"/tmp/absolute-{token}.txt": f"absolute-{token}.txt",
        f"nested/dir/deep-{token}.txt": f"deep-{token}.txt",
        f"ctl\x01\x1f\x7f\t-{token}.txt": f"ctl-{token}.txt",
    }
    body = multipart(
        part("datasetName", b"ds_names"),
        *(part("data", f"content of {n!r}".encode(), file_name=n) for n in sent),
    )
    r = alice.post("/api/v1/add", content=body, headers=MULTIPART_HEADERS)
    assert r.status_code == 200, r.text
    result = r.json()
    dataset_id = result["dataset_id"]
    ids = [e["data_id"] for e in result["data_ingestion_info"]]
    items = {i["id"]: i for i in alice.get(f"/api/v1/datasets/{dataset_id}/data").json()}
    assert set(items) == set(ids)
    for data_id, (raw_name, clean) in zip(ids, sent.items(), strict=True):
        item = items[data_id]
        assert item["originalName"] == clean, raw_name
        assert item["name"] == clean.removesuffix(".txt")
        assert "/" not in item["name"] and "\\" not in item["name"]
        raw = alice.get(f"/api/v1/datasets/{dataset_id}/data/{data_id}/raw")
        assert raw.content == f"content of {raw_name!r}".encode()
        assert f'filename="{clean}"' in raw.headers["content-disposition"]
    # No file was created from any name: only content-addressed objects in the store.
    assert not list(tmp_path.parent.rglob(f"*{token}*"))
    bases = [settings.data_dir / "blobs", settings.data_dir / "staging", Path.cwd(), Path("/")]
    for base in bases:
        for raw_name in sent:
            assert not (base / raw_name.replace("\\", "/")).exists(), (base, raw_name)
    if settings.blob_url is None:
        blobs = (settings.data_dir / "blobs").resolve()
        for location in (i["rawDataLocation"] for i in items.values()):
            path = Path(unquote(urlparse(location).path))
            assert path.is_relative_to(blobs)
            assert len(path.name) == 64
    assert len(stored_objects(settings)) == len(sent)


# --- concurrency ---------------------------------------------------------------------------


def test_concurrent_adds_to_one_dataset_lose_and_duplicate_nothing(
    alice: Api, server: LiveServer, settings: Settings
) -> None:
    threads, per_thread, shared = 8, 10, 5
    token = alice.headers["Authorization"]

    def contents(t: int) -> list[tuple[str, bytes]]:
        files = [(f"shared-{i}-t{t}.txt", f"shared content {i}".encode()) for i in range(shared)]
        files += [
            (f"own-{t}-{i}.txt", f"content of thread {t} file {i}".encode())
            for i in range(shared, per_thread)
        ]
        # Overlapping sets in opposite orders: locking must not deadlock on them.
        return files if t % 2 else files[::-1]

    returned: dict[int, list[tuple[bytes, str]]] = {}
    failures: list[str] = []
    barrier = threading.Barrier(threads)

    def worker(t: int) -> None:
        files = contents(t)
        with httpx.Client(base_url=server.base_url, timeout=120) as client:
            client.headers["Authorization"] = token
            barrier.wait()
            got: list[tuple[bytes, str]] = []
            # Half in one multi-file request, half one by one.
            batches = [files[:5]] + [[f] for f in files[5:]]
            for batch in batches:
                r = add_files(client, "ds_race", batch)
                if r.status_code != 200:
                    failures.append(f"thread {t}: {r.status_code} {r.text}")
                    return
                for (_, content), entry in zip(batch, r.json()["data_ingestion_info"], strict=True):
                    got.append((content, entry["data_id"]))
            returned[t] = got

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join(timeout=120)
    assert not failures, failures
    assert len(returned) == threads

    distinct = {c for t in range(threads) for _, c in contents(t)}
    assert len(distinct) == shared + threads * (per_thread - shared)
    [dataset] = alice.get("/api/v1/datasets").json()
    rows = alice.get(f"/api/v1/datasets/{dataset['id']}/data").json()
    assert len(rows) == len(distinct)
    assert {r["contentHash"] for r in rows} == {hashlib.sha256(c).hexdigest() for c in distinct}
    row_ids = {r["id"] for r in rows}
    by_content: dict[bytes, set[str]] = {}
    for got in returned.values():
        for content, data_id in got:
            assert data_id in row_ids
            by_content.setdefault(content, set()).add(data_id)
    # The same bytes got one id, whichever request stored them first.
    assert all(len(ids) == 1 for ids in by_content.values())
    assert len(stored_objects(settings)) == len(distinct)
    assert staging_files(settings) == []
