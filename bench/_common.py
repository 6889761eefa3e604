"""Shared helpers of the HTTP benchmarks: sign-in, statistics, streamed multipart bodies.

Every benchmark speaks plain HTTP to `--base-url`, so the same workload runs against
graphmill, cognee or any server that follows cognee's REST contract.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import math
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

MIB = 1024 * 1024


def base_parser(description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="server to measure")
    parser.add_argument(
        "--token", help="Bearer token to use instead of registering and logging in a new user"
    )
    parser.add_argument("--email", help="user to register/log in (default: a fresh random one)")
    parser.add_argument("--password", default="bench-password-123", help="password of that user")
    parser.add_argument("--timeout", type=float, default=600.0, help="HTTP timeout in seconds")
    parser.add_argument(
        "--pid",
        type=int,
        help="PID of the server process on this machine: also report its CPU time, which "
        "other load on the machine disturbs much less than wall-clock latency",
    )
    return parser


def client(args: argparse.Namespace) -> httpx.Client:
    """A keep-alive client signed in as the benchmark's own user (or with --token)."""
    api = httpx.Client(base_url=args.base_url, timeout=args.timeout)
    if args.token:
        api.headers["Authorization"] = f"Bearer {args.token}"
        return api
    email = args.email or f"bench-{uuid.uuid4().hex[:10]}@example.com"
    created = api.post("/api/v1/auth/register", json={"email": email, "password": args.password})
    if created.status_code not in (200, 201) and "ALREADY_EXISTS" not in created.text:
        raise SystemExit(f"register failed: {created.status_code} {created.text}")
    login = api.post("/api/v1/auth/login", data={"username": email, "password": args.password})
    if login.status_code != 200:
        raise SystemExit(f"login failed: {login.status_code} {login.text}")
    api.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
    api.cookies.clear()  # the Bearer token alone authenticates
    return api


def check(response: httpx.Response, *expected: int) -> httpx.Response:
    if response.status_code not in (expected or (200,)):
        raise SystemExit(
            f"{response.request.method} {response.request.url.path} -> "
            f"{response.status_code}: {response.text[:500]}"
        )
    return response


# --- statistics -------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of already sorted values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(frozen=True)
class Dist:
    n: int
    p50: float
    p90: float
    p99: float
    max: float
    mean: float
    min: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Dist:
        s = sorted(values)
        return cls(
            n=len(s),
            p50=percentile(s, 50),
            p90=percentile(s, 90),
            p99=percentile(s, 99),
            max=s[-1],
            mean=statistics.fmean(s),
            min=s[0],
        )

    def ms(self) -> str:
        """The distribution of durations given in seconds, shown in milliseconds."""
        return (
            f"n={self.n:<5} p50={self.p50 * 1e3:8.2f} p90={self.p90 * 1e3:8.2f} "
            f"p99={self.p99 * 1e3:8.2f} max={self.max * 1e3:8.2f} mean={self.mean * 1e3:8.2f} ms"
        )

    def plain(self, unit: str, fmt: str = "8.1f") -> str:
        return (
            f"n={self.n:<5} p50={self.p50:{fmt}} p90={self.p90:{fmt}} p99={self.p99:{fmt}} "
            f"max={self.max:{fmt}} mean={self.mean:{fmt}} min={self.min:{fmt}} {unit}"
        )


def timed(fn: Callable[[], Any], repeat: int, warmup: int = 3) -> list[float]:
    """Wall-clock durations of `repeat` calls, after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time a server (on this machine) has used so far; 0 if unknown."""
    return sum(cpu_times(pid))


