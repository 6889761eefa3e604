"""GET/HEAD /api/v1/datasets/{id}/data/{data_id}/raw: the original bytes, exactly."""

from __future__ import annotations

import hashlib
import io
import random
import string
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import anyio
import boto3
import httpx
from pypdf import PdfReader, PdfWriter
from starlette.requests import Request
from starlette.types import Message

from graphmill.api.download import blob_response
from graphmill.blobs import BlobRef, LocalBlobStore
from graphmill.catalog.data import DataInfo
from graphmill.config import Settings
from tests.support import Api, add_files

MiB = 1024 * 1024
PDF_HEADER = b"%PDF-1.7\n"


def payload(size: int, seed: int = 0) -> bytes:
    """`size` bytes of arbitrary binary content, carried as a PDF.

    Add accepts only types a loader reads, and checks no more than the signature; the body is
    parsed only by cognify, so everything after the header is arbitrary bytes.
    """
    assert size >= len(PDF_HEADER)
    return PDF_HEADER + random.Random(seed).randbytes(size - len(PDF_HEADER))


def text_payload(size: int, seed: int = 0) -> bytes:
    """`size` bytes of plain text, for sizes too small to hold a PDF header."""
    return "".join(random.Random(seed).choices(string.ascii_letters, k=size)).encode()


def upload(api: Api, files: list[tuple[str, bytes]], dataset: str = "ds_raw") -> list[str]:
    """Add files to a dataset; return the raw-download URL of each, in upload order."""
    r = add_files(api, dataset, files)
    assert r.status_code == 200, r.text
    body = r.json()
    return [
        f"/api/v1/datasets/{body['dataset_id']}/data/{entry['data_id']}/raw"
        for entry in body["data_ingestion_info"]
    ]


def item_of(api: Api, url: str) -> dict[str, Any]:
    """The data item behind a raw URL, as GET /datasets/{id}/data lists it."""
    parts = url.split("/")
    dataset_id, data_id = parts[4], parts[6]
    items = api.get(f"/api/v1/datasets/{dataset_id}/data").json()
    [item] = [i for i in items if i["id"] == data_id]
    return item


