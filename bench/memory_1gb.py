"""Server memory while a 1 GiB file is uploaded and then downloaded.

Given the server's PID (the process that serves HTTP, on this machine), a thread samples
its resident memory from /proc/PID/status (VmRSS; and VmHWM, the kernel's exact peak,
reset before each phase through /proc/PID/clear_refs when permitted) every --interval
seconds. The client generates the file while it sends it (a generator feeds the
multipart body; nothing is held in memory) and hashes the download while it receives it.

Prints the server's RSS before, its peak during the upload and during the download, the
growth over the baseline, and whether the sha256 of the download equals the upload's.
The spec's target: growth < 100 MB.

    python bench/memory_1gb.py --base-url http://127.0.0.1:8000 --pid 12345
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import resource
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from _common import (
    MIB,
    Pattern,
    StreamedUpload,
    base_parser,
    check,
    client,
    first_item,
    header,
    human,
    mib_per_s,
    parse_size,
    raw_path,
    upload_streamed,
)


def descendants(pid: int) -> list[int]:
    """pid and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


@dataclass
class Sampler:
    """Samples RSS of the server (optionally with its descendants) in a thread."""

    pid: int
    interval: float
    include_children: bool
    phase: str = "idle"
    samples: dict[str, list[int]] = field(default_factory=dict)
    hwm: dict[str, int] = field(default_factory=dict)
    can_reset_hwm: bool = True
    _stop: threading.Event = field(default_factory=threading.Event)

    def rss(self) -> int:
        """Resident bytes now."""
        pids = descendants(self.pid) if self.include_children else [self.pid]
        total = 0
        for pid in pids:
            with contextlib.suppress(OSError):  # a child that just exited
                total += status_kib(pid, "VmRSS") * 1024
        return total

    def run(self) -> None:
        while not self._stop.is_set():
            self.samples.setdefault(self.phase, []).append(self.rss())
            time.sleep(self.interval)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def enter(self, phase: str) -> None:
        """Start a phase; reset the kernel's peak so VmHWM is the phase's own peak."""
        if self.can_reset_hwm:
            try:
                Path(f"/proc/{self.pid}/clear_refs").write_text("5")
            except OSError:
                self.can_reset_hwm = False
        self.phase = phase
        self.samples.setdefault(phase, []).append(self.rss())

    def leave(self) -> None:
        """End a phase: record the kernel's peak for the main process."""
        self.samples.setdefault(self.phase, []).append(self.rss())
        if self.can_reset_hwm:
            self.hwm[self.phase] = status_kib(self.pid, "VmHWM") * 1024
        self.phase = "idle"

    def peak(self, phase: str) -> int:
        sampled = max(self.samples.get(phase, [0]))
        if self.include_children or phase not in self.hwm:
            return sampled
        return max(sampled, self.hwm[phase])


def settle(sampler: Sampler, phase: str, seconds: float) -> int:
    """Median RSS over a quiet period."""
    sampler.enter(phase)
    time.sleep(seconds)
    sampler.leave()
    return int(statistics.median(sampler.samples[phase]))


def mb(n: int) -> str:
    return f"{n / 1e6:8.1f} MB ({n / MIB:8.1f} MiB)"


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--size", default="1G", help="file size (default 1 GiB)")
    parser.add_argument("--interval", type=float, default=0.05, help="sampling period, seconds")
    parser.add_argument(
        "--include-children",
        action="store_true",
        help="sum RSS over the PID and its descendants (multi-process servers)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the uploaded dataset")
    args = parser.parse_args()
    if args.pid is None:
        parser.error("--pid is required")
    if not Path(f"/proc/{args.pid}/status").exists():
        raise SystemExit(f"no process {args.pid} on this machine")
    size = parse_size(args.size)
    api = client(args)
    sampler = Sampler(args.pid, args.interval, args.include_children)
    sampler.start()

    header(f"server memory, {human(size)} upload then download, PID {args.pid}")
    # Warm-up: the code paths of add and raw download run once, so that lazily imported
    # modules and first-use caches are in the baseline, not in the growth.
    warm = httpx.Client(base_url=args.base_url, timeout=args.timeout, headers=api.headers)
    warm_name = f"bench_mem_warm_{os.urandom(4).hex()}"
    response = check(
        warm.post(
            "/api/v1/add",
            files=[("data", ("warm.txt", Pattern(4 * MIB).range(0, 4 * MIB - 1), "text/plain"))],
            data={"datasetName": warm_name},
        )
    )
    warm_dataset, warm_data = first_item(response)
    check(warm.get(raw_path(warm_dataset, warm_data)))
    warm.close()

    before = settle(sampler, "before", 1.5)

    pattern = Pattern(size)
    upload = StreamedUpload(
        file_name="one_gib.txt",
        size=size,
        chunks=pattern.chunks,
        fields={"datasetName": f"bench_mem_{os.urandom(4).hex()}"},
    )
    sampler.enter("upload")
    response, up_seconds = upload_streamed(api, upload)
    sampler.leave()
    dataset_id, data_id = first_item(response)
    after_upload = settle(sampler, "after upload", 1.5)

    digest = hashlib.sha256()
    received = 0
    sampler.enter("download")
    start = time.perf_counter()
    with api.stream("GET", raw_path(dataset_id, data_id)) as stream:
        check(stream)
        for data in stream.iter_raw():
            received += len(data)
            digest.update(data)
    down_seconds = time.perf_counter() - start
    sampler.leave()
    after_download = settle(sampler, "after download", 1.5)
    sampler.stop()

    same = received == size and digest.hexdigest() == upload.sent_sha256
    if not args.keep:
        check(api.delete(f"/api/v1/datasets/{dataset_id}"))
        check(api.delete(f"/api/v1/datasets/{warm_dataset}"))

    up_peak, down_peak = sampler.peak("upload"), sampler.peak("download")
    growth = max(up_peak, down_peak) - before
    exact = sampler.can_reset_hwm and not args.include_children
    source = f"sampled every {args.interval * 1e3:.0f} ms"
    source += " and kernel VmHWM per phase" if exact else ""
    print(f"RSS before                  {mb(before)}")
    print(
        f"RSS peak during upload      {mb(up_peak)}   ({up_seconds:.1f} s, "
        f"{mib_per_s(size, up_seconds):.0f} MiB/s)"
    )
    print(f"RSS after upload            {mb(after_upload)}")
    print(
        f"RSS peak during download    {mb(down_peak)}   ({down_seconds:.1f} s, "
        f"{mib_per_s(size, down_seconds):.0f} MiB/s)"
    )
    print(f"RSS after download          {mb(after_download)}")
    print(
        f"growth (peak - before)      {mb(growth)}   target < 100 MB: "
        f"{'met' if growth < 100e6 else 'NOT met'}"
    )
    print(
        f"peaks: {source}; samples: "
        + ", ".join(f"{k}={len(v)}" for k, v in sampler.samples.items())
    )
    print(f"download sha256 equals upload sha256: {same} ({received} of {size} bytes)")
    print(
        f"client peak RSS (this process): "
        f"{mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)}"
    )
    if not same:
        raise SystemExit("downloaded bytes differ from the uploaded ones")


if __name__ == "__main__":
    main()
