"""GET /api/v1/datasets/{id}/data/{id}/raw throughput against plain loopback HTTP.

Uploads one file of --size bytes (streamed from a generator), checks that a download
returns exactly those bytes (sha256) and that Range requests work, then downloads it
--repeat times, discarding the bytes, and prints MiB/s.

For comparison the same bytes are written to a temporary file and served, to the same
client code, by two plain loopback servers in subprocesses:

* `python -m http.server` (what the spec calls plain loopback throughput);
* a minimal keep-alive HTTP server answering with `socket.sendfile` (close to the ceiling
  of this client on this machine).

The ratio of the server under test to each baseline is printed; the spec's target is a
download at >= 80 % of loopback throughput.

    python bench/raw_download.py --base-url http://127.0.0.1:8000 --size 256M
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from _common import (
    MIB,
    Dist,
    Pattern,
    StreamedUpload,
    base_parser,
    check,
    client,
    cpu_seconds,
    first_item,
    header,
    human,
    mib_per_s,
    parse_size,
    raw_path,
    upload_streamed,
)

SENDFILE_SERVER = r"""
import socket, sys, os, threading
path, port = sys.argv[1], int(sys.argv[2])
size = os.path.getsize(path)
head = (f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n"
        "Content-Type: application/octet-stream\r\n\r\n").encode()
def serve(conn):
    with conn, open(path, "rb") as f:
        buf = b""
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buf += data
            while b"\r\n\r\n" in buf:
                _, buf = buf.split(b"\r\n\r\n", 1)
                conn.sendall(head)
                conn.sendfile(f, 0, size)
srv = socket.create_server(("127.0.0.1", port))
print("ready", flush=True)
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def download(api: httpx.Client, url: str, digest: hashlib._Hash | None = None) -> int:
    """Stream one GET, discarding (or hashing) the bytes; the number of bytes received."""
    received = 0
    with api.stream("GET", url) as response:
        check(response)
        for data in response.iter_raw():
            received += len(data)
            if digest is not None:
                digest.update(data)
    return received


class SocketClient:
    """A bare HTTP/1.1 client: one keep-alive socket, recv_into a 1 MiB buffer.

    Much lighter than httpx, so it shows more of what the server can do.
    """

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        parsed = httpx.URL(base_url)
        self.host = parsed.host
        self.port = parsed.port or 80
        self.headers = headers
        self.sock: socket.socket | None = None
        self.buffer = bytearray(MIB)

    def _connect(self) -> socket.socket:
        if self.sock is None:
            self.sock = socket.create_connection((self.host, self.port))
        return self.sock

    def _request(self, url: str) -> bytes:
        """Send the request and read up to the end of the response head, reconnecting once
        when a kept-alive connection was closed by the server while idle."""
        lines = [f"GET {url} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode()
        for attempt in (1, 2):
            reused = self.sock is not None
            sock = self._connect()
            head = b""
            try:
                sock.sendall(request)
                while b"\r\n\r\n" not in head:
                    data = sock.recv(65536)
                    if not data:
                        raise ConnectionResetError("closed before the response head")
                    head += data
                return head
            except OSError:
                self.close()
                if not reused or head or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def get(self, url: str) -> int:
        head = self._request(url)
        sock = self._connect()
        head, body = head.split(b"\r\n\r\n", 1)
        status = head.split(b" ", 2)[1]
        fields = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line)
        fields_lower = {k.strip().lower(): v.strip().lower() for k, v in fields.items()}
        length = fields_lower.get(b"content-length")
        if status != b"200" or length is None:
            raise SystemExit(f"socket client: status {status!r}, Content-Length {length!r}")
        remaining = int(length) - len(body)
        view = memoryview(self.buffer)
        while remaining > 0:
            got = sock.recv_into(view[: min(len(view), remaining)])
            if got == 0:
                raise SystemExit("connection closed mid-body")
            remaining -= got
        keep_alive = head.startswith(b"HTTP/1.1") and b"close" not in fields_lower.get(
            b"connection", b""
        )
        if not keep_alive:
            self.close()
        return int(length)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def curl_get(base_url: str, url: str, headers: dict[str, str]) -> int:
    """Download with curl to /dev/null (a C client, a third opinion); bytes received."""
    command = ["curl", "-sS", "-o", "/dev/null", "-w", "%{size_download}"]
    for k, v in headers.items():
        command += ["-H", f"{k}: {v}"]
    out = subprocess.run([*command, base_url + url], check=True, capture_output=True, text=True)
    return int(out.stdout.strip())


