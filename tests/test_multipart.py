"""POST /api/v1/add reads its multipart body as a stream: files are staged while they arrive,
written once, in any order of the form's parts, and nothing stays behind when a request fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from graphmill.api.app import create_app
from graphmill.api.multipart import MAX_FIELD_BYTES, MAX_FIELDS_BYTES
from graphmill.config import Settings
from tests.conftest import LiveServer
from tests.support import Api, add_files, response_head, sign_up
from tests.test_add_limits import (
    BOUNDARY,
    MULTIPART_HEADERS,
    PDF_HEADER,
    assert_nothing_stored,
    multipart,
    part,
    pdf,
    staging_files,
    stored_objects,
)

MiB = 1024 * 1024
# Temporary files that a disk writes (the usual place; TMPDIR may be in RAM: scripts/test).
DISK_TMP = "/var/tmp" if os.path.isdir("/var/tmp") else None


def file_head(file_name: str) -> bytes:
    """The start of a `data` file part, up to its first byte."""
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="data"; '
        f'filename="{file_name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()


def staged_bytes(settings: Settings) -> int:
    """The largest staging file's size right now (files come and go under our feet)."""
    sizes = [0]
    for path in staging_files(settings):
        with contextlib.suppress(FileNotFoundError):
            sizes.append(path.stat().st_size)
    return max(sizes)


