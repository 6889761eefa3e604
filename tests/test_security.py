"""Security, tried as an attacker would, through HTTP: tampered tokens, revoked keys, login
brute force (per account and per address, across processes), injection strings and control
characters, oversized heads, HTML served back, CORS."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest
from sqlalchemy import select

from graphmill.config import Settings
from graphmill.db import Database
from graphmill.db.models import LoginAttempt
from tests.conftest import LiveServer
from tests.support import Api, ServerProcess, add_files, settings_env, sign_up

AUDIENCE = ["fastapi-users:auth"]
PASSWORD = "correct horse"


def login(base_url: str, email: str, password: str = PASSWORD) -> httpx.Response:
    return httpx.post(
        f"{base_url}/api/v1/auth/login",
        data={"username": email, "password": password},
        timeout=60,
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- JWT tampering ---------------------------------------------------------------------------

PROTECTED = [
    ("GET", "/api/v1/auth/me"),
    ("GET", "/api/v1/datasets"),
    ("GET", "/api/v1/datasets/status"),
    ("GET", "/api/v1/search"),
    ("GET", "/api/v1/auth/api-keys"),
]


def tampered_tokens(token: str, user_id: str, other_id: str, secret: str) -> dict[str, str]:
    header, payload, signature = token.split(".")
    claims = json.loads(unb64(payload))
    now = int(time.time())

    def resigned_payload(**changes: Any) -> str:
        return b64(json.dumps(claims | changes).encode())

    def unsigned(alg: str) -> str:
        head = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
        return f"{head}.{payload}."

    none_header = b64(b'{"alg":"none"}')
    return {
        "alg none": unsigned("none"),
        "alg None": unsigned("None"),
        "alg NONE": unsigned("NONE"),
        "alg none with the old signature": f"{none_header}.{payload}.{signature}",
        "signature stripped": f"{header}.{payload}.",
        "subject swapped": f"{header}.{resigned_payload(sub=other_id)}.{signature}",
        "expiry extended": f"{header}.{resigned_payload(exp=now + 10**8)}.{signature}",
        "wrong key": jwt.encode(
            {"sub": user_id, "aud": AUDIENCE, "exp": now + 600}, "x" * 32, algorithm="HS256"
        ),
        "expired": jwt.encode(
            {"sub": user_id, "aud": AUDIENCE, "exp": now - 1}, secret, algorithm="HS256"
        ),
        "no expiry": jwt.encode({"sub": user_id, "aud": AUDIENCE}, secret, algorithm="HS256"),
        "wrong audience": jwt.encode(
            {"sub": user_id, "aud": ["other"], "exp": now + 600}, secret, algorithm="HS256"
        ),
        "not a uuid subject": jwt.encode(
            {"sub": "' OR 1=1 --", "aud": AUDIENCE, "exp": now + 600}, secret, algorithm="HS256"
        ),
        "HS512 with the right key": jwt.encode(
            {"sub": user_id, "aud": AUDIENCE, "exp": now + 600}, secret, algorithm="HS512"
        ),
        "garbage": "not.a.token",
        "empty parts": "..",
        "huge": "a" * 50_000,
    }


def test_tampered_tokens_are_401_everywhere_and_the_real_one_still_works(
    server: LiveServer, alice: Api, bob: Api
) -> None:
    secret = (server.settings.data_dir / "jwt_secret").read_text().strip()
    token = alice.headers["Authorization"].removeprefix("Bearer ")
    assert alice.user_id is not None and bob.user_id is not None
    cases = tampered_tokens(token, alice.user_id, bob.user_id, secret)
    with httpx.Client(base_url=server.base_url, timeout=60) as c:
        for name, bad in cases.items():
            for method, path in PROTECTED:
                for as_cookie in (False, True):
                    c.cookies.clear()
                    headers = {} if as_cookie else {"Authorization": f"Bearer {bad}"}
                    if as_cookie:
                        c.cookies.set("auth_token", bad)
                    r = c.request(method, path, headers=headers)
                    assert r.status_code == 401, (name, path, r.text)
                    assert r.json() == {"detail": "Unauthorized"}, name
    assert alice.get("/api/v1/auth/me").json() == {"email": alice.email}


# --- revoked API keys ------------------------------------------------------------------------


def test_a_revoked_api_key_is_refused_on_every_route_at_once(alice: Api) -> None:
    created = alice.post("/api/v1/auth/api-keys", json={"name": "ci"}).json()
    key = {"X-Api-Key": created["key"]}
    dataset = alice.post("/api/v1/datasets", json={"name": "keyed"}).json()["id"]
    assert alice.get("/api/v1/datasets", headers=key).status_code == 200
    # Revoked through another credential, then tried at once (no cache keeps it alive).
    assert alice.delete(f"/api/v1/auth/api-keys/{created['id']}").status_code == 200
    with httpx.Client(base_url=str(alice.base_url), timeout=60, headers=key) as c:
        for method, path in [
            *PROTECTED,
            ("GET", f"/api/v1/datasets/{dataset}/data"),
            ("GET", f"/api/v1/datasets/{dataset}/events"),
            ("POST", "/api/v1/auth/api-keys"),
        ]:
            r = c.request(method, path, json={} if method == "POST" else None)
            assert (r.status_code, r.json()) == (401, {"detail": "Unauthorized"}), path
        added = add_files(c, "keyed", [("a.txt", b"after revocation")])
        assert added.status_code == 401
    assert alice.get(f"/api/v1/datasets/{dataset}/data").json() == []


# --- login brute force -----------------------------------------------------------------------


def limited(settings_factory: Any, **limits: Any) -> Settings:
    values = {
        "login_attempts_per_account": 3,
        "login_attempts_per_address": 1000,
        "login_window_seconds": 600,
    }
    settings: Settings = settings_factory(**(values | limits))
    return settings


def assert_throttled(r: httpx.Response, window: float) -> None:
    assert r.status_code == 429, r.text
    assert r.json() == {"detail": "Too many login attempts; try again later."}
    assert 0 < int(r.headers["Retry-After"]) <= window


def test_an_account_is_locked_after_its_failed_logins_even_for_the_right_password(
    settings_factory: Any,
) -> None:
    with LiveServer(limited(settings_factory)) as live:
        victim, other = sign_up(live.base_url), sign_up(live.base_url)
        assert victim.email and other.email
        for _ in range(3):
            assert login(live.base_url, victim.email, "guess").status_code == 400
        assert_throttled(login(live.base_url, victim.email, "guess"), 600)
        assert_throttled(login(live.base_url, victim.email.upper()), 600)
        # The lock is the account's: another account from the same address logs in.
        assert login(live.base_url, other.email).status_code == 200
        # An unknown email is counted the same: the limit does not reveal who exists.
        ghost = f"ghost-{uuid.uuid4().hex[:6]}@example.com"
        codes = [login(live.base_url, ghost, "guess").status_code for _ in range(4)]
        assert codes == [400, 400, 400, 429]
        victim.close()
        other.close()


def test_a_successful_login_clears_the_account_count(settings_factory: Any) -> None:
    with LiveServer(limited(settings_factory)) as live:
        user = sign_up(live.base_url)
        assert user.email
        for _ in range(2):
            assert login(live.base_url, user.email, "guess").status_code == 400
        assert login(live.base_url, user.email).status_code == 200
        for _ in range(3):
            assert login(live.base_url, user.email, "guess").status_code == 400
        assert login(live.base_url, user.email).status_code == 429
        user.close()


def test_an_address_is_limited_whatever_the_accounts_it_tries(settings_factory: Any) -> None:
    settings = limited(
        settings_factory, login_attempts_per_account=1000, login_attempts_per_address=5
    )
    with LiveServer(settings) as live:
        user = sign_up(live.base_url)  # one successful login: not counted
        assert user.email
        for n in range(5):
            assert login(live.base_url, f"spray-{n}@example.com", "guess").status_code == 400
        assert_throttled(login(live.base_url, "spray-9@example.com", "guess"), 600)
        assert_throttled(login(live.base_url, user.email), 600)
        user.close()


def test_the_window_ends_the_lock(settings_factory: Any) -> None:
    settings = limited(settings_factory)
    with LiveServer(settings) as live:
        user = sign_up(live.base_url)
        assert user.email
        for _ in range(3):
            login(live.base_url, user.email, "guess")
        assert_throttled(login(live.base_url, user.email), 600)
        asyncio.run(age_login_windows(settings, seconds=601))
        assert login(live.base_url, user.email).status_code == 200
        user.close()


async def age_login_windows(settings: Settings, seconds: float) -> None:
    """Move every login window `seconds` into the past, as if that much time went by."""
    db = Database(settings.sqlalchemy_url)
    async with db.write() as session:
        rows = (await session.scalars(select(LoginAttempt))).all()
        assert rows
        for row in rows:
            row.window_started_at -= timedelta(seconds=seconds)
    await db.dispose()


@pytest.fixture
def two_processes(settings_factory: Any) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    settings = limited(settings_factory, login_attempts_per_account=4)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    env = settings_env(settings) | {"FASTAPI_USERS_JWT_SECRET": "s" * 32}
    first, second = ServerProcess(env).start(), ServerProcess(env).start()
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


def test_the_limit_holds_across_api_processes_sharing_the_store(
    two_processes: tuple[ServerProcess, ServerProcess],
) -> None:
    first, second = two_processes
    user = sign_up(first.base_url)
    assert user.email
    codes = [
        login(server.base_url, user.email, "guess").status_code
        for server in (first, second, first, second, first, second)
    ]
    assert codes == [400, 400, 400, 400, 429, 429]
    assert login(second.base_url, user.email).status_code == 429
    user.close()


# --- injection strings and control characters ------------------------------------------------

HOSTILE = [
    "' OR '1'='1",
    "'; DROP TABLE users; --",
    '" OR ""="',
    "1; SELECT pg_sleep(5) --",
    "%' UNION SELECT email, hashed_password FROM users --",
    "\\'; DELETE FROM datasets; --",
    "name\x00with-nul",
    "\x01\x02\x1b[31m\x7f",
    "line\r\nX-Injected: yes",
    "\u202eevil\u200b",
    "../../etc/passwd",
    "a" * 5000,
]


JSON = {"Content-Type": "application/json"}


def _state(api: Api) -> Any:
    datasets = api.get("/api/v1/datasets").json()
    return sorted((d["name"], d["id"]) for d in datasets)


def test_hostile_strings_in_every_string_parameter_change_nothing_and_never_500(
    alice: Api, bob: Api
) -> None:
    added = add_files(alice, "kept", [("kept.txt", b"Marta Lindqvist founded Velden.")])
    assert added.status_code == 200, added.text
    dataset_id = added.json()["dataset_id"]
    before = (_state(alice), _state(bob), alice.get(f"/api/v1/datasets/{dataset_id}/data").json())
    seen: set[int] = set()
    for value in HOSTILE:
        raw = b'{"query": "' + value.encode()[:50].replace(b'"', b"") + b'\xff\xfe"}'
        requests: list[tuple[str, str, dict[str, Any]]] = [
            ("POST", "/api/v1/auth/login", {"data": {"username": value, "password": value}}),
            ("POST", "/api/v1/users/get-user-id", {"json": {"email": value}}),
            ("POST", "/api/v1/search", {"json": {"query": value, "datasets": [value]}}),
            ("POST", "/api/v1/search", {"json": {"query": value, "nodeName": [value]}}),
            ("POST", "/api/v1/search", {"content": raw, "headers": JSON}),
            ("POST", "/api/v1/datasets", {"content": raw, "headers": JSON}),
            ("GET", "/api/v1/datasets/status", {"params": {"dataset": value}}),
            ("GET", "/api/v1/datasets/status", {"params": {"pipeline": value}}),
            ("GET", f"/api/v1/datasets/{quote(value, safe='')}/data", {}),
            ("GET", f"/api/v1/runs/{quote(value, safe='')}", {}),
            ("POST", "/api/v1/cognify", {"json": {"datasets": [value]}}),
            (
                "POST",
                f"/api/v1/permissions/datasets/{bob.user_id}",
                {"params": {"permission_name": value}, "json": [dataset_id]},
            ),
            (
                "PUT",
                f"/api/v1/datasets/{dataset_id}/schema",
                {"json": {"custom_prompt": value, "graph_schema": {value: [value]}}},
            ),
            ("POST", "/api/v1/auth/api-keys", {"json": {"name": value[:300]}}),
            (
                "POST",
                "/api/v1/add",
                {
                    "files": [("data", (value, b"x", "text/plain"))],
                    "data": {"datasetName": value, "labels": value},
                },
            ),
        ]
        for method, path, kwargs in requests:
            r = alice.request(method, path, **kwargs)
            seen.add(r.status_code)
            assert r.status_code < 500, (method, path, value, r.text)
            if r.status_code >= 400:
                assert isinstance(r.json(), dict), (method, path, value)
    assert seen - {200, 400, 401, 404, 409, 415} == set(), seen
    # Nothing another user owns changed; alice's own state only by what she legitimately made.
    after_bob = _state(bob)
    assert after_bob == before[1]
    assert alice.get(f"/api/v1/datasets/{dataset_id}/data").json() == before[2]
    names = {name for name, _ in _state(alice)}
    assert "kept" in names and "users" not in names
    assert login(str(alice.base_url), str(alice.email)).status_code == 200
    assert login(str(bob.base_url), str(bob.email)).status_code == 200


def test_a_nul_in_the_login_name_is_bad_credentials_not_a_driver_error(alice: Api) -> None:
    # PostgreSQL refuses NUL in text: the query used to fail with 500.
    for name in ("alice@example.com\x00", "\x00", f"{alice.email}\x00' OR 1=1 --"):
        r = login(str(alice.base_url), name)
        assert (r.status_code, r.json()) == (400, {"detail": "LOGIN_BAD_CREDENTIALS"})


def test_a_nul_anywhere_in_a_body_is_400_on_every_backend(alice: Api) -> None:
    for path, body in (
        ("/api/v1/search", {"query": "a\x00b"}),
        ("/api/v1/search", {"query": "ok", "nodeName": ["x\x00"]}),
        ("/api/v1/datasets", {"name": "n\x00"}),
        ("/api/v1/auth/api-keys", {"name": "k\x00"}),
        ("/api/v1/cognify", {"datasets": ["d"], "graphModel": {"a\x00": 1}}),
    ):
        r = alice.post(path, json=body)
        assert r.status_code == 400, (path, r.text)
        assert "NUL" in json.dumps(r.json()), path
    assert alice.get("/api/v1/search").json() == []  # nothing reached the history


# --- oversized heads -------------------------------------------------------------------------


def raw_request(port: int, head: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(head)
        received = b""
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            received += data
        return received


@pytest.fixture
def served(settings_factory: Any) -> Iterator[ServerProcess]:
    """`graphmill serve` itself: the head limit is in the server it runs."""
    settings = settings_factory(max_header_bytes=16 * 1024)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    process = ServerProcess(settings_env(settings)).start()
    yield process
    process.stop()


def test_oversized_heads_are_431_json_and_the_server_keeps_serving(served: ServerProcess) -> None:
    port = served.port
    for head in (
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-Many: b\r\n" * 3_000 + b"\r\n",
        b"GET /health?" + b"q" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        # Never finished: refused once the limit passes, not after gigabytes.
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-Endless: " + b"c" * 5_000_000,
    ):
        answer = raw_request(port, head)
        status, _, rest = answer.partition(b"\r\n")
        assert status == b"HTTP/1.1 431 Request Header Fields Too Large", answer[:200]
        assert b"content-type: application/json" in rest.lower()
        body = json.loads(rest.partition(b"\r\n\r\n")[2])
        assert "GRAPHMILL_MAX_HEADER_BYTES" in body["detail"]
    ok = raw_request(
        port,
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-Fine: "
        + b"a" * 8_000
        + b"\r\nConnection: close\r\n\r\n",
    )
    assert ok.startswith(b"HTTP/1.1 200 OK"), ok[:200]
    # A whole request read at once (a busy server reads a large upload in one go): its body
    # is not part of its head, however large.
    whole = raw_request(
        port,
        b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 40000\r\nConnection: close\r\n\r\n"
        + b"x" * 40_000,
    )
    assert whole.startswith(b"HTTP/1.1 200 OK"), whole[:200]
    # A malformed request is refused with a JSON body too.
    bad = raw_request(port, b"GET /health HTTP/1.1\r\nBad Header\r\n\r\n")
    assert bad.startswith(b"HTTP/1.1 400"), bad[:200]
    assert json.loads(bad.partition(b"\r\n\r\n")[2]) == {"detail": "Invalid HTTP request received."}


# --- HTML never served as HTML ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["page.html", "page.htm", "page.xhtml", "page.xml", "page.txt", "page.md"]
)
def test_uploads_come_back_as_attachments_that_cannot_run(alice: Api, name: str) -> None:
    markup = b"<html><body><script>alert(document.cookie)</script>hello</body></html>"
    added = add_files(alice, "web", [(name, markup)])
    assert added.status_code == 200, added.text
    dataset_id = added.json()["dataset_id"]
    (item,) = alice.get(f"/api/v1/datasets/{dataset_id}/data").json()
    r = alice.get(f"/api/v1/datasets/{dataset_id}/data/{item['id']}/raw")
    assert r.status_code == 200
    assert r.content == markup
    assert r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"] == "default-src 'none'; sandbox"


# --- CORS ------------------------------------------------------------------------------------


def preflight(base_url: str, origin: str) -> httpx.Response:
    return httpx.options(
        f"{base_url}/api/v1/datasets",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )


def test_by_default_no_other_origin_may_call_the_api(alice: Api, server: LiveServer) -> None:
    assert server.settings.cors_allowed_origins == ""
    for origin in ("http://localhost:3000", "https://evil.example", "null"):
        r = preflight(server.base_url, origin)
        assert r.status_code == 400
        assert "access-control-allow-origin" not in r.headers
        simple = alice.get("/api/v1/datasets", headers={"Origin": origin})
        assert simple.status_code == 200
        assert "access-control-allow-origin" not in simple.headers


def test_only_configured_origins_may_call_the_api(settings_factory: Any) -> None:
    settings = settings_factory(cors_allowed_origins="https://app.example, http://localhost:3000")
    with LiveServer(settings) as live:
        api = sign_up(live.base_url)
        for origin in ("https://app.example", "http://localhost:3000"):
            r = preflight(live.base_url, origin)
            assert r.status_code == 200
            assert r.headers["access-control-allow-origin"] == origin
            assert r.headers["access-control-allow-credentials"] == "true"
            simple = api.get("/api/v1/datasets", headers={"Origin": origin})
            assert simple.headers["access-control-allow-origin"] == origin
        for origin in ("https://evil.example", "https://app.example.evil.example", "null"):
            assert "access-control-allow-origin" not in preflight(live.base_url, origin).headers
            simple = api.get("/api/v1/datasets", headers={"Origin": origin})
            assert "access-control-allow-origin" not in simple.headers
        api.close()


def test_a_wildcard_origin_never_carries_credentials(settings_factory: Any) -> None:
    with LiveServer(settings_factory(cors_allowed_origins="*")) as live:
        r = preflight(live.base_url, "https://evil.example")
        assert r.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in r.headers