def getters(base_url: str, url: str, headers: dict[str, str]) -> dict[str, Callable[[], int]]:
    """One download function per client, each returning the bytes it received."""
    api = httpx.Client(base_url=base_url, timeout=600, headers=headers)
    sock = SocketClient(base_url, headers)
    result: dict[str, Callable[[], int]] = {
        "httpx": lambda: download(api, url),
        "socket": lambda: sock.get(url),
    }
    if shutil.which("curl"):
        result["curl"] = lambda: curl_get(base_url, url, headers)
    return result


def interleaved(
    targets: dict[str, dict[str, Callable[[], int]]],
    pids: dict[str, int | None],
    size: int,
    repeat: int,
) -> tuple[dict[str, dict[str, Dist]], dict[str, dict[str, float]]]:
    """MiB/s per server and client, the servers taking turns so drift hits all alike; and
    each server's CPU seconds per GiB sent (when its PID is known), per client."""
    for by_client in targets.values():
        for get in by_client.values():
            get()  # warm-up: page cache, connection, first-request imports
    rates: dict[str, dict[str, list[float]]] = {
        label: {c: [] for c in by_client} for label, by_client in targets.items()
    }
    cpu: dict[str, dict[str, float]] = {label: {} for label in targets}
    for _ in range(repeat):
        for label, by_client in targets.items():
            for name, get in by_client.items():
                cpu_before = cpu_seconds(pids.get(label))
                start = time.perf_counter()
                got = get()
                elapsed = time.perf_counter() - start
                used = cpu_seconds(pids.get(label)) - cpu_before
                if got != size:
                    raise SystemExit(f"{label} via {name}: got {got} bytes, expected {size}")
                rates[label][name].append(mib_per_s(size, elapsed))
                cpu[label][name] = cpu[label].get(name, 0.0) + used
    gib = size * repeat / 1024**3
    per_gib = {
        label: {c: used / gib for c, used in by_client.items()} if pids.get(label) else {}
        for label, by_client in cpu.items()
    }
    dists = {
        label: {c: Dist.of(v) for c, v in by_client.items()} for label, by_client in rates.items()
    }
    return dists, per_gib


