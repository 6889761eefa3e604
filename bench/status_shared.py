"""GET /api/v1/datasets/status for a reader whose datasets come through a role (issue 12).

An owner makes a tenant, a role and --datasets datasets (one tiny add each), grants the role
read on all of them and puts a second user (the reader) in the role. Then status is timed
with every id as repeated `dataset=` parameters and with none, for the owner (direct grants)
and for the reader (through the role), alternating, and the reader/owner p50 ratio printed.
With --owner-only (for a server without teams) only the owner is measured: run it against
the previous version to compare with "today".

    python bench/status_shared.py --base-url http://127.0.0.1:8000 --datasets 100
"""

from __future__ import annotations

import argparse
import uuid

import httpx
from _common import Dist, base_parser, check, client, cpu_seconds, header, timed

STATUS = "/api/v1/datasets/status"
PERMS = "/api/v1/permissions"


def seed(owner: httpx.Client, n: int) -> list[str]:
    ids = []
    for i in range(n):
        content = f"tiny document {i} {uuid.uuid4()}\n".encode()
        r = check(
            owner.post(
                "/api/v1/add",
                files=[("data", (f"d{i}.txt", content, "text/plain"))],
                data={"datasetName": f"shared_{i}"},
            ),
            200,
        )
        ids.append(r.json()["dataset_id"])
    return ids


def measure(name: str, api: httpx.Client, ids: list[str], args: argparse.Namespace) -> float:
    params = [("dataset", i) for i in ids] + [("pipeline", "add_pipeline")]

    def call() -> None:
        body = check(api.get(STATUS, params=params), 200).json()
        assert len(body) == len(ids), f"{name} sees {len(body)} of {len(ids)} datasets"

    before = cpu_seconds(args.pid)
    durations = timed(call, args.repeat)
    cpu = (cpu_seconds(args.pid) - before) / args.repeat * 1e3
    dist = Dist.of(durations)
    cpu_text = f"  server CPU {cpu:.2f} ms/request" if args.pid else ""
    print(f"{name:<28} {dist.ms()}{cpu_text}")
    return dist.p50


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--datasets", type=int, default=100, help="datasets shared")
    parser.add_argument("--repeat", type=int, default=300, help="timed requests per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--owner-only", action="store_true", help="server without teams")
    args = parser.parse_args()
    owner = client(args)
    if not args.owner_only:
        check(owner.post(f"{PERMS}/tenants", params={"tenant_name": "bench"}), 200)
    ids = seed(owner, args.datasets)
    header(f"status with {len(ids)} ids, pipeline=add_pipeline")
    reader = None
    if not args.owner_only:
        tenant = owner.get("/api/v1/users/me").json()["tenant_id"]
        role = check(owner.post(f"{PERMS}/roles", params={"role_name": "readers"}), 200)
        role_id = role.json()["role_id"]
        check(owner.post(f"{PERMS}/datasets/{role_id}?permission_name=read", json=ids), 200)
        reader = client(argparse.Namespace(**{**vars(args), "email": None, "token": None}))
        reader_id = reader.get("/api/v1/users/me").json()["id"]
        check(owner.post(f"{PERMS}/users/{reader_id}/tenants", params={"tenant_id": tenant}), 200)
        check(owner.post(f"{PERMS}/users/{reader_id}/roles", params={"role_id": role_id}), 200)
        check(reader.post(f"{PERMS}/tenants/select", json={"tenant_id": tenant}), 200)
    ratios = []
    for r in range(args.rounds):
        own = measure(f"round {r + 1} owner (direct)", owner, ids, args)
        if reader is not None:
            through = measure(f"round {r + 1} reader (role)", reader, ids, args)
            ratios.append(through / own)
    if ratios:
        print(f"reader/owner p50 ratio per round: {', '.join(f'{x:.2f}' for x in ratios)}")


if __name__ == "__main__":
    main()
