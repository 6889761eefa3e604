"""What improve costs, and that it never pays twice (issue 10: improve as a pipeline run).

Workload, on one fresh dataset of --docs small documents that name the same companies written
differently ("Velden Optics Inc." / "Velden Optics", ...), so there are duplicates to merge:

1. add and cognify the documents (blocking; not timed here: see pipeline_overhead.py);
2. `first`: POST /api/v1/improve (blocking): the memify_pipeline run merges every item;
3. `again`: the same call, nothing new: every item is skipped (already_completed);
4. `one new`: add one more document, cognify it, improve: only that item is merged.

Prints each improve's wall clock, its merge run's engine time (claim to finish, from
`GET /api/v1/runs/{id}`), and the stage's counts.

    python bench/improve_cost.py --base-url http://127.0.0.1:8000 --docs 200
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from _common import base_parser, check, client, header

COMPANIES = ["Velden Optics", "Marwick Tidal Works", "Corvin Lenses", "Holt Shipping"]
SUFFIXES = ["", " Inc.", " Ltd", " GmbH"]


def document(i: int) -> bytes:
    a, b = COMPANIES[i % 4], COMPANIES[(i + 1) % 4]
    return (
        f"{a}{SUFFIXES[i % 4]} hired engineer number {i} in the year {1900 + i}. "
        f"{b}{SUFFIXES[(i + 2) % 4]} supplies {a} with glass batch {i}."
    ).encode()


def improve(api: Any, dataset_id: str) -> tuple[float, dict[str, Any], float]:
    started = time.perf_counter()
    result = check(api.post("/api/v1/improve", json={"dataset_id": dataset_id})).json()
    wall = time.perf_counter() - started
    merge = result["stages"][1]
    run = check(api.get(f"/api/v1/runs/{merge['run']['pipeline_run_id']}")).json()
    engine = (
        datetime.fromisoformat(run["finished_at"]) - datetime.fromisoformat(run["started_at"])
    ).total_seconds()
    return wall, merge, engine


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--docs", type=int, default=200, help="documents in the dataset")
    args = parser.parse_args()
    api = client(args)
    name = f"improve_bench_{int(time.time())}"
    files = [("data", (f"doc{i}.txt", document(i), "text/plain")) for i in range(args.docs)]
    added = check(api.post("/api/v1/add", data={"datasetName": name}, files=files)).json()
    dataset_id = added["dataset_id"]
    check(api.post("/api/v1/cognify", json={"datasetIds": [dataset_id]}))
    header(f"improve of {args.docs} documents")
    rows = []
    rows.append(("first", *improve(api, dataset_id)))
    rows.append(("again", *improve(api, dataset_id)))
    extra = [("data", ("extra.txt", document(args.docs), "text/plain"))]
    check(api.post("/api/v1/add", data={"datasetId": dataset_id}, files=extra))
    check(api.post("/api/v1/cognify", json={"datasetIds": [dataset_id]}))
    rows.append(("one new", *improve(api, dataset_id)))
    print(f"{'call':<9} {'wall s':>8} {'engine s':>9}  status             counts")
    for label, wall, merge, engine in rows:
        print(f"{label:<9} {wall:8.3f} {engine:9.3f}  {merge['status']:<18} {merge['counts']}")
    check(api.delete(f"/api/v1/datasets/{dataset_id}"))


if __name__ == "__main__":
    main()
