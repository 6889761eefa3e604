"""Reading untrusted documents with bounded time and memory.

PDF and Office files are parsed by large libraries that a hostile file can make loop or
allocate without end (decompression bombs, cyclic object graphs). They are read in a child
process with an address-space limit and a deadline: a file that passes either fails alone
with `unreadable_document` and a reason, and the process that runs the pipeline never
holds the parser's memory. Other formats are read in a thread: their loaders are linear.
A child costs about 0.2-0.5 s of start-up, paid only by these formats.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
from pathlib import Path

from graphmill.errors import StepFailed
from graphmill.ingest import loaders

ISOLATED = frozenset({"pdf", "docx", "pptx", "xlsx"})
_OUT_OF_MEMORY = 3
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent.parent)


async def load_bounded(
    data: bytes, extension: str, mime_type: str, timeout_seconds: float, memory_mb: int
) -> loaders.LoadedText:
    """`loaders.load`, in a child with `memory_mb` of address space and `timeout_seconds`
    for formats whose parsers a hostile file can exhaust; StepFailed as `load`."""
    name = loaders.loader_for(extension, mime_type)
    if name not in ISOLATED:
        return await asyncio.to_thread(loaders.load, data, extension, mime_type)
    path = os.pathsep.join([_PACKAGE_ROOT, os.environ.get("PYTHONPATH", "")])
    child = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "graphmill.ingest.sandbox"),
        *(str(memory_mb), extension, mime_type),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": path},
    )
    try:
        out, _ = await asyncio.wait_for(child.communicate(data), timeout_seconds)
    except TimeoutError:
        raise StepFailed(
            "unreadable_document",
            f"reading the {name.upper()} file took longer than {timeout_seconds:g} s "
            "(GRAPHMILL_LOADER_TIMEOUT_SECONDS); it loops or is far too large",
        ) from None
    finally:
        if child.returncode is None:  # timed out or cancelled: the parser stops here
            child.kill()
            await child.wait()
    if child.returncode == _OUT_OF_MEMORY or (child.returncode != 0 and not out):
        raise StepFailed(
            "unreadable_document",
            f"reading the {name.upper()} file needs more than {memory_mb} MiB "
            f"(GRAPHMILL_LOADER_MEMORY_MB); it is a decompression bomb or far too large"
            + ("" if child.returncode == _OUT_OF_MEMORY else f" (exit {child.returncode})"),
        )
    answer = json.loads(out)
    if "error_class" in answer:
        raise StepFailed(answer["error_class"], answer["message"])
    return loaders.LoadedText(answer["text"], answer["loader"])


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


def _child(memory_mb: int, extension: str, mime_type: str) -> int:
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    data = sys.stdin.buffer.read()
    try:
        loaded = loaders.load(data, extension, mime_type)
        answer = {"text": loaded.text, "loader": loaded.loader}
    except MemoryError:
        return _OUT_OF_MEMORY
    except StepFailed as exc:
        # Parsers short of memory often report it as something else (lxml: a syntax error):
        # an address space that reached the limit tells.
        if isinstance(exc.__cause__, MemoryError) or _peak_address_space() > 0.9 * limit:
            return _OUT_OF_MEMORY
        answer = {"error_class": exc.error_class, "message": str(exc)}
    sys.stdout.write(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(_child(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
