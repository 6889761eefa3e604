"""Status latency during runs, pooled over many `pipeline_overhead.py --json` files.

Each run's p99 of ~115 samples per kind is its second-largest sample. This puts the samples of
every sampled cognify of every file together, each divided by the idle p99 (before the runs)
of its own file and kind, and prints the distribution of those ratios: its p99 is the p99
during a run against the idle p99, measured on thousands of samples instead of ~115.

    python bench/launch_pipeline_bench.py --json-dir out/1 ... ; (repeat into out/2 ...)
    python bench/pool_status.py out/*/*.json
"""

from __future__ import annotations

import argparse
import json

from _common import Dist, percentile

KINDS = ("dataset=<id>", "no params", "GET / (floor)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("files", nargs="+", help="pipeline_overhead.py --json files")
    args = parser.parse_args()
    ratios: dict[str, list[float]] = {kind: [] for kind in KINDS}
    runs = 0
    for path in args.files:
        with open(path) as f:
            figures = json.load(f)
        idle = figures.get("idle_before_samples_s")
        if not idle:
            raise SystemExit(f"{path}: no samples (written before pool_status.py existed?)")
        for run in figures["runs"]:
            samples = run.get("status_samples_s")
            if not samples:
                continue
            runs += 1
            for kind in KINDS:
                base = percentile(sorted(idle[kind]), 99)
                ratios[kind] += [v / base for v in samples.get(kind, [])]
    print(f"{len(args.files)} files, {runs} sampled runs; each sample / its file's idle p99:")
    for kind, values in ratios.items():
        if values:
            over = sum(v > 2 for v in values)
            share = over / len(values) * 100
            print(
                f"  {kind:<14} {Dist.of(values).plain('x idle p99', '6.2f')}; "
                f"over 2x: {over} of {len(values)} ({share:.2f} %)"
            )


if __name__ == "__main__":
    main()