def process_tree(pid: int) -> list[int]:
    """The process and its live descendants (`graphmill serve`'s pipeline process and the
    document parsers it starts)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo += [int(child) for child in (task / "children").read_text().split()]
    return found


def proc_figure(path: str, key: str) -> int:
    """The number on the `key:` line of a /proc file (status, io); 0 if unknown."""
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def status_kb(pid: int, key: str) -> int:
    """A /proc/PID/status figure in kB (VmRSS, VmHWM) summed over the process and its live
    descendants; 0 if unknown."""
    return sum(proc_figure(f"/proc/{member}/status", key) for member in process_tree(pid))


def cpu_times(pid: int | None) -> tuple[float, float]:
    """(user, system) CPU seconds a server has used so far: its process, its live descendants
    and the children they have reaped; zeros if unknown."""
    if pid is None:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    user = system = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it exited meanwhile
        user += int(fields[11]) + int(fields[13])
        system += int(fields[12]) + int(fields[14])
    return user / tick, system / tick


def written_bytes(pid: int) -> int:
    """Bytes a server has sent, or queued to send, to storage so far (`write_bytes` in
    /proc/PID/io, counted when pages are dirtied: the file system's own later write-back is
    charged to whoever dirtied them): its process and its live descendants; 0 if unknown."""
    return sum(proc_figure(f"/proc/{member}/io", "write_bytes") for member in process_tree(pid))


def header(title: str) -> None:
    print(f"\n== {title} ==", flush=True)


# --- generated content and streamed multipart bodies ----------------------------------


class Pattern:
    """Deterministic pseudo-random text of any length, produced chunk by chunk.

    The bytes are printable ASCII in lines (base64 of SHAKE-256 output), so servers that
    only accept files a text loader can read take them as `.txt`. Chunk i is a 1 MiB block
    whose first line holds i, so chunks differ, the content depends on the seed, and any
    byte range can be recomputed.
    """

    def __init__(self, size: int, seed: bytes | None = None, chunk: int = MIB) -> None:
        self.size = size
        self.chunk = chunk
        seed = seed or os.urandom(16)
        text = base64.b64encode(hashlib.shake_256(seed).digest(chunk * 3 // 4 + 3))[:chunk]
        lines = [text[i : i + 75] for i in range(0, len(text), 76)]
        self.block = b"\n".join(lines).ljust(chunk, b"\n")[:chunk]

    def _chunk(self, index: int) -> bytes:
        return f"{index:015d}\n".encode() + self.block[16:]

    def chunks(self) -> Iterator[bytes]:
        remaining = self.size
        index = 0
        while remaining > 0:
            data = self._chunk(index)
            if remaining < len(data):
                data = data[:remaining]
            remaining -= len(data)
            index += 1
            yield data

    def range(self, start: int, end: int) -> bytes:
        """Bytes start..end inclusive."""
        out = bytearray()
        pos = start
        while pos <= end:
            index, offset = divmod(pos, self.chunk)
            data = self._chunk(index)[offset : offset + (end - pos + 1)]
            out += data
            pos += len(data)
        return bytes(out)

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for data in self.chunks():
            digest.update(data)
        return digest.hexdigest()


@dataclass
class StreamedUpload:
    """A multipart/form-data body for POST /api/v1/add, produced by a generator.

    The file part streams from `chunks` and is never held in memory; the body length is
    known in advance, so the request carries Content-Length rather than chunked encoding.
    """

    file_name: str
    size: int
    chunks: Callable[[], Iterator[bytes]]
    fields: dict[str, str]
    content_type: str = "text/plain"
    boundary: str = ""
    sent_sha256: str = ""
    # Hash what is sent, for a download to be checked against (`sent_sha256`); off where
    # nothing is checked, since hashing costs the client as much CPU as the server's own.
    hash_sent: bool = True

    def __post_init__(self) -> None:
        self.boundary = self.boundary or f"bench{uuid.uuid4().hex}"

    def _head(self) -> bytes:
        parts = []
        for name, value in self.fields.items():
            parts.append(
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{value}\r\n"
            )
        parts.append(
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="data"; '
            f'filename="{self.file_name}"\r\nContent-Type: {self.content_type}\r\n\r\n'
        )
        return "".join(parts).encode()

    def _tail(self) -> bytes:
        return f"\r\n--{self.boundary}--\r\n".encode()

    def headers(self) -> dict[str, str]:
        length = len(self._head()) + self.size + len(self._tail())
        return {
            "Content-Type": f"multipart/form-data; boundary={self.boundary}",
            "Content-Length": str(length),
        }

    def body(self) -> Iterator[bytes]:
        digest = hashlib.sha256()
        sent = 0
        yield self._head()
        for data in self.chunks():
            if self.hash_sent:
                digest.update(data)
            sent += len(data)
            yield data
        if sent != self.size:
            raise RuntimeError(f"generator produced {sent} bytes, expected {self.size}")
        self.sent_sha256 = digest.hexdigest() if self.hash_sent else ""
        yield self._tail()


def upload_streamed(api: httpx.Client, upload: StreamedUpload) -> tuple[httpx.Response, float]:
    """POST /api/v1/add with a streamed body; the response and the wall-clock seconds."""
    start = time.perf_counter()
    response = api.post("/api/v1/add", content=upload.body(), headers=upload.headers())
    return check(response), time.perf_counter() - start


def first_item(response: httpx.Response) -> tuple[str, str]:
    """(dataset_id, data_id) of the first item of a blocking add response."""
    body = response.json()
    return str(body["dataset_id"]), str(body["data_ingestion_info"][0]["data_id"])


def raw_path(dataset_id: str, data_id: str) -> str:
    return f"/api/v1/datasets/{dataset_id}/data/{data_id}/raw"


def mib_per_s(size: int, seconds: float) -> float:
    return size / MIB / seconds if seconds > 0 else math.inf


def human(size: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", MIB), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size} B"


def parse_size(text: str) -> int:
    """'256M', '1G', '512K' or a byte count (binary units)."""
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    scale = {"K": 1024, "M": MIB, "G": 1024**3}.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in "KMG" else text
    return int(float(number) * scale)
