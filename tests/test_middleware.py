"""The request body limit: non-multipart bodies are small, refused while they stream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

from tests.conftest import LiveServer
from tests.support import Api, add_files, response_head, sign_up

MiB = 1024 * 1024
MESSAGE = f"Request body exceeds the limit of {MiB} bytes (GRAPHMILL_MAX_REQUEST_BYTES)."


def test_an_oversized_json_body_is_413_by_its_declared_length(anon: httpx.Client) -> None:
    # Issue 9, defect 1: a 400 MiB password was read whole before the 400.
    body = {"email": "big@example.com", "password": "x" * (MiB + 1)}
    r = anon.post("/api/v1/auth/register", json=body)
    assert (r.status_code, r.json()) == (413, {"detail": MESSAGE})
    r = anon.post("/api/v1/auth/login", data={"username": "a@b.c", "password": "x" * (MiB + 1)})
    assert (r.status_code, r.json()) == (413, {"detail": MESSAGE})
    # Under the limit, the same route reads the body and answers as usual.
    body = {"email": "fine@example.com", "password": "x" * (MiB // 2)}
    r = anon.post("/api/v1/auth/register", json=body)
    assert r.status_code in (201, 400), r.text


def test_an_oversized_streamed_body_is_refused_before_it_ends(server: LiveServer) -> None:
    head = (
        b"POST /api/v1/auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )

    def chunks() -> Iterator[bytes]:
        piece = b"x" * 65536
        yield b'5\r\n{"a":\r\n'
        for _ in range(MiB // len(piece) + 2):
            yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        # ... and the body never ends.

    response = response_head(server.port, head, chunks())
    assert response.startswith(b"HTTP/1.1 413 "), response[:200]


def test_a_declared_length_far_over_the_limit_is_refused_before_the_body(
    server: LiveServer,
) -> None:
    head = (
        b"PUT /api/v1/datasets/00000000-0000-0000-0000-000000000000/schema HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {400 * MiB}\r\n\r\n".encode()
    )
    response = response_head(server.port, head, iter([b'{"graph_schema": ']))
    assert response.startswith(b"HTTP/1.1 413 "), response[:200]


def test_multipart_other_than_add_gets_the_small_limit(alice: Api) -> None:
    r = alice.post(
        "/api/v1/cognify",
        files=[("data", ("big.txt", b"x" * (MiB + 1), "text/plain"))],
    )
    assert (r.status_code, r.json()) == (413, {"detail": MESSAGE})


def test_only_a_multipart_add_is_exempt(alice: Api) -> None:
    r = alice.post(
        "/api/v1/add",
        content=b"datasetName=ds&labels=" + b"a" * MiB,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (r.status_code, r.json()) == (413, {"detail": MESSAGE})


def test_a_multipart_add_keeps_the_upload_limit(alice: Api) -> None:
    r = add_files(alice, "ds_big", [("big.txt", b"word " * (3 * MiB // 5))])
    assert r.status_code == 200, r.text


def test_the_request_limit_is_configurable(settings_factory: Any) -> None:
    with LiveServer(settings_factory(max_request_bytes=4 * MiB)) as live:
        api = sign_up(live.base_url)
        try:
            schema = {"type": "object", "description": "d" * (2 * MiB)}
            dataset_id = add_files(api, "ds", [("a.txt", b"a")]).json()["dataset_id"]
            r = api.put(
                f"/api/v1/datasets/{dataset_id}/schema",
                content=json.dumps({"graph_schema": schema}),
                headers={"Content-Type": "application/json"},
            )
            assert r.status_code != 413, r.text
            r = api.post("/api/v1/cognify", json={"datasets": ["x" * (5 * MiB)]})
            assert r.status_code == 413
            assert "4194304 bytes" in r.json()["detail"]
        finally:
            api.close()
