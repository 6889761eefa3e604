"""Helpers shared by tests: clients of a live server, uploads, ports."""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

_ROOT = Path(__file__).resolve().parent.parent


# Not the `random` module's shared generator: a test may seed it, and every test process
# would then draw the same ports.
_RANDOM = random.SystemRandom()


def free_port() -> int:
    """A local port nothing is bound to, for a server to listen on, chosen at random below
    the system's ephemeral range. Not from that range (which binding port 0 picks): the
    kernel hands its ports to every outgoing connection, and the tests make thousands, so
    one could take the port before the server binds it (seen in CI: "address already in
    use"). Other test processes choose at random among ~12,000 ports too."""
    low = _ephemeral_low()
    for _ in range(200):
        port = _RANDOM.randrange(max(1024, low - 12_000), low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port below the ephemeral range")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default; macOS and Windows use 49152 and up


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


class ServerProcess:
    """`graphmill serve` or `graphmill worker` as a real OS process, for crash tests."""

    def __init__(
        self,
        env: dict[str, str],
        command: str = "serve",
        path_first: Path | None = None,
        preexec: Callable[[], None] | None = None,
    ) -> None:
        """`path_first`: a folder put before everything on the process's import path;
        `preexec`: called in the new process before graphmill starts (CPU affinity, rights)."""
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.command = command
        python_path = [str(path_first)] if path_first is not None else []
        self.env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([*python_path, str(_ROOT)])}
        args = [sys.executable, "-m", "graphmill.cli", command]
        if command == "serve":
            args += ["--port", str(self.port)]
        self.args = args
        self.preexec = preexec
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> ServerProcess:
        self.process = subprocess.Popen(self.args, env=self.env, preexec_fn=self.preexec)
        assert self.process is not None
        if wait and self.command == "serve":
            deadline = time.monotonic() + 60
            while True:
                assert self.process.poll() is None, "graphmill exited during start-up"
                assert time.monotonic() < deadline, "graphmill did not become healthy"
                try:
                    if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def pids(self) -> list[int]:
        """The server's process and its children (the pipeline process, which executes the
        runs when the executor is local): whichever holds a run's lease is one of them."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        return [self.pid, *map(int, children)]

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, leases are left behind (the pipeline process
        dies with the server)."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


class Servers:
    """`graphmill serve` processes on one store (`servers`): all stopped when the block ends."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.started: list[ServerProcess] = []

    def start(self) -> ServerProcess:
        self.started.append(ServerProcess(self.env).start())
        return self.started[-1]

    def restart_killed(self, api: httpx.Client) -> ServerProcess:
        """kill -9 the newest process, start another, point `api` at it."""
        self.started[-1].kill()
        api.base_url = self.start().base_url  # type: ignore[assignment]
        return self.started[-1]


@contextlib.contextmanager
def servers(env: dict[str, str]) -> Iterator[Servers]:
    running = Servers(env)
    try:
        yield running
    finally:
        for process in running.started:
            process.stop()


def cognify_in_background(api: httpx.Client, dataset_id: str) -> str:
    """Start cognify of one dataset without waiting; its run id."""
    r = api.post("/api/v1/cognify", json={"datasetIds": [dataset_id], "runInBackground": True})
    assert r.status_code == 200, r.text
    return str(r.json()[dataset_id]["pipeline_run_id"])


def wait_run_final(api: httpx.Client, run_id: str, timeout: float = 30) -> dict[str, Any]:
    """The run, once it is in a final state (not queued or running)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = dict(api.get(f"/api/v1/runs/{run_id}").json())
        if run["state"] not in ("queued", "running"):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish: {run}")


def settings_env(settings: Any) -> dict[str, str]:
    """Environment variables that reproduce a Settings object in another process."""
    env: dict[str, str] = {}
    for name, field in type(settings).model_fields.items():
        value = getattr(settings, name)
        if value is None:
            continue
        env[field.validation_alias.choices[0]] = (
            str(value).lower() if isinstance(value, bool) else str(value)
        )
    return env


def response_head(port: int, head: bytes, body: Iterator[bytes]) -> bytes:
    """Send a request head and part of a body, never finishing it; return the response head.

    A server that waited for the whole body would never answer and the read would time out.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        try:
            for chunk in body:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: the response is still readable
        received = b""
        while b"\r\n\r\n" not in received:
            data = sock.recv(65536)
            if not data:
                break
            received += data
        return received


PERMISSIONS = "/api/v1/permissions"


def grant(
    api: httpx.Client, principal: str | None, permission: str, dataset_ids: list[str]
) -> httpx.Response:
    """POST /permissions/datasets/{principal}: a user, a role or a tenant."""
    return api.post(
        f"{PERMISSIONS}/datasets/{principal}",
        params={"permission_name": permission},
        json=dataset_ids,
    )


def revoke(
    api: httpx.Client, principal: str | None, permission: str, dataset_ids: list[str]
) -> httpx.Response:
    return api.request(
        "DELETE",
        f"{PERMISSIONS}/datasets/{principal}",
        params={"permission_name": permission},
        json=dataset_ids,
    )


def new_tenant(api: httpx.Client, name: str) -> str:
    """A tenant the caller owns (and now works in)."""
    r = api.post(f"{PERMISSIONS}/tenants", params={"tenant_name": name})
    assert r.status_code == 200, r.text
    assert r.json()["message"] == "Tenant created."
    return str(r.json()["tenant_id"])


def join_tenant(owner: httpx.Client, member: Api, tenant: str) -> None:
    r = owner.post(f"{PERMISSIONS}/users/{member.user_id}/tenants", params={"tenant_id": tenant})
    assert r.status_code == 200, r.text
    assert r.json() == {"message": "User added to tenant"}


def select_tenant(api: httpx.Client, tenant: str | None) -> httpx.Response:
    return api.post(f"{PERMISSIONS}/tenants/select", json={"tenant_id": tenant})


def new_role(api: httpx.Client, name: str) -> str:
    """A role in the tenant the caller works in."""
    r = api.post(f"{PERMISSIONS}/roles", params={"role_name": name})
    assert r.status_code == 200, r.text
    return str(r.json()["role_id"])
