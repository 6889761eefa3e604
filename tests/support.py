"""Helpers shared by tests: clients of a live server, uploads, ports."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Api(httpx.Client):
    """An HTTP client of a live server, optionally signed in as one user."""

    user_id: str | None = None
    email: str | None = None


def sign_up(base_url: str, email: str | None = None, password: str = "correct horse") -> Api:
    """Register and log in a fresh user; the client carries its Bearer token."""
    email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
    api = Api(base_url=base_url, timeout=60)
    created = api.post("/api/v1/auth/register", json={"email": email, "password": password})
    assert created.status_code == 201, created.text
    token = api.post("/api/v1/auth/login", data={"username": email, "password": password}).json()[
        "access_token"
    ]
    api.headers["Authorization"] = f"Bearer {token}"
    api.cookies.clear()
    api.user_id = created.json()["id"]
    api.email = email
    return api


def add_files(
    api: httpx.Client, dataset: str, files: list[tuple[str, bytes]], **form: Any
) -> httpx.Response:
    """POST /api/v1/add with multipart parts named `data`."""
    return api.post(
        "/api/v1/add",
        files=[("data", (name, content, "application/octet-stream")) for name, content in files],
        data={"datasetName": dataset, **form},
    )
