"""The OpenAI-compatible client against real HTTP servers: the status table, timeouts,
unreachable hosts, Retry-After, usage counting, and one connection pool per event loop."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, ClassVar

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from graphmill.cognify.client import Endpoint, Refused
from graphmill.cognify.ratelimit import RateLimiter, retry_after_seconds
from graphmill.cognify.types import LLMUsage
from graphmill.errors import StepFailed, TransientError
from tests.support import free_port

if TYPE_CHECKING:
    from tests.fake_openai import FakeOpenAI

# The shared fake OpenAI server and its fixtures (see tests/test_llm.py for why a plugin).

CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "Alice met Bob."}]}


def call(endpoint: Endpoint, path: str = "/chat/completions", **options: Any) -> Any:
    """One POST in a fresh event loop, closing the loop's pool after it."""

    async def main() -> Any:
        try:
            return await endpoint.post(path, options.pop("body", CHAT), 10, **options)
        finally:
            await endpoint.aclose()

    return asyncio.run(main())


def endpoint_for(fake: FakeOpenAI, kind: str = "llm", **options: Any) -> Endpoint:
    return Endpoint(
        kind,
        fake.base_url,
        options.pop("api_key", fake.api_key),
        options.pop("limiter", None) or RateLimiter(),
        options.pop("timeout_seconds", 10.0),
    )


def test_answer_json_with_key_and_body(fake_llm: FakeOpenAI) -> None:
    answer = call(endpoint_for(fake_llm))
    assert answer["object"] == "chat.completion"
    assert fake_llm.chat_bodies == [CHAT]  # the JSON body as sent, the Bearer key accepted


# --- the status table ----------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_transient_statuses(fake_llm: FakeOpenAI, status: int) -> None:
    fake_llm.configure(fail_always=status)
    with pytest.raises(TransientError, match=f"LLM endpoint answered {status}: Simulated"):
        call(endpoint_for(fake_llm))
    assert len(fake_llm.requests) == 1  # never retried here


@pytest.mark.parametrize(
    ("kind", "status", "error_class", "hint"),
    [
        ("llm", 401, "llm_auth", "check LLM_API_KEY"),
        ("llm", 403, "llm_auth", "check LLM_API_KEY"),
        ("embedding", 401, "embedding_auth", "check EMBEDDING_API_KEY"),
        ("llm", 402, "llm_payment_required", "Simulated 402"),
        ("llm", 404, "llm_error", "check LLM_ENDPOINT"),
        ("embedding", 404, "embedding_error", "and EMBEDDING_MODEL"),
        ("llm", 400, "llm_error", "Simulated 400"),
        ("llm", 422, "llm_error", "Simulated 422"),
    ],
)
def test_refusals_fail_the_step(
    fake_llm: FakeOpenAI, kind: str, status: int, error_class: str, hint: str
) -> None:
    fake_llm.configure(fail_always=status)
    path = "/embeddings" if kind == "embedding" else "/chat/completions"
    with pytest.raises(StepFailed, match=hint) as failed:
        call(endpoint_for(fake_llm, kind), path)
    assert failed.value.error_class == error_class


def test_exhausted_quota_is_a_payment_failure_not_a_pause(fake_llm: FakeOpenAI) -> None:
    fake_llm.configure(fail_always=429, fail_code="insufficient_quota", retry_after="30")
    limiter = RateLimiter()
    with pytest.raises(StepFailed) as failed:
        call(endpoint_for(fake_llm, limiter=limiter))
    assert failed.value.error_class == "llm_payment_required"
    assert limiter.paused_for == 0


@pytest.mark.parametrize("status", [400, 422])
def test_refusable_answers_raise_refused(fake_llm: FakeOpenAI, status: int) -> None:
    fake_llm.configure(fail_always=status)
    with pytest.raises(Refused) as refused:
        call(endpoint_for(fake_llm), refusable=True)
    assert refused.value.status == status
    assert str(refused.value) == f"Simulated {status}."
    assert '"invalid_request_error"' in refused.value.text  # the raw body, for the caller


def test_wrong_key_is_auth_and_the_key_stays_out_of_the_message(fake_llm: FakeOpenAI) -> None:
    with pytest.raises(StepFailed) as failed:
        call(endpoint_for(fake_llm, api_key="sk-wrong"))
    assert failed.value.error_class == "llm_auth"
    assert "sk-wrong" not in str(failed.value)


# --- transport failures --------------------------------------------------------------------


def test_timeout_is_transient_and_frees_the_limiter(fake_llm: FakeOpenAI) -> None:
    fake_llm.configure(latency=2.0)
    limiter = RateLimiter(concurrency=1)
    started = time.monotonic()
    with pytest.raises(TransientError, match=r"LLM call to .* timed out after 0\.3 s"):
        call(endpoint_for(fake_llm, limiter=limiter, timeout_seconds=0.3))
    assert time.monotonic() - started < 1.5
    fake_llm.configure(latency=0.0)
    assert call(endpoint_for(fake_llm, limiter=limiter))["choices"]  # its slot was released


