"""Status latency during runs, pooled over many `pipeline_overhead.py --json` files.

Each run's p99 of ~115 samples per kind is its second-largest sample, and its idle p99 (200
samples) moves from run to run as much. This puts every file's samples together, per kind,
two ways: the idle samples (before the runs) of all files against the samples of all their
sampled cognifies, in milliseconds, with the p99 ratio; and each sample divided by the idle
p99 of its own file, whose distribution's p99 is the p99 during a run against its own idle
p99, measured on thousands of samples instead of ~115.

    python bench/launch_pipeline_bench.py --json-dir out/1 ... ; (repeat into out/2 ...)
    python bench/pool_status.py out/*/*.json
"""

from __future__ import annotations

import argparse
import json

from _common import Dist, percentile
from pipeline_overhead import KINDS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("files", nargs="+", help="pipeline_overhead.py --json files")
    args = parser.parse_args()
    ratios: dict[str, list[float]] = {kind: [] for kind in KINDS}
    idle_all: dict[str, list[float]] = {kind: [] for kind in KINDS}
    during_all: dict[str, list[float]] = {kind: [] for kind in KINDS}
    runs = 0
    for path in args.files:
        with open(path) as f:
            figures = json.load(f)
        idle = figures.get("idle_before_samples_s")
        if not idle:
            raise SystemExit(f"{path}: no samples (written before pool_status.py existed?)")
        base = {kind: percentile(sorted(idle[kind]), 99) for kind in KINDS}
        for kind in KINDS:
            idle_all[kind] += idle[kind]
        for run in figures["runs"]:
            samples = run.get("status_samples_s")
            if not samples:
                continue
            runs += 1
            for kind in KINDS:
                during_all[kind] += samples.get(kind, [])
                ratios[kind] += [v / base[kind] for v in samples.get(kind, [])]
    print(f"{len(args.files)} files, {runs} sampled runs; all idle samples, all samples during:")
    for kind in KINDS:
        if during_all[kind]:
            idle_dist, during = Dist.of(idle_all[kind]), Dist.of(during_all[kind])
            print(f"  {kind:<14} idle   {idle_dist.ms()}")
            print(f"  {'':<14} during {during.ms()}")
            print(
                f"  {'':<14} p50 {during.p50 / idle_dist.p50:.2f}x, "
                f"p99 {during.p99 / idle_dist.p99:.2f}x the idle's"
            )
    print("each sample / its file's idle p99:")
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