def wait_for(condition: Callable[[], bool], seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def disk_writes() -> int:
    """Bytes this process (the test client and the in-process server) sent to storage."""
    with open("/proc/self/io") as io:
        fields = dict(line.split(":") for line in io)
    return int(fields["write_bytes"])


# --- one pass --------------------------------------------------------------------------------


def test_file_bytes_reach_staging_while_the_body_is_still_arriving(
    alice: Api, settings: Settings
) -> None:
    seen_mid_upload: list[int] = []

    def body() -> Iterator[bytes]:
        yield part("datasetName", b"ds_streamed")
        yield file_head("streamed.pdf") + PDF_HEADER
        for _ in range(8):
            yield b"\x00" * MiB
        # The rest of the body waits until staging holds bytes of this very request.
        if wait_for(lambda: staged_bytes(settings) >= 4 * MiB):
            seen_mid_upload.append(staged_bytes(settings))
        yield b"\x00" * MiB
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    r = alice.post("/api/v1/add", content=body(), headers=MULTIPART_HEADERS)
    assert r.status_code == 200, r.text
    assert seen_mid_upload, "nothing was staged before the request body ended"
    assert staging_files(settings) == []
    [entry] = r.json()["data_ingestion_info"]
    raw = alice.get(f"/api/v1/datasets/{r.json()['dataset_id']}/data/{entry['data_id']}/raw")
    assert raw.content == PDF_HEADER + b"\x00" * (9 * MiB)


@pytest.fixture
def on_disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on the disk, also made this process's temporary folder (where a spooled copy
    of the body would go): scripts/test keeps TMPDIR in RAM, whose writes no disk counts."""
    folder = Path(tempfile.mkdtemp(prefix="graphmill-disk-", dir=DISK_TMP))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_large_upload_is_written_to_disk_once(on_disk: Path) -> None:
    size = 32 * MiB
    content = pdf(size, b"\x07")
    calibration = on_disk / "calibration"
    before = disk_writes()
    calibration.write_bytes(content)
    once = disk_writes() - before
    calibration.unlink()
    assert once >= size, "this filesystem does not account writes: the measure means nothing"

    settings = Settings(_env_file=None, data_dir=on_disk / "data", log_level="WARNING")
    with LiveServer(settings) as live:
        api = sign_up(live.base_url)
        before = disk_writes()
        r = add_files(api, "ds_once", [("once.pdf", content)])
        written = disk_writes() - before
        api.close()
    assert r.status_code == 200, r.text
    # Spooling the body to a temporary file first, then staging it, would write it twice.
    assert once <= written < 1.5 * once, written / once


# --- the order of the parts --------------------------------------------------------------------


def test_fields_after_the_files_are_used(alice: Api, settings: Settings) -> None:
    body = multipart(
        part("data", b"first file", file_name="first.txt"),
        part("other", b"a file under another name is skipped", file_name="other.txt"),
        part("data", b"second file", file_name="second.txt"),
        part("datasetName", b"ds_after"),
        part("labels", json.dumps(["one", "two"]).encode()),
        part("external_metadata", json.dumps([{"source": "crm"}, None]).encode()),
        part("node_set", b"n1"),
        part("node_set", b"n2"),
    )
    r = alice.post("/api/v1/add", content=body, headers=MULTIPART_HEADERS)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["dataset_name"] == "ds_after"
    items = {
        i["name"]: i for i in alice.get(f"/api/v1/datasets/{result['dataset_id']}/data").json()
    }
    assert set(items) == {"first", "second"}
    assert items["first"]["label"] == "one"
    assert items["second"]["label"] == "two"
    assert items["first"]["externalMetadata"] == {"source": "crm", "node_set": ["n1", "n2"]}
    assert items["second"]["externalMetadata"] == {"node_set": ["n1", "n2"]}
    assert len(stored_objects(settings)) == 2
    assert staging_files(settings) == []


def test_a_dataset_refused_after_the_files_were_staged_keeps_nothing(
    alice: Api, bob: Api, settings: Settings
) -> None:
    theirs = bob.post("/api/v1/datasets", json={"name": "ds_bobs"}).json()["id"]
    for dataset_field, status in (
        (part("datasetId", theirs.encode()), 404),
        (part("datasetName", b"bad name"), 400),
    ):
        body = multipart(part("data", pdf(3 * MiB), file_name="big.pdf"), dataset_field)
        r = alice.post("/api/v1/add", content=body, headers=MULTIPART_HEADERS)
        assert r.status_code == status, r.text
    assert_nothing_stored(alice, settings)


def test_refusals_keep_their_order_whatever_the_order_of_the_parts(
    alice: Api, settings: Settings
) -> None:
    # Labels that do not fit are refused before an unsupported file, fields first or last.
    fields = [part("datasetName", b"ds_order"), part("labels", b'["a", "b", "c"]')]
    files = [
        part("data", b"fine text", file_name="ok.txt"),
        part("data", b"\x00\x01binary noise", file_name="noise.bin"),
    ]
    for parts in (fields + files, files + fields):
        r = alice.post("/api/v1/add", content=multipart(*parts), headers=MULTIPART_HEADERS)
        assert r.status_code == 400, r.text
        assert r.json()["detail"].endswith("[InvalidLabelsError]")
    assert_nothing_stored(alice, settings)


# --- failures mid-body ---------------------------------------------------------------------------


def test_a_client_gone_mid_upload_leaves_no_staged_file(
    alice: Api, server: LiveServer, settings: Settings
) -> None:
    head = (
        f"POST /api/v1/add HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {alice.headers['Authorization']}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {64 * MiB}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head + part("datasetName", b"ds_gone") + file_head("gone.pdf") + PDF_HEADER)
        for _ in range(8):
            sock.sendall(b"\x00" * MiB)
        assert wait_for(lambda: staged_bytes(settings) >= 2 * MiB), "the upload was not staged"
    # The connection is closed with most of the body unsent.
    assert wait_for(lambda: staging_files(settings) == []), staging_files(settings)
    assert_nothing_stored(alice, settings)
    assert add_files(alice, "ds_gone", [("after.txt", b"still fine")]).status_code == 200


def test_the_caller_is_authenticated_before_the_body_is_read(
    server: LiveServer, settings: Settings
) -> None:
    head = (
        f"POST /api/v1/add HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {1024 * MiB}\r\n\r\n"
    ).encode()
    body = iter([part("datasetName", b"ds_anon") + file_head("anon.pdf") + PDF_HEADER])
    response = response_head(server.port, head, body)
    assert response.startswith(b"HTTP/1.1 401 "), response[:200]
    assert staging_files(settings) == []
    assert stored_objects(settings) == []


# --- malformed bodies ----------------------------------------------------------------------------

OK_FILE = part("data", b"some text", file_name="a.txt")
MALFORMED: list[tuple[str, bytes, dict[str, str], dict[str, Any]]] = [
    (
        "no boundary",
        multipart(part("datasetName", b"ds_bad"), OK_FILE),
        {"Content-Type": "multipart/form-data"},
        {"detail": "Missing boundary in multipart."},
    ),
    (
        "not multipart",
        b"this is not multipart at all",
        MULTIPART_HEADERS,
        {"detail": "Invalid multipart data."},
    ),
    (
        "part without a name",
        multipart(part("datasetName", b"ds_bad"), OK_FILE).replace(
            b'form-data; name="datasetName"', b"form-data"
        ),
        MULTIPART_HEADERS,
        {"detail": 'The Content-Disposition header field "name" must be provided.'},
    ),
    (
        "body ends inside a file",
        part("datasetName", b"ds_bad") + file_head("cut.txt") + b"cut short",
        MULTIPART_HEADERS,
        {"detail": "Invalid multipart data."},
    ),
    (
        "field over the size limit",
        multipart(part("datasetName", b"ds_bad"), part("labels", b"a" * (MAX_FIELD_BYTES + 1))),
        MULTIPART_HEADERS,
        {"detail": "Part exceeded maximum size of 1024KB."},
    ),
    (
        "fields over the total limit",
        multipart(
            part("datasetName", b"ds_bad"),
            *(part("node_set", b"n" * MAX_FIELD_BYTES) for _ in range(MAX_FIELDS_BYTES // MiB)),
            OK_FILE,
        ),
        MULTIPART_HEADERS,
        {"detail": "Form fields exceeded maximum total size of 4096KB."},
    ),
    (
        "too many fields",
        multipart(part("datasetName", b"ds_bad"), *(part("x", b"v") for _ in range(1000))),
        MULTIPART_HEADERS,
        {"detail": "Too many fields. Maximum number of fields is 1000."},
    ),
    (
        "too many files",
        multipart(
            part("datasetName", b"ds_bad"),
            *(part("data", f"file {i}".encode(), file_name=f"f{i}.txt") for i in range(1001)),
        ),
        MULTIPART_HEADERS,
        {"detail": "Too many files. Maximum number of files is 1000."},
    ),
]


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
def test_malformed_bodies_are_400_and_store_nothing(
    alice: Api, settings: Settings, body: bytes, headers: dict[str, str], expected: Any
) -> None:
    r = alice.post("/api/v1/add", content=body, headers=headers)
    assert r.status_code == 400, r.text
    assert r.json() == expected
    assert_nothing_stored(alice, settings)


def test_field_errors_are_reported_together_as_fastapi_did(alice: Api, settings: Settings) -> None:
    body = multipart(
        part("data", b"a text, not a file"),
        part("datasetName", b"x" * 256),
        part("datasetId", b"y" * 65),
        part("labels", b"labels sent as a file", file_name="labels.txt"),
        part("run_in_background", b"perhaps"),
    )
    r = alice.post("/api/v1/add", content=body, headers=MULTIPART_HEADERS)
    assert r.status_code == 400
    assert r.json() == {
        "detail": [
            {
                "type": "value_error",
                "loc": ["body", "data", 0],
                "msg": "Value error, Expected UploadFile, received: <class 'str'>",
                "input": "a text, not a file",
            },
            {
                "type": "string_too_long",
                "loc": ["body", "datasetName"],
                "msg": "String should have at most 255 characters",
                "input": "x" * 256,
            },
            {
                "type": "string_too_long",
                "loc": ["body", "datasetId"],
                "msg": "String should have at most 64 characters",
                "input": "y" * 65,
            },
            {
                "type": "string_type",
                "loc": ["body", "labels"],
                "msg": "Input should be a valid string",
                "input": {"file_name": "labels.txt"},
            },
            {
                "type": "bool_parsing",
                "loc": ["body", "run_in_background"],
                "msg": "Input should be a valid boolean, unable to interpret input",
                "input": "perhaps",
            },
        ],
        "body": None,
    }
    assert_nothing_stored(alice, settings)


def test_form_values_follow_fastapis_rules(alice: Api) -> None:
    """The last value of a field counts, an empty value is none, field values may be
    latin-1, and a body of another type is an empty form."""
    body = multipart(
        part("datasetName", b"ignored"),
        part("datasetName", "ds_caf\xe9".encode("latin-1")),
        part("run_in_background", b""),
        part("node_set", b""),
        OK_FILE,
    )
    r = alice.post("/api/v1/add", content=body, headers=MULTIPART_HEADERS)
    assert r.status_code == 200, r.text
    assert r.json()["dataset_name"] == "ds_caf\xe9"
    assert r.json()["status"] == "PipelineRunCompleted"
    items = alice.get(f"/api/v1/datasets/{r.json()['dataset_id']}/data").json()
    assert items[0]["externalMetadata"] == {}
    urlencoded = alice.post("/api/v1/add", data={"datasetName": "ds_x", "run_in_background": "1"})
    assert urlencoded.json()["error"].startswith("No files were uploaded")
    as_json = alice.post("/api/v1/add", json={"datasetName": "ds_x"})
    assert as_json.json()["error"] == "Either datasetId or datasetName must be provided."


def test_concurrent_streamed_uploads_keep_their_bytes_apart(alice: Api, settings: Settings) -> None:
    contents = [pdf(3 * MiB + i * 4099, bytes([i + 1])) for i in range(4)]
    downloaded: dict[int, bytes] = {}

    def upload(i: int) -> None:
        body = add_files(alice, f"ds_c{i}", [(f"c{i}.pdf", contents[i])]).json()
        [entry] = body["data_ingestion_info"]
        url = f"/api/v1/datasets/{body['dataset_id']}/data/{entry['data_id']}/raw"
        downloaded[i] = alice.get(url).content

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(len(contents))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert [downloaded.get(i) for i in range(len(contents))] == contents
    assert staging_files(settings) == []


def test_the_openapi_schema_documents_the_form() -> None:
    with warnings.catch_warnings():
        # GET and HEAD of /raw share an operation id, which FastAPI warns about.
        warnings.filterwarnings("ignore", "Duplicate Operation ID", UserWarning)
        openapi = create_app(Settings(_env_file=None)).openapi()
    operation = openapi["paths"]["/api/v1/add"]["post"]
    schema = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert list(schema["properties"]) == [
        "data",
        "datasetName",
        "datasetId",
        "node_set",
        "labels",
        "external_metadata",
        "run_in_background",
    ]
    files = schema["properties"]["data"]["anyOf"][0]
    assert files == {
        "type": "array",
        "items": {"type": "string", "contentMediaType": "application/octet-stream"},
    }
    assert schema["properties"]["datasetName"]["anyOf"][0] == {"type": "string", "maxLength": 255}