def wait_for(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"baseline server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("baseline server did not start")


def start_baseline(command: list[str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(port, proc)
    except BaseException:
        proc.kill()
        raise
    return proc


def check_ranges(api: httpx.Client, url: str, pattern: Pattern, samples: int) -> Dist:
    """Range requests give 206 with the right bytes; latency of 64 KiB random ranges."""
    size = pattern.size
    cases = [
        ("bytes=0-99", 0, 99),
        (f"bytes={size // 2}-{size // 2 + 4095}", size // 2, size // 2 + 4095),
        ("bytes=-100", size - 100, size - 1),
        (f"bytes={size - 10}-", size - 10, size - 1),
    ]
    for spec, start, end in cases:
        response = api.get(url, headers={"Range": spec})
        expected_range = f"bytes {start}-{end}/{size}"
        ok = (
            response.status_code == 206
            and response.headers.get("content-range") == expected_range
            and response.content == pattern.range(start, end)
        )
        print(
            f"Range {spec:<28} -> {response.status_code} "
            f"{response.headers.get('content-range')!s:<32} {'OK' if ok else 'FAILED'}",
            flush=True,
        )
        if not ok:
            raise SystemExit(f"Range request {spec} failed")
    beyond = api.get(url, headers={"Range": f"bytes={size}-"})
    print(f"Range bytes={size}- (past the end)  -> {beyond.status_code} (416 expected)")
    rng = random.Random(7)
    latencies = []
    for _ in range(samples):
        start = rng.randrange(0, max(1, size - 65536))
        begin = time.perf_counter()
        response = api.get(url, headers={"Range": f"bytes={start}-{start + 65535}"})
        latencies.append(time.perf_counter() - begin)
        if response.status_code != 206 or len(response.content) != min(65536, size - start):
            raise SystemExit("random range request failed")
    return Dist.of(latencies)


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--size", default="256M", help="file size (e.g. 64M, 1G)")
    parser.add_argument(
        "--repeat", type=int, default=10, help="timed downloads per server and client"
    )
    parser.add_argument("--range-samples", type=int, default=100, help="timed 64 KiB ranges")
    parser.add_argument("--keep", action="store_true", help="keep the uploaded dataset")
    args = parser.parse_args()
    size = parse_size(args.size)
    api = client(args)
    pattern = Pattern(size)

    header(f"raw download of {human(size)} from {args.base_url}")
    upload = StreamedUpload(
        file_name="raw_bench.txt",
        size=size,
        chunks=pattern.chunks,
        fields={"datasetName": f"bench_raw_{os.urandom(6).hex()}"},
    )
    response, elapsed = upload_streamed(api, upload)
    dataset_id, data_id = first_item(response)
    url = raw_path(dataset_id, data_id)
    print(f"uploaded in {elapsed:.2f} s ({mib_per_s(size, elapsed):.1f} MiB/s)")

    digest = hashlib.sha256()
    got = download(api, url, digest)
    same = got == size and digest.hexdigest() == upload.sent_sha256
    print(f"download sha256 equals upload sha256: {same} ({got} bytes)")
    if not same:
        raise SystemExit("downloaded bytes differ from the uploaded ones")

    range_latency = check_ranges(api, url, pattern, args.range_samples)
    print(f"64 KiB range at a random offset      {range_latency.ms()}", flush=True)

    auth = {"Authorization": api.headers["Authorization"]}
    ours_label = "server under test /raw"
    folder = Path(tempfile.mkdtemp(prefix="bench-loopback-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with (folder / "blob.bin").open("wb") as out:
            for data in pattern.chunks():
                out.write(data)
        http_port, sendfile_port = free_port(), free_port()
        procs.append(
            start_baseline(
                [
                    sys.executable,
                    "-m",
                    "http.server",
                    str(http_port),
                    "--bind",
                    "127.0.0.1",
                    "--directory",
                    str(folder),
                ],
                http_port,
            )
        )
        procs.append(
            start_baseline(
                [
                    sys.executable,
                    "-c",
                    SENDFILE_SERVER,
                    str(folder / "blob.bin"),
                    str(sendfile_port),
                ],
                sendfile_port,
            )
        )
        targets = {
            ours_label: getters(args.base_url, url, auth),
            "python -m http.server": getters(f"http://127.0.0.1:{http_port}", "/blob.bin", {}),
            "sendfile loopback server": getters(
                f"http://127.0.0.1:{sendfile_port}", "/blob.bin", {}
            ),
        }
        pids = {
            ours_label: args.pid,
            "python -m http.server": procs[0].pid,
            "sendfile loopback server": procs[1].pid,
        }
        results, cpu = interleaved(targets, pids, size, args.repeat)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
    for label, by_client in results.items():
        show(label, by_client)

    if not args.keep:
        check(api.delete(f"/api/v1/datasets/{dataset_id}"))

    header("summary: median MiB/s by client; ratio of /raw to each baseline with that client")
    clients = list(results[ours_label])
    print(f"{'server':<28} " + " ".join(f"{c:>18}" for c in clients))
    ours = results[ours_label]
    for label, by_client in results.items():
        cells = []
        for c in clients:
            cell = f"{by_client[c].p50:8.1f}"
            if label != ours_label:
                cell += f" (x{ours[c].p50 / by_client[c].p50:.2f})"
            cells.append(f"{cell:>18}")
        print(f"{label:<28} " + " ".join(cells))
    worst = min(
        ours[c].p50 / by_client[c].p50
        for label, by_client in results.items()
        if label != ours_label
        for c in clients
    )
    print(
        f"lowest ratio /raw : loopback over every client and baseline: {worst:.2f} (target >= 0.80)"
    )
    header("server CPU seconds per GiB sent, by client (lower is better; needs --pid for /raw)")
    for label, by_client in cpu.items():
        if by_client:
            cells = " ".join(f"{c}={v:5.2f}" for c, v in by_client.items())
            print(f"{label:<28} {cells}")


def show(label: str, by_client: dict[str, Dist]) -> None:
    for name, dist in by_client.items():
        print(f"{label:<26} {name:<7} {dist.plain('MiB/s')}", flush=True)


if __name__ == "__main__":
    main()