def test_refused_connection_is_unreachable() -> None:
    endpoint = Endpoint("llm", f"http://127.0.0.1:{free_port()}/v1", None, RateLimiter(), 10)
    with pytest.raises(TransientError, match=r"LLM endpoint http://127\.0\.0\.1:\d+/v1 unreach"):
        call(endpoint)


def test_unknown_host_is_unreachable() -> None:
    # .invalid never resolves (RFC 6761).
    endpoint = Endpoint("embedding", "http://graphmill.invalid/v1", None, RateLimiter(), 10)
    with pytest.raises(TransientError, match=r"embedding endpoint .* unreachable"):
        call(endpoint, "/embeddings")


@pytest.fixture
def hang_up_server() -> Iterator[str]:
    """A server that reads each request and closes the connection without answering."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    stop.set()
    thread.join(timeout=10)
    listener.close()


def test_dropped_connection_is_unreachable(hang_up_server: str) -> None:
    endpoint = Endpoint("llm", hang_up_server, None, RateLimiter(), 10)
    with pytest.raises(TransientError, match="unreachable: ServerDisconnectedError"):
        call(endpoint)


# --- Retry-After and usage -----------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_pauses_the_shared_limiter(fake_llm: FakeOpenAI, status: int) -> None:
    fake_llm.configure(fail_next=[status], retry_after="2")
    limiter = RateLimiter()
    with pytest.raises(TransientError):
        call(endpoint_for(fake_llm, limiter=limiter))
    assert 1.0 < limiter.paused_for <= 2.0


def test_retry_after_ms_from_a_rate_limited_server(fake_llm: FakeOpenAI) -> None:
    fake_llm.configure(rate_limit=1, window=1.0)
    limiter = RateLimiter()
    endpoint = endpoint_for(fake_llm, limiter=limiter)
    call(endpoint)
    with pytest.raises(TransientError, match="429"):
        call(endpoint)
    assert 0.3 < limiter.paused_for <= 1.0  # retry-after-ms, finer than retry-after's 1 s


def test_retry_after_header_names_match_in_any_case() -> None:
    aiohttp_headers = CIMultiDictProxy(CIMultiDict({"Retry-After": "3"}))
    for headers in ({"Retry-After": "3"}, {"RETRY-AFTER": "3"}, aiohttp_headers):
        assert retry_after_seconds(headers) == 3
    assert retry_after_seconds({"Retry-After-Ms": "1500", "Retry-After": "9"}) == 1.5


def test_usage_counts_every_answer(fake_llm: FakeOpenAI) -> None:
    usage = LLMUsage()
    endpoint = endpoint_for(fake_llm)
    call(endpoint, usage=usage)
    assert usage.calls == 1 and usage.tokens_in > 0 and usage.tokens_out > 0
    counted = (usage.tokens_in, usage.tokens_out)
    fake_llm.configure(fail_always=500)
    with pytest.raises(TransientError):
        call(endpoint, usage=usage)
    assert usage.calls == 2  # an error answer is a call, with no tokens
    assert (usage.tokens_in, usage.tokens_out) == counted


def test_unlimited_limiter_keeps_no_window_but_honours_pauses_and_concurrency() -> None:
    limiter = RateLimiter(concurrency=1)
    in_flight, most = 0, 0

    async def one() -> None:
        nonlocal in_flight, most
        async with limiter.reserve(10):
            in_flight += 1
            most = max(most, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1

    async def main() -> float:
        await asyncio.gather(*(one() for _ in range(5)))
        limiter.pause(0.3)
        started = time.monotonic()
        await one()
        return time.monotonic() - started

    assert asyncio.run(main()) >= 0.25
    assert most == 1
    assert not limiter._slots  # admitting a call costs the same however many came before


# --- one pool per event loop ---------------------------------------------------------------


class _KeepAlive(BaseHTTPRequestHandler):
    """Answers `{}` over HTTP/1.1 keep-alive and records each connection's client port."""

    protocol_version = "HTTP/1.1"
    ports: ClassVar[set[int]]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.ports.add(self.client_address[1])
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def keep_alive_server() -> Iterator[tuple[str, set[int]]]:
    ports: set[int] = set()
    handler = type("Handler", (_KeepAlive,), {"ports": ports})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", ports
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_one_pool_per_loop_and_loops_one_after_the_other(
    keep_alive_server: tuple[str, set[int]], caplog: pytest.LogCaptureFixture
) -> None:
    base_url, ports = keep_alive_server
    endpoint = Endpoint("llm", base_url, None, RateLimiter(), 10)

    async def three_calls(endpoint: Endpoint, close: bool) -> None:
        for _ in range(3):
            assert await endpoint.post("/chat/completions", CHAT, 10) == {}
        if close:
            await endpoint.aclose()

    asyncio.run(three_calls(endpoint, close=True))
    assert len(ports) == 1  # the loop's calls shared one kept-alive connection
    asyncio.run(three_calls(endpoint, close=False))  # this loop ends without closing ...
    asyncio.run(three_calls(endpoint, close=True))  # ... and the next loop forgets its pool
    assert len(ports) == 3  # each loop had its own pool
    del endpoint
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        gc.collect()  # an unclosed aiohttp session would say so here
    assert "Unclosed" not in caplog.text
