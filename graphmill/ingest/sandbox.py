"""Reading untrusted documents with bounded time and memory.

PDF and Office files are parsed by large libraries that a hostile file can make loop or
allocate without end (decompression bombs, cyclic object graphs). They are read in a child
process with an address-space limit and a deadline: a file that passes either fails alone
with `unreadable_document` and a reason, and the process that runs the pipeline never
holds the parser's memory. Other formats are read in a thread: their loaders are linear.

Children are forked by a warm parent, the *zygote*: a helper process, started on first use,
that has imported the parsers once and forks one child per document, so a child costs
milliseconds rather than the 0.3-0.5 s of CPU a fresh interpreter importing pypdf or
python-docx takes. The zygote ends when its process does (its stdin closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from graphmill.errors import StepFailed
from graphmill.ingest import loaders

ISOLATED = frozenset({"pdf", "docx", "pptx", "xlsx"})
# Decoded on the event loop when small: a few KiB of text decode in microseconds.
PLAIN = frozenset({"text", "markdown", "code"})
INLINE_BYTES = 16 * 1024
_PARSERS = ("pypdf", "docx", "pptx", "openpyxl")
_OUT_OF_MEMORY = 3
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent.parent)


class _Zygote:
    """This process's zygote: its socket, restarted if it is gone."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._owner = 0
        self.path = ""

    def socket_path(self) -> str:
        with self._lock:
            alive = self._process is not None and self._process.poll() is None
            if not alive or self._owner != os.getpid():
                self._start()
            return self.path

    def _start(self) -> None:
        folder = tempfile.mkdtemp(prefix="graphmill-zygote-")
        self.path = os.path.join(folder, "socket")
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([_PACKAGE_ROOT, os.environ.get("PYTHONPATH", "")]),
        }
        self._process = subprocess.Popen(
            [sys.executable, "-m", "graphmill.ingest.sandbox", self.path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self._owner = os.getpid()
        assert self._process.stdout is not None
        if self._process.stdout.readline() != b"ready\n":
            raise RuntimeError("the document parser process did not start")


_zygote = _Zygote()


async def load_bounded(
    data: bytes, extension: str, mime_type: str, timeout_seconds: float, memory_mb: int
) -> loaders.LoadedText:
    """`loaders.load`, in a child with `memory_mb` of address space and `timeout_seconds`
    for formats whose parsers a hostile file can exhaust; StepFailed as `load`."""
    name = loaders.loader_for(extension, mime_type)
    if name in PLAIN and len(data) <= INLINE_BYTES:
        return loaders.load(data, extension, mime_type)  # less than a hand-off to a thread
    if name not in ISOLATED:
        return await asyncio.to_thread(loaders.load, data, extension, mime_type)
    path = await asyncio.to_thread(_zygote.socket_path)
    reader, writer = await asyncio.open_unix_connection(path)
    pid, out = 0, None
    try:
        header = {
            "memory_mb": memory_mb,
            "timeout": timeout_seconds,
            "extension": extension,
            "mime_type": mime_type,
        }
        writer.write(json.dumps(header).encode() + b"\n" + len(data).to_bytes(8, "big") + data)
        await writer.drain()
        pid = int(await reader.readline())
        out = await asyncio.wait_for(reader.read(), timeout_seconds)
    except TimeoutError:
        raise StepFailed(
            "unreadable_document",
            f"reading the {name.upper()} file took longer than {timeout_seconds:g} s "
            "(GRAPHMILL_LOADER_TIMEOUT_SECONDS); it loops or is far too large",
        ) from None
    except (ConnectionError, ValueError):
        out = b""  # the child died before it answered
    finally:
        if pid and out is None:  # timed out or cancelled: the parser stops here (the open
            _kill(pid)  # connection shows it still runs, so the pid is still its own)
        writer.close()
    answer = json.loads(out) if out else {"exit": "died"}
    if "exit" in answer:
        raise StepFailed(
            "unreadable_document",
            f"reading the {name.upper()} file needs more than {memory_mb} MiB "
            f"(GRAPHMILL_LOADER_MEMORY_MB); it is a decompression bomb or far too large"
            + ("" if answer["exit"] == "out_of_memory" else " (the parser died)"),
        )
    if "error_class" in answer:
        raise StepFailed(answer["error_class"], answer["message"])
    return loaders.LoadedText(answer["text"], answer["loader"])


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _peak_address_space() -> int:
    """This process's peak address space (Linux: VmPeak), 0 where unknown. Not ru_maxrss:
    Linux carries that over from the parent across exec."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmPeak:"):
            return int(line.split()[1]) * 1024
    return 0


def _parse(conn: socket.socket) -> None:
    """In a forked child: one document from the connection, its answer back."""
    stream = conn.makefile("rwb")
    header = json.loads(stream.readline())
    size = int.from_bytes(stream.read(8), "big")
    data = stream.read(size)
    stream.write(f"{os.getpid()}\n".encode())
    stream.flush()
    # Past the deadline the parent kills it; the alarm ends it should the parent be gone.
    signal.alarm(int(header["timeout"]) + 5)
    limit = header["memory_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    answer: dict[str, str]
    try:
        loaded = loaders.load(data, header["extension"], header["mime_type"])
        answer = {"text": loaded.text, "loader": loaded.loader}
    except MemoryError:
        answer = {"exit": "out_of_memory"}
    except StepFailed as exc:
        # Parsers short of memory often report it as something else (lxml: a syntax error):
        # an address space that reached the limit tells.
        if isinstance(exc.__cause__, MemoryError) or _peak_address_space() > 0.9 * limit:
            answer = {"exit": "out_of_memory"}
        else:
            answer = {"error_class": exc.error_class, "message": str(exc)}
    try:
        stream.write(json.dumps(answer).encode())
        stream.flush()
    except MemoryError:
        pass  # no room left even to answer: the parent reads a death


def _serve(path: str) -> None:
    """The zygote: the parsers imported once, then a forked child per connection, until
    stdin (the parent) closes."""
    for parser in _PARSERS:
        __import__(parser)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    events = selectors.DefaultSelector()
    events.register(listener, selectors.EVENT_READ)
    events.register(sys.stdin, selectors.EVENT_READ)
    while True:
        for key, _ in events.select():
            if key.fileobj is sys.stdin:  # the parent is gone
                os.unlink(path)
                os.rmdir(os.path.dirname(path))
                return
            conn, _ = listener.accept()
            if os.fork() == 0:
                listener.close()
                try:
                    _parse(conn)
                finally:
                    os._exit(0)
            conn.close()


if __name__ == "__main__":
    _serve(sys.argv[1])
