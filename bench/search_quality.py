"""Search quality: recall@5 of the supporting passages per search type, over HTTP.

Uploads a labelled set's corpus into a fresh dataset (one `<key>.txt` file per passage: title,
a blank line, text; ≤ 50 files per POST /api/v1/add), cognifies it blocking, then asks every
question with every search type (`topK` 10, `verbose` true) and scores each answer by the share
of the question's supporting passages among the first 5 distinct source files it cites (the
`data_id`s of the cited objects, mapped back to passages). The measurement itself is
`tests/search_quality.py`, shared with the test suite; it speaks only cognee's REST contract,
so the same run works against graphmill, cognee or any compatible server. Servers without an
LLM answer completion types with passages; recall comes from the cited data items either way.

Sets: `single` (tests/data/search_single_hop.json), `two-hop` (tests/data/search_two_hop.json),
`musique` (../shared/bench-data/musique-dev50.json) or the path of a file of the same shape.
Types: any search type names; `DEFAULT` sends no `searchType`, so the server's default runs.

    python bench/search_quality.py --base-url http://127.0.0.1:8000 --set two-hop
    python bench/search_quality.py --set musique --types CHUNKS_LEXICAL,CHUNKS,DEFAULT --misses

Prints: upload and cognify times, the recall table (recall@1, @2, @5, refused queries), the
query latency per type (p50/p90/p95/max/mean), with --pid the server's CPU time for cognify and
per query, and with --misses the questions each type missed.
With --json PATH the per-question answers are written there too.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from _common import base_parser, client, cpu_seconds, header

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.search_quality import (
    TYPES,
    QualityError,
    Report,
    attach,
    evaluate,
    load_set,
    upload,
)


def main() -> None:
    parser = base_parser(__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--set",
        default="two-hop",
        help="single, two-hop, musique, or the path of a labelled set (default two-hop)",
    )
    parser.add_argument(
        "--types",
        default=",".join(TYPES),
        help=f"comma-separated search types; DEFAULT omits searchType (default {','.join(TYPES)})",
    )
    parser.add_argument("--top-k", type=int, default=10, help="topK of each search (default 10)")
    parser.add_argument("--limit", type=int, help="ask only the first N questions")
    parser.add_argument("--dataset", help="dataset name to upload into (default: a fresh one)")
    parser.add_argument(
        "--reuse",
        metavar="NAME",
        help="ask against this dataset of the same user, uploaded and cognified by an earlier "
        "run with --keep (needs --email/--password or --token); skips add and cognify",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the dataset (default: delete it at the end)"
    )
    parser.add_argument(
        "--cognify-timeout",
        type=float,
        default=6 * 3600,
        help="timeout of the blocking cognify request in seconds (default 21600)",
    )
    parser.add_argument("--misses", action="store_true", help="list the questions each type missed")
    parser.add_argument("--json", type=Path, help="write the per-question answers here")
    args = parser.parse_args()

    labelled = load_set(args.set).limit(args.limit)
    types = [t.strip() for t in args.types.split(",") if t.strip()]
    api = client(args)

    header(
        f"set {labelled.name}: {len(labelled.passages)} passages, "
        f"{len(labelled.questions)} questions, server {args.base_url}"
    )
    cpu = cpu_seconds(args.pid)
    try:
        if args.reuse:
            corpus = attach(api, labelled, args.reuse)
        else:
            corpus = upload(api, labelled, args.dataset, cognify_timeout=args.cognify_timeout)
    except QualityError as exc:
        raise SystemExit(f"upload failed: {exc}") from exc
    n = len(labelled.passages)
    print(f"dataset {corpus.dataset_name} ({corpus.dataset_id})")
    if args.reuse:
        print("reused: add and cognify not measured")
    else:
        print(f"add      {corpus.add_seconds:8.1f} s  ({n / corpus.add_seconds:.1f} files/s)")
        print(
            f"cognify  {corpus.cognify_seconds:8.1f} s  "
            f"({corpus.cognify_seconds / n * 1e3:.0f} ms per passage)"
        )
        if args.pid:
            print(f"server CPU for add + cognify: {cpu_seconds(args.pid) - cpu:.1f} s")

    report = Report(labelled.name, corpus, tuple(types))
    query_cpu = {}
    for t in types:
        cpu = cpu_seconds(args.pid)
        report.answers += evaluate(api, labelled, corpus, [t], args.top_k).answers
        query_cpu[t] = (cpu_seconds(args.pid) - cpu) / max(1, len(labelled.questions))

    header("recall of supporting passages (mean over questions)")
    at = {k: report.table(k) for k in (1, 2, 5)}
    errors = report.errors()
    print(f"{'search type':<36} {'@1':>6} {'@2':>6} {'@5':>6}  refused")
    for t in types:
        print(f"{t:<36} {at[1][t]:6.3f} {at[2][t]:6.3f} {at[5][t]:6.3f}  {errors[t]}")

    header("query latency (wall clock, client side)")
    for t in types:
        ms = {name: value * 1e3 for name, value in report.latency(t).items()}
        print(
            f"{t:<36} n={len(report.of(t)):<4} "
            + " ".join(f"{k}={v:8.2f}" for k, v in ms.items())
            + " ms"
            + (f"  server CPU {query_cpu[t] * 1e3:.2f} ms/query" if args.pid else "")
        )

    for t in types:
        refused = [a for a in report.of(t) if a.error]
        if refused:
            print(f"\n{t}: {len(refused)} refused, first: {refused[0].error}")
    if args.misses:
        questions = {q.id: q for q in labelled.questions}
        for t in types:
            header(f"{t}: misses at 5")
            for a in report.misses(t):
                q = questions[a.question_id]
                print(f"{a.question_id}  recall={a.recall():.2f}  {q.question}")
                print(f"    supporting={list(q.supporting)}  cited={list(a.cited[:5])}")
    if not (args.keep or args.reuse):
        api.delete(f"/api/v1/datasets/{corpus.dataset_id}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "set": labelled.name,
                    "dataset_id": corpus.dataset_id,
                    "add_seconds": None if args.reuse else corpus.add_seconds,
                    "cognify_seconds": None if args.reuse else corpus.cognify_seconds,
                    "recall": at,
                    "answers": [asdict(a) for a in report.answers],
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