def one_page_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_metadata({"/Title": "graphmill raw test"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_random_binary_files_round_trip_byte_for_byte(alice: Api) -> None:
    files = [
        ("one.txt", text_payload(1, seed=1)),
        ("two.txt", text_payload(2, seed=2)),
        ("no_extension", text_payload(3, seed=3)),
        ("block.pdf", payload(4095, seed=4)),
        ("chunk_exact.pdf", payload(MiB, seed=5)),
        ("chunk_plus_one.pdf", payload(MiB + 1, seed=6)),
        ("large.pdf", payload(2 * MiB + 4321, seed=7)),
    ]
    urls = upload(alice, files)
    assert len(urls) == len(files)
    for (name, content), url in zip(files, urls, strict=True):
        r = alice.get(url)
        assert r.status_code == 200, (name, r.text)
        assert r.content == content, name
        assert r.headers["content-length"] == str(len(content))
        assert r.headers["etag"] == f'"{hashlib.sha256(content).hexdigest()}"'
        item = item_of(alice, url)
        assert r.headers["content-type"].split(";")[0] == item["mimeType"]
        assert item["dataSize"] == len(content)


def test_binary_files_are_served_with_their_stored_type(alice: Api) -> None:
    content = payload(5000, seed=8)
    [url] = upload(alice, [("noise.pdf", content)])
    r = alice.get(url)
    assert r.content == content
    # The stored type, unchanged: no charset, no guess from the (binary) body.
    assert r.headers["content-type"] == "application/pdf"
    assert item_of(alice, url)["mimeType"] == "application/pdf"


def test_pdf_round_trips_and_is_served_as_pdf(alice: Api) -> None:
    pdf = one_page_pdf()
    assert pdf.startswith(b"%PDF-")
    [url] = upload(alice, [("report.pdf", pdf)])
    r = alice.get(url)
    assert r.status_code == 200
    assert r.content == pdf
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-length"] == str(len(pdf))
    assert r.headers["content-disposition"] == (
        "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
    )
    assert len(PdfReader(io.BytesIO(r.content)).pages) == 1
    item = item_of(alice, url)
    assert (item["name"], item["extension"], item["mimeType"]) == (
        "report",
        "pdf",
        "application/pdf",
    )


def test_headers_describe_the_original_upload(alice: Api) -> None:
    content = payload(777, seed=9)
    [url] = upload(alice, [("data.pdf", content)])
    r = alice.get(url)
    assert r.headers["etag"] == f'"{hashlib.sha256(content).hexdigest()}"'
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-length"] == "777"
    assert r.headers["content-disposition"] == (
        "attachment; filename=\"data.pdf\"; filename*=UTF-8''data.pdf"
    )
    assert "content-range" not in r.headers


def test_raw_bytes_are_never_sniffed_as_another_type(alice: Api) -> None:
    # An uploaded page with markup must not be rendered by a browser that second-guesses
    # the declared type (issue 9, defect 10).
    [url] = upload(alice, [("page.txt", b"<html><script>alert(1)</script></html>")])
    assert alice.get(url).headers["x-content-type-options"] == "nosniff"
    assert alice.head(url).headers["x-content-type-options"] == "nosniff"
    assert alice.get(url, headers={"Range": "bytes=0-3"}).headers["x-content-type-options"] == (
        "nosniff"
    )


def test_non_ascii_name_is_encoded_per_rfc_6266(alice: Api) -> None:
    name = "résumé 履歴書.pdf"
    [url] = upload(alice, [(name, payload(64, seed=10))])
    r = alice.get(url)
    assert r.status_code == 200
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment; ")
    params = dict(part.strip().split("=", 1) for part in disposition.split(";")[1:] if "=" in part)
    encoded = params["filename*"]
    assert encoded.startswith("UTF-8''")
    assert unquote(encoded.removeprefix("UTF-8''"), encoding="utf-8") == name
    # The plain fallback is quoted ASCII of the same length, for clients without RFC 5987.
    fallback = params["filename"]
    assert fallback.startswith('"') and fallback.endswith('"')
    assert fallback.strip('"').isascii()
    assert len(fallback.strip('"')) == len(name)
    assert fallback.strip('"').endswith(".pdf")
    assert disposition.isascii()


def test_head_gives_the_same_headers_and_no_body(alice: Api) -> None:
    content = payload(3 * 1000, seed=11)
    [url] = upload(alice, [("head.pdf", content)])
    got = alice.get(url)
    head = alice.head(url)
    assert head.status_code == 200
    assert head.content == b""
    for header in (
        "content-type",
        "content-length",
        "content-disposition",
        "etag",
        "accept-ranges",
    ):
        assert head.headers[header] == got.headers[header], header
    assert head.headers["content-length"] == str(len(content))


def test_head_of_a_range_gives_partial_headers(alice: Api) -> None:
    [url] = upload(alice, [("head_range.pdf", payload(1000, seed=12))])
    r = alice.head(url, headers={"Range": "bytes=10-19"})
    assert r.status_code == 206
    assert r.content == b""
    assert r.headers["content-range"] == "bytes 10-19/1000"
    assert r.headers["content-length"] == "10"


RANGE_SIZE = 2 * MiB + 100
SINGLE_RANGES = [
    ("bytes=0-0", 0, 0),
    ("bytes=10-99", 10, 99),
    ("bytes=1048570-1048590", 1048570, 1048590),
    ("bytes=2000000-", 2000000, RANGE_SIZE - 1),
    ("bytes=-1", RANGE_SIZE - 1, RANGE_SIZE - 1),
    ("bytes=-1500000", RANGE_SIZE - 1500000, RANGE_SIZE - 1),
    ("bytes=2097000-99999999", 2097000, RANGE_SIZE - 1),
    ("bytes=-99999999", 0, RANGE_SIZE - 1),
    ("bytes=0-", 0, RANGE_SIZE - 1),
]


def test_single_ranges_give_206_with_the_exact_bytes(alice: Api) -> None:
    content = payload(RANGE_SIZE, seed=13)
    [url] = upload(alice, [("ranged.pdf", content)])
    etag = f'"{hashlib.sha256(content).hexdigest()}"'
    for spec, start, end in SINGLE_RANGES:
        r = alice.get(url, headers={"Range": spec})
        assert r.status_code == 206, (spec, r.text)
        assert r.content == content[start : end + 1], spec
        assert r.headers["content-range"] == f"bytes {start}-{end}/{RANGE_SIZE}", spec
        assert r.headers["content-length"] == str(end - start + 1), spec
        assert r.headers["etag"] == etag, spec
        assert r.headers["content-type"] == "application/pdf", spec


def test_unsatisfiable_ranges_give_416_with_the_size(alice: Api) -> None:
    [url] = upload(alice, [("short.pdf", payload(1000, seed=14))])
    for spec in ("bytes=1000-", "bytes=5000-6000", "bytes=-0"):
        r = alice.get(url, headers={"Range": spec})
        assert r.status_code == 416, spec
        assert r.headers["content-range"] == "bytes */1000", spec
        assert r.headers["content-type"] == "application/json", spec
        assert isinstance(r.json()["detail"], str), spec


def test_multiple_ranges_give_the_whole_file(alice: Api) -> None:
    content = payload(1000, seed=15)
    [url] = upload(alice, [("multi.pdf", content)])
    r = alice.get(url, headers={"Range": "bytes=0-9,100-199"})
    assert r.status_code == 200
    assert r.content == content
    assert "content-range" not in r.headers
    assert r.headers["content-length"] == "1000"


def test_if_range_with_the_etag_honours_the_range_and_a_stale_one_does_not(alice: Api) -> None:
    content = payload(1000, seed=16)
    [url] = upload(alice, [("ifrange.pdf", content)])
    etag = alice.get(url).headers["etag"]
    fresh = alice.get(url, headers={"Range": "bytes=0-9", "If-Range": etag})
    assert fresh.status_code == 206
    assert fresh.content == content[:10]
    stale = alice.get(url, headers={"Range": "bytes=0-9", "If-Range": f'"{"0" * 64}"'})
    assert stale.status_code == 200
    assert stale.content == content


def test_if_none_match_with_the_etag_gives_304(alice: Api) -> None:
    content = payload(1000, seed=17)
    [url] = upload(alice, [("cached.pdf", content)])
    etag = alice.get(url).headers["etag"]
    for header in (etag, f'"{"0" * 64}", {etag}', f"W/{etag}", "*"):
        r = alice.get(url, headers={"If-None-Match": header})
        assert r.status_code == 304, header
        assert r.content == b""
        assert r.headers["etag"] == etag
    other = alice.get(url, headers={"If-None-Match": f'"{"0" * 64}"'})
    assert other.status_code == 200
    assert other.content == content


def test_missing_data_id_in_existing_dataset_is_404(alice: Api) -> None:
    [url] = upload(alice, [("present.txt", b"present")])
    dataset_id = url.split("/")[4]
    r = alice.get(f"/api/v1/datasets/{dataset_id}/data/{uuid.uuid4()}/raw")
    assert r.status_code == 404
    assert r.json() == {"detail": "Data not found. [DataNotFoundError]"}


def test_data_id_of_another_dataset_is_404(alice: Api) -> None:
    [here] = upload(alice, [("here.txt", b"here")], dataset="ds_here")
    [there] = upload(alice, [("there.txt", b"there")], dataset="ds_there")
    mixed = f"/api/v1/datasets/{here.split('/')[4]}/data/{there.split('/')[6]}/raw"
    r = alice.get(mixed)
    assert r.status_code == 404
    assert r.json() == {"detail": "Data not found. [DataNotFoundError]"}


def test_another_users_item_is_404_like_a_missing_dataset(alice: Api, bob: Api) -> None:
    [url] = upload(alice, [("private.txt", b"secret")])
    theirs = bob.get(url)
    nowhere = bob.get(f"/api/v1/datasets/{uuid.uuid4()}/data/{uuid.uuid4()}/raw")
    assert theirs.status_code == 404
    assert theirs.json() == nowhere.json()
    assert b"secret" not in theirs.content


def remove_behind_graphmills_back(location: str, settings: Settings) -> None:
    parsed = urlparse(location)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
        assert path.is_relative_to((settings.data_dir / "blobs").resolve())
        path.unlink()
        return
    assert parsed.scheme == "s3"
    client = boto3.client("s3", endpoint_url=settings.s3_endpoint_url)
    key = parsed.path.lstrip("/")
    client.head_object(Bucket=parsed.netloc, Key=key)
    client.delete_object(Bucket=parsed.netloc, Key=key)


def test_object_missing_from_the_store_is_500_with_request_id(
    alice: Api, settings: Settings
) -> None:
    [url] = upload(alice, [("vanishing.pdf", payload(4000, seed=18))])
    remove_behind_graphmills_back(item_of(alice, url)["rawDataLocation"], settings)
    for method in ("GET", "HEAD"):
        r = alice.request(method, url)
        assert r.status_code == 500, method
        assert r.headers["content-type"] == "application/json"
        assert "Traceback" not in r.text
        assert "content-disposition" not in r.headers
        if method == "GET":
            body = r.json()
            assert body["request_id"]
            assert body["request_id"] == r.headers["x-request-id"]
            assert body["error"] == "The stored object cannot be read."
            assert body["detail"] is None
            # Where the bytes live stays private: no file name, folder or bucket.
            assert "vanishing" not in r.text
            assert str(settings.data_dir) not in r.text
            if settings.blob_url is not None:
                assert urlparse(settings.blob_url).netloc not in r.text


def test_download_streams_without_buffering_in_the_client(alice: Api) -> None:
    content = payload(2 * MiB + 1, seed=19)
    [url] = upload(alice, [("streamed.pdf", content)])
    received = bytearray()
    with alice.stream("GET", url) as r:
        assert r.status_code == 200
        for chunk in r.iter_raw():
            received += chunk
    assert bytes(received) == content


def test_requires_authentication(alice: Api, anon: httpx.Client) -> None:
    [url] = upload(alice, [("auth.txt", b"auth")])
    r = anon.get(url)
    assert r.status_code == 401
    assert r.content != b"auth"


def test_a_local_blob_goes_out_by_pathsend_where_the_server_offers_it(tmp_path: Path) -> None:
    """uvicorn offers no `http.response.pathsend`; a server that does gets the blob's path
    (sendfile, no copy) for a whole-file answer, and streamed bytes for a range."""
    store = LocalBlobStore(tmp_path / "blobs", staging_dir=tmp_path / "staging")
    content = payload(3 * MiB, seed=20)

    async def chunks() -> AsyncIterator[bytes]:
        yield content

    async def serve(ref: BlobRef, headers: list[tuple[bytes, bytes]], pathsend: bool) -> Any:
        now = datetime.now(UTC)
        item = DataInfo(
            id=uuid.uuid4(),
            dataset_id=uuid.uuid4(),
            name="sent",
            original_name="sent.pdf",
            extension="pdf",
            mime_type="application/pdf",
            content_hash=ref.sha256,
            size=ref.size,
            location=ref.location,
            label=None,
            external_metadata={},
            node_set=None,
            created_at=now,
            updated_at=now,
        )
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "method": "GET",
            "path": "/raw",
            "headers": headers,
            "extensions": {"http.response.pathsend": {}} if pathsend else {},
        }
        sent: list[Message] = []

        async def send(message: Message) -> None:
            sent.append(message)

        async def receive() -> Message:
            raise AssertionError("a response never reads the request")

        response = await blob_response(Request(scope), item, store)
        await response(scope, receive, send)
        return sent

    async def scenario() -> tuple[Path | None, list[Any]]:
        staged = await store.stage(chunks(), max_bytes=len(content))
        ref = await store.commit(staged)
        staged.discard()
        return store.local_path(ref.sha256), [
            await serve(ref, [], pathsend=True),
            await serve(ref, [], pathsend=False),
            await serve(ref, [(b"range", b"bytes=10-19")], pathsend=True),
        ]

    path, (whole, streamed, ranged) = anyio.run(scenario)
    start, pathsend = whole
    assert start["status"] == 200
    assert dict(start["headers"])[b"content-length"] == str(len(content)).encode()
    assert dict(start["headers"])[b"content-disposition"].startswith(b"attachment")
    assert pathsend == {"type": "http.response.pathsend", "path": str(path)}
    assert streamed[0]["status"] == 200
    assert b"".join(m.get("body", b"") for m in streamed[1:]) == content
    assert ranged[0]["status"] == 206
    assert b"".join(m.get("body", b"") for m in ranged[1:]) == content[10:20]
