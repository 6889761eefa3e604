"""Throughput of the default embedder (LocalMiniLM, numpy) on 256-token passages.

Each configuration runs in a fresh child process, so that the BLAS thread count (read by
OpenBLAS at start-up) and the peak RSS belong to it alone:

* `1 thread`: BLAS on one thread, batches one after the other (embed_sync);
* `pool`: BLAS on one thread, batches spread over LocalMiniLM's thread pool (embed);
* `BLAS`: BLAS on every core, batches one after the other;
* `pool+BLAS`: every core for both.

LocalMiniLM itself limits BLAS to one thread (the `pool` configuration); the two BLAS
configurations switch that off to show why.

Prints, per configuration and batch size, the distribution of texts/s over the rounds,
the child's import time, model load time and peak RSS.

    .venv/bin/python bench/embedding_throughput.py
    .venv/bin/python bench/embedding_throughput.py --modes "1 thread,pool" --batch-sizes 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from _common import Dist, header

ROOT = Path(__file__).resolve().parent.parent
MODES = {  # name -> (BLAS threads, use the pool)
    "1 thread": (1, False),
    "pool": (1, True),
    "BLAS": (0, False),
    "pool+BLAS": (0, True),
}
WORDS = [
    *("graph", "memory", "engine", "dataset", "chunk", "entity", "relation", "vector"),
    *("search", "pipeline", "document", "knowledge", "retrieval", "embedding", "answer"),
    *("transformer", "attention", "tokenizer", "passage", "question", "provenance"),
    *("ledger", "lease", "worker", "storage", "database", "index", "cosine", "batch"),
]


def passages(count: int, tokens: int = 256) -> list[str]:
    """`count` distinct texts of at least `tokens` word pieces (the model reads 256)."""
    out = []
    for i in range(count):
        words = [WORDS[(i * 7 + j * 13) % len(WORDS)] for j in range(tokens + 16)]
        out.append(f"passage {i}: " + " ".join(words))
    return out


def child(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    from graphmill.cognify.embedders import LocalMiniLM, LocalTokenCounter

    import_seconds = time.perf_counter() - start
    blas_threads, use_pool = MODES[args.mode]
    if blas_threads != 1:
        from graphmill.cognify import embedders

        embedders._limit_blas_threads = lambda: None  # keep OPENBLAS_NUM_THREADS's threads
    texts = passages(args.texts)
    counter = LocalTokenCounter()
    min_tokens = min(counter.count_many(texts))
    results: dict[str, object] = {"import_s": import_seconds, "min_tokens": min_tokens}

    embedder = LocalMiniLM(batch_size=args.batch_size)
    start = time.perf_counter()
    embedder.embed_sync(texts[:1])
    results["load_s"] = time.perf_counter() - start

    def run() -> None:
        if use_pool:
            asyncio.run(embedder.embed(texts))
        else:
            for i in range(0, len(texts), args.batch_size):
                embedder.embed_sync(texts[i : i + args.batch_size])

    run()  # warm-up: caches, BLAS buffers, the pool's threads
    rates, cpu_per_text, cores_busy = [], [], []
    for _ in range(args.rounds):
        start, cpu_start = time.perf_counter(), time.process_time()
        run()
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        rates.append(len(texts) / wall)
        cpu_per_text.append(cpu / len(texts))
        cores_busy.append(cpu / wall)
    results.update(rates=rates, cpu_per_text=cpu_per_text, cores_busy=cores_busy)
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(results))


def blas_info(env: dict[str, str]) -> str:
    code = (
        "import numpy, json\n"
        "try:\n"
        "    from threadpoolctl import threadpool_info\n"
        "    print(json.dumps([(i['internal_api'], i.get('architecture'), i['num_threads'])"
        " for i in threadpool_info()]))\n"
        "except ImportError:\n"
        "    print('threadpoolctl not installed')\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--modes", default=",".join(MODES), help="comma-separated, of: " + ", ".join(MODES)
    )
    parser.add_argument("--batch-sizes", default="8,32,64")
    parser.add_argument("--texts", type=int, default=128, help="passages per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--native-blas",
        action="store_true",
        help="unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE in the children (their best kernel)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="1 thread", help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=32, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    cores = os.cpu_count() or 1
    base_env = dict(os.environ, HF_HUB_OFFLINE="1")
    if args.native_blas:
        base_env.pop("OPENBLAS_CORETYPE", None)
        base_env.pop("OPENBLAS_L2_SIZE", None)
    base_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), base_env.get("PYTHONPATH", "")) if p
    )
    header(f"LocalMiniLM throughput, {args.texts} passages of 256 tokens per round, {cores} cores")
    coretype = base_env.get("OPENBLAS_CORETYPE", "-")
    print(
        f"# OPENBLAS_CORETYPE={coretype} OPENBLAS_L2_SIZE={base_env.get('OPENBLAS_L2_SIZE', '-')}"
    )
    print(f"# BLAS: {blas_info(base_env)}")
    for mode in args.modes.split(","):
        blas_threads, _ = MODES[mode]
        env = dict(base_env, OPENBLAS_NUM_THREADS=str(blas_threads or cores))
        for batch_size in (int(b) for b in args.batch_sizes.split(",")):
            command = [
                sys.executable, __file__, "--child", "--mode", mode,
                "--batch-size", str(batch_size), "--texts", str(args.texts),
                "--rounds", str(args.rounds),
            ]  # fmt: skip
            load = os.getloadavg()[0]
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"{mode} batch {batch_size} failed:\n{done.stderr}")
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(
                f"{mode:>9} batch {batch_size:>3}: texts/s {Dist.of(r['rates']).plain('', '5.1f')}"
                f"\n{'':>20}CPU per text {Dist.of(r['cpu_per_text']).ms()}"
                f"\n{'':>20}cores busy {min(r['cores_busy']):.2f}-{max(r['cores_busy']):.2f}, "
                f"peak RSS {r['peak_rss_mb']:.0f} MB, import {r['import_s'] * 1e3:.0f} ms, "
                f"model load {r['load_s'] * 1e3:.0f} ms, load average before {load:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
