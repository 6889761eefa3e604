"""POST /api/v1/add throughput: many small files in one request, and one large file.

* For each count in --counts (default 10 and 100): --repeat requests, each adding that
  many small unique files (--small-size bytes) to a fresh dataset. Prints the latency
  distribution of the request and small files per second.
* One large file (--large-size, default 256 MiB) streamed from a generator (never held in
  memory by the client), --large-repeat times, each into a fresh dataset with fresh
  content. Prints MiB/s, next to what the client alone can generate and, with
  --disk-dir, what writing and fsyncing the same bytes to that folder takes, measured
  right before each upload (a shared disk's speed drifts), with the ratio upload : disk.
  With --pid, also the bytes the server wrote per byte uploaded (/proc/PID/io wchar:
  1.0 means each byte was written once).
* Then (unless --keep) it deletes every dataset it made, timing each delete: the latency
  distribution per number of files in the dataset.

    python bench/add_throughput.py --base-url http://127.0.0.1:8000
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid

import httpx
from _common import (
    Dist,
    Pattern,
    StreamedUpload,
    base_parser,
    check,
    client,
    cpu_seconds,
    header,
    human,
    mib_per_s,
    parse_size,
    upload_streamed,
)


def small_files(count: int, size: int, tag: str) -> list[tuple[str, tuple[str, bytes, str]]]:
    """`count` distinct text files of about `size` bytes each."""
    files = []
    for i in range(count):
        line = f"file {i} of batch {tag}: graphmill add throughput benchmark.\n".encode()
        content = (line * (size // len(line) + 1))[:size]
        files.append(("data", (f"doc_{i}.txt", content, "text/plain")))
    return files


CREATED: list[tuple[str, int]] = []  # datasets to delete at the end, with their file counts


def add_batch(api: httpx.Client, count: int, size: int) -> float:
    tag = uuid.uuid4().hex[:12]
    files = small_files(count, size, tag)
    start = time.perf_counter()
    response = api.post("/api/v1/add", files=files, data={"datasetName": f"bench_add_{tag}"})
    elapsed = time.perf_counter() - start
    body = check(response).json()
    CREATED.append((str(body["dataset_id"]), count))
    items = body.get("data_ingestion_info") or []
    if len(items) != count:
        raise SystemExit(f"expected {count} items in the add answer, got {len(items)}")
    return elapsed


def disk_baseline(directory: str, pattern: Pattern) -> float:
    """Seconds to write the bytes to a file in `directory` and fsync it (then delete it)."""
    fd, name = tempfile.mkstemp(dir=directory, prefix="bench-disk-")
    try:
        start = time.perf_counter()
        with os.fdopen(fd, "wb") as out:
            for data in pattern.chunks():
                out.write(data)
            out.flush()
            os.fsync(out.fileno())
        return time.perf_counter() - start
    finally:
        os.unlink(name)


def written_bytes(pid: int | None) -> int:
    """Bytes the process has passed to write() and friends (0 without --pid)."""
    if not pid:
        return 0
    with open(f"/proc/{pid}/io") as io:
        fields = dict(line.split(":") for line in io)
    return int(fields["wchar"])


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--counts", default="10,100", help="files per request")
    parser.add_argument("--repeat", type=int, default=15, help="requests per count")
    parser.add_argument("--warmup", type=int, default=2, help="untimed requests per count")
    parser.add_argument("--small-size", type=int, default=2048, help="bytes per small file")
    parser.add_argument("--large-size", default="256M", help="size of the large file (0: skip)")
    parser.add_argument("--large-repeat", type=int, default=3, help="large uploads")
    parser.add_argument("--disk-dir", help="also time writing+fsyncing the large file here")
    parser.add_argument("--keep", action="store_true", help="keep the datasets it creates")
    args = parser.parse_args()
    api = client(args)

    header(f"add throughput against {args.base_url}")
    results = []
    for count in (int(c) for c in args.counts.split(",")):
        for _ in range(args.warmup):
            add_batch(api, count, args.small_size)
        cpu_before = cpu_seconds(args.pid)
        samples = [add_batch(api, count, args.small_size) for _ in range(args.repeat)]
        cpu = (cpu_seconds(args.pid) - cpu_before) / args.repeat
        dist = Dist.of(samples)
        rate = count * len(samples) / sum(samples)
        results.append((count, dist, rate))
        print(
            f"add {count:>4} x {human(args.small_size)} files, one request  {dist.ms()}  "
            f"-> {rate:7.1f} files/s (p50: {count / dist.p50:7.1f} files/s)"
            + (f"  server CPU {cpu * 1e3:6.1f} ms/request" if args.pid else ""),
            flush=True,
        )

    large = parse_size(args.large_size)
    if large > 0:
        header(f"one large file of {human(large)}, streamed from a generator")
        probe = Pattern(large)
        start = time.perf_counter()
        for _ in probe.chunks():
            pass
        gen = time.perf_counter() - start
        print(f"client generation alone: {mib_per_s(large, gen):8.1f} MiB/s", flush=True)
        rates, ratios = [], []
        for i in range(args.large_repeat):
            disk_note = ""
            if args.disk_dir:
                disk = mib_per_s(large, disk_baseline(args.disk_dir, probe))
                disk_note = f"  disk write+fsync {disk:8.1f} MiB/s"
            pattern = Pattern(large)  # fresh content: no deduplication by hash
            upload = StreamedUpload(
                file_name=f"large_{i}.txt",
                size=large,
                chunks=pattern.chunks,
                fields={"datasetName": f"bench_large_{uuid.uuid4().hex[:12]}"},
                hash_sent=False,  # nothing downloads it back here
            )
            cpu_before = cpu_seconds(args.pid)
            written_before = written_bytes(args.pid)
            response, elapsed = upload_streamed(api, upload)
            CREATED.append((str(response.json()["dataset_id"]), 1))
            cpu = cpu_seconds(args.pid) - cpu_before
            written = written_bytes(args.pid) - written_before
            rates.append(mib_per_s(large, elapsed))
            notes = disk_note
            if args.disk_dir:
                ratios.append(rates[-1] / disk)
                notes += f"  upload : disk {ratios[-1]:4.2f}"
            if args.pid:
                notes += f"  server CPU {cpu / (large / 1024**3):5.2f} s/GiB"
                notes += f", wrote {written / large:4.2f} x the upload"
            print(f"  upload {i + 1}: {elapsed:6.2f} s  {rates[-1]:8.1f} MiB/s{notes}", flush=True)
        print(f"large upload throughput   {Dist.of(rates).plain('MiB/s')}")
        if ratios:
            print(f"upload : disk             {Dist.of(ratios).plain('', '8.2f')}")

    if not args.keep:
        header("deleting what it added: DELETE /api/v1/datasets/{id}, by files per dataset")
        deletes: dict[int, list[float]] = {}
        for dataset_id, count in CREATED:
            start = time.perf_counter()
            check(api.delete(f"/api/v1/datasets/{dataset_id}"))
            deletes.setdefault(count, []).append(time.perf_counter() - start)
        for count, times in sorted(deletes.items()):
            print(f"delete a dataset of {count:>4} files  {Dist.of(times).ms()}", flush=True)

    header("summary")
    for count, dist, rate in results:
        print(
            f"add {count:>4} small files: p50 {dist.p50 * 1e3:8.1f} ms, p99 "
            f"{dist.p99 * 1e3:8.1f} ms, {rate:7.1f} files/s"
        )
    if large > 0:
        print(
            f"large file ({human(large)}): median {Dist.of(rates).p50:.1f} MiB/s"
            + (f", median upload : disk {Dist.of(ratios).p50:.2f}" if ratios else "")
        )


if __name__ == "__main__":
    main()
