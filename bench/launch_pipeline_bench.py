"""Start graphmill set-ups one after another and run pipeline_overhead.py against each.

Set-ups (`--setups`, comma-separated, in this order by default):

* `embedded-noop`: `graphmill serve`, SQLite, executor local, no-op steps
  (`bench.noop_steps:noop`), the pipelines in the server's own process
  (GRAPHMILL_PIPELINE_PROCESS=false, as in every `embedded-` set-up but the `child` ones):
  the engine's own overhead.
* `embedded-commit`: the same with `bench.noop_steps:commit` (one tiny chunk written
  in each item's completing transaction).
* `embedded-default-fake`: the real steps (`graphmill.cognify.steps:pipeline`) with the
  LLM and the embeddings served instantly by tests/fake_openai.py (a separate process), as
  SPEC.md section 6 measures overhead: LLM and embedding time excluded.
* `embedded-child-fake`: the same with GRAPHMILL_PIPELINE_PROCESS=true: the pipelines in
  `graphmill serve`'s child process at a lower CPU priority (nice 10).
* `embedded-child-idle-fake`: the same with GRAPHMILL_PIPELINE_IDLE=true: the child under
  SCHED_IDLE (it runs only when no other process wants the CPU). Linux's default.
* `embedded-default`: the real steps as configured out of the box: no LLM (offline
  extraction) and the bundled local embedder, which is compute-bound; fewer documents.
* `embedded-pg-noop`: executor local on PostgreSQL (pgserver), no-op steps: the database
  backend's share, without procrastinate.
* `distributed-noop`: PostgreSQL (pgserver), an API process with
  `GRAPHMILL_EXECUTOR=procrastinate` and two `graphmill worker` processes, no-op steps.
* `distributed-default-fake`: the same with the real steps and the fake LLM/embeddings.

Every set-up gets a fresh data folder (and a fresh PostgreSQL database); processes run with
LOG_LEVEL=WARNING and PYTHONPATH=<repo root>, so `bench.noop_steps` imports. Everything is
stopped at the end (PostgreSQL too). Arguments after `--` go to pipeline_overhead.py.
`--server-cpus 1` puts graphmill's processes on core 1 and everything else (the launcher, the
benchmark's clients, the fake model server, PostgreSQL) on the other cores.
The fake model server runs under SCHED_IDLE (Linux): it stands for a model service on other
machines, so it gets only CPU nothing else here wants. At normal priority it was, in a trace
of the scheduler (`sched_delays.py`), what most often kept the server and the status sampler
waiting for a CPU (bench/RESULTS-cognify.md, thirteenth session); `--model-server-normal`
runs it at normal priority as before.
`--ref HEAD` serves a snapshot of graphmill/ at that git ref (put first on PYTHONPATH), so
edits of the work tree during the run change nothing.

    python bench/launch_pipeline_bench.py --ref HEAD
    python bench/launch_pipeline_bench.py --setups embedded-noop -- --docs 200 --repeat 1
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from _common import cpu_times, status_kb

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NOOP = "bench.noop_steps:noop"
COMMIT = "bench.noop_steps:commit"
DEFAULT = "graphmill.cognify.steps:pipeline"


@dataclass(frozen=True)
class Setup:
    database: str  # sqlite | postgresql
    steps: str  # GRAPHMILL_COGNIFY_STEPS
    workers: int = 0  # > 0: GRAPHMILL_EXECUTOR=procrastinate and that many `graphmill worker`
    fake_openai: bool = False  # LLM and embeddings from the fake OpenAI-compatible server
    bench_args: tuple[str, ...] = ()  # defaults for pipeline_overhead.py (yours come after)
    env: tuple[tuple[str, str], ...] = ()  # more settings


# The real steps with the bundled local embedder are compute-bound (about 20 texts/s on
# 2 cores), so that set-up runs fewer documents by default.
SMALL = ("--docs", "200", "--repeat", "1", "--fanout", "0", "--idle-samples", "100")

# The pipelines in the server's own process; the set-ups below measured it so before the
# child process became the default on Linux, and still do, comparably.
ONE = (("GRAPHMILL_PIPELINE_PROCESS", "false"),)

SETUPS: dict[str, Setup] = {
    "embedded-noop": Setup("sqlite", NOOP, env=ONE),
    "embedded-commit": Setup("sqlite", COMMIT, env=ONE),
    "embedded-default-fake": Setup("sqlite", DEFAULT, fake_openai=True, env=ONE),
    "embedded-child-fake": Setup(
        "sqlite",
        DEFAULT,
        fake_openai=True,
        env=(("GRAPHMILL_PIPELINE_PROCESS", "true"), ("GRAPHMILL_PIPELINE_IDLE", "false")),
    ),
    "embedded-child-idle-fake": Setup(
        "sqlite",
        DEFAULT,
        fake_openai=True,
        env=(("GRAPHMILL_PIPELINE_PROCESS", "true"), ("GRAPHMILL_PIPELINE_IDLE", "true")),
    ),
    "embedded-default": Setup("sqlite", DEFAULT, bench_args=SMALL, env=ONE),
    "embedded-pg-noop": Setup("postgresql", NOOP, env=ONE),
    "distributed-noop": Setup("postgresql", NOOP, workers=2),
    "distributed-default-fake": Setup("postgresql", DEFAULT, workers=2, fake_openai=True),
}

FAKE_SERVER = """
import signal, sys, threading
from tests.fake_openai import FakeOpenAI
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
with FakeOpenAI() as fake:
    print(fake.base_url, fake.api_key, flush=True)
    threading.Event().wait()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Process:
    """A graphmill process with its output in a log file."""

    # --server-cpus: graphmill's processes run on these cores (their children inherit them)
    server_cpus: set[int] | None = None
    # the fake model server under SCHED_IDLE (unless --model-server-normal)
    model_server_idle = True

    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        log: Path,
        graphmill: bool = False,
        idle: bool = False,
    ) -> None:
        self.args = args
        self.log = log
        self.out = log.open("wb")
        # cwd outside the repository: `python -m` puts the cwd first on sys.path, which
        # would shadow a snapshot given in PYTHONPATH. `idle`: under SCHED_IDLE from the
        # start, every thread it will start too (this launcher runs no threads: preexec_fn
        # is safe here).
        self.popen = subprocess.Popen(
            args,
            env=env,
            cwd=log.parent,
            stdout=self.out,
            stderr=subprocess.STDOUT,
            preexec_fn=_sched_idle if idle else None,
        )
        if graphmill and self.server_cpus:
            os.sched_setaffinity(self.popen.pid, self.server_cpus)
        print(f"# started pid {self.popen.pid}: {shlex.join(args)}", flush=True)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=30)
        self.out.close()

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def wait_healthy(base_url: str, process: Process, started: float) -> float:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise SystemExit(f"server exited during start-up:\n{process.tail()}")
        try:
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    raise SystemExit(f"server did not become healthy:\n{process.tail()}")


@contextmanager
def postgres(root: Path) -> Iterator[tuple[object, str]]:
    """A pgserver PostgreSQL, stopped on exit; (server, uri of its default database)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(root / "pg", cleanup_mode="stop")
    try:
        yield server, server.get_uri()
    finally:
        server.cleanup()


def database_url(server: object, uri: str) -> str:
    """A fresh, empty database on the server."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    server.psql(f"CREATE DATABASE {name};")  # type: ignore[attr-defined]
    base, _, query = uri.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def fake_address(process: Process) -> tuple[str, str]:
    """(base URL, API key) that the fake OpenAI server prints once it listens."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        # Only a whole line: the log may be read while the server is still writing it.
        first, newline, _ = process.log.read_text(errors="replace").partition("\n")
        if newline and first.startswith("http"):
            base, key = first.split()
            return base, key
        if process.popen.poll() is not None:
            break
        time.sleep(0.05)
    raise SystemExit(f"fake OpenAI server did not start:\n{process.tail()}")


def _sched_idle() -> None:
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def rss_mb(pid: int) -> str:
    """Resident memory of a process and its descendants (serve's pipeline process)."""
    kb = status_kb(pid, "VmRSS")
    return f"{kb / 1024:.0f} MB" if kb else "?"


def run_setup(
    name: str,
    work: Path,
    pythonpath: str,
    pg: tuple[object, str] | None,
    python: str,
    bench_args: list[str],
    json_dir: Path | None,
) -> int:
    setup = SETUPS[name]
    data_dir = work / name
    data_dir.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": pythonpath,
        "GRAPHMILL_DATA_DIR": str(data_dir),
        "GRAPHMILL_COGNIFY_STEPS": setup.steps,
        "LOG_LEVEL": "WARNING",
    }
    shown = {k: env[k] for k in ("GRAPHMILL_COGNIFY_STEPS", "LOG_LEVEL", "PYTHONPATH")}
    if setup.database == "postgresql":
        assert pg is not None
        shown["GRAPHMILL_DATABASE_URL"] = database_url(*pg)
    if setup.workers:
        shown["GRAPHMILL_EXECUTOR"] = "procrastinate"
    shown |= dict(setup.env)
    processes: list[Process] = []
    if setup.fake_openai:
        fake = Process(
            [python, "-c", FAKE_SERVER],
            env,
            data_dir / "fake_openai.log",
            idle=Process.model_server_idle,
        )
        processes.append(fake)
        base, key = fake_address(fake)
        shown |= {
            "LLM_PROVIDER": "openai",
            "LLM_MODEL": "openai/fake-model",
            "LLM_ENDPOINT": base,
            "LLM_API_KEY": key,
            "EMBEDDING_PROVIDER": "openai_compatible",
            "EMBEDDING_MODEL": "fake-embedding",
            "EMBEDDING_DIMENSIONS": "384",
            "EMBEDDING_ENDPOINT": base,
            "EMBEDDING_API_KEY": key,
        }
    env |= shown
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    print(f"\n######## {name}", flush=True)
    print(f"# env: {' '.join(f'{k}={v}' for k, v in shown.items())}", flush=True)
    graphmill = [python, "-m", "graphmill.cli"]
    probe = "import graphmill; print(graphmill.__file__)"
    where = subprocess.run(
        [python, "-c", probe], env=env, cwd=data_dir, capture_output=True, text=True
    )
    print(f"# graphmill imported from {where.stdout.strip() or where.stderr.strip()}")
    try:
        started = time.monotonic()
        api = Process(
            [*graphmill, "serve", "--port", str(port)], env, data_dir / "serve.log", graphmill=True
        )
        servers = [api]
        print(
            f"# start-up to healthy: {wait_healthy(base_url, api, started):.2f} s",
            flush=True,
        )
        for i in range(setup.workers):
            servers.append(
                Process([*graphmill, "worker"], env, data_dir / f"worker{i}.log", graphmill=True)
            )
        if setup.workers:
            time.sleep(2)  # let the workers connect and listen
            for p in servers[1:]:
                if p.popen.poll() is not None:
                    raise SystemExit(f"worker exited:\n{p.tail()}")
        processes += servers
        command = [python, str(HERE / "pipeline_overhead.py"), "--base-url", base_url]
        command += ["--label", name, *setup.bench_args, *bench_args]
        command += ["--server-pids", ",".join(str(p.popen.pid) for p in servers)]
        if setup.database == "postgresql":
            assert pg is not None
            command += ["--pg-pid", str(pg[0].get_pid())]  # type: ignore[attr-defined]
        if json_dir is not None:
            command += ["--json", str(json_dir / f"{name}.json")]
        print(f"# load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"$ {shlex.join(command)}", flush=True)
        code = subprocess.call(command)
        print(
            "# RSS after: "
            + ", ".join(f"pid {p.popen.pid} {rss_mb(p.popen.pid)}" for p in processes),
            flush=True,
        )
        print(
            "# CPU seconds (user + system, with descendants): "
            + ", ".join(f"pid {p.popen.pid} {sum(cpu_times(p.popen.pid)):.1f}" for p in processes),
            flush=True,
        )
        for p in processes:
            errors = [
                line
                for line in p.log.read_text(errors="replace").splitlines()
                if "ERROR" in line or "Traceback" in line
            ]
            if errors:
                print(f"# {p.log.name}: {len(errors)} error lines, first: {errors[0]}")
        return code
    finally:
        for p in processes:
            p.stop()


def _interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    # Stop every process started here on SIGTERM or SIGINT, even when launched in the
    # background (where a shell leaves SIGINT ignored).
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, _interrupted)
    argv = sys.argv[1:]
    bench_args: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, bench_args = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--setups", default=",".join(SETUPS), help="comma-separated set-ups")
    parser.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    parser.add_argument("--json-dir", help="keep each set-up's figures as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    parser.add_argument(
        "--server-cpus",
        help="comma-separated cores for graphmill's processes; everything else (the benchmark's "
        "clients, the fake model server, PostgreSQL) on the other cores: on a small machine, "
        "the server's figures apart from the benchmark's own load",
    )
    parser.add_argument(
        "--model-server-normal",
        action="store_true",
        help="run the fake model server at normal priority; by default it runs under "
        "SCHED_IDLE (Linux): it stands for a model service on other machines, so it takes "
        "only CPU nothing here wants",
    )
    parser.add_argument(
        "--ref",
        help="serve the graphmill/ of this git ref (a snapshot immune to edits of the work "
        "tree during the run) instead of the work tree",
    )
    args = parser.parse_args(argv)
    names = [s.strip() for s in args.setups.split(",") if s.strip()]
    unknown = [n for n in names if n not in SETUPS]
    if unknown:
        raise SystemExit(f"unknown set-ups {unknown}; known: {', '.join(SETUPS)}")
    json_dir = Path(args.json_dir) if args.json_dir else None
    Process.model_server_idle = not args.model_server_normal and hasattr(os, "SCHED_IDLE")
    if json_dir is not None:
        json_dir.mkdir(parents=True, exist_ok=True)

    print(f"# graphmill pipeline benchmarks, {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}")
    print(f"# machine: {os.cpu_count()} cores, {os.uname().sysname} {os.uname().release}")
    if args.server_cpus:
        Process.server_cpus = {int(c) for c in args.server_cpus.split(",")}
        others = os.sched_getaffinity(0) - Process.server_cpus
        if not others:
            raise SystemExit("--server-cpus must leave a core for the rest")
        os.sched_setaffinity(0, others)  # inherited by every process started from here on
        print(f"# graphmill on cores {sorted(Process.server_cpus)}, the rest on {sorted(others)}")
    if Process.model_server_idle:
        print("# the fake model server under SCHED_IDLE")
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="graphmill-pipeline-bench-"))
    pythonpath = str(ROOT)
    if args.ref:
        snapshot = work / "src"
        snapshot.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.ref, "graphmill", "tests"],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(snapshot)], input=archive, check=True)
        pythonpath = f"{snapshot}{os.pathsep}{ROOT}"
        ref = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", args.ref],
            capture_output=True,
            text=True,
        ).stdout.strip()
        print(f"# code: graphmill/ of {args.ref} = {ref} (snapshot {snapshot})")
    else:
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "graphmill"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        extra = " + uncommitted changes under graphmill/" if dirty else ""
        print(f"# code: work tree at {head or 'unknown'}{extra}")
    failures = []
    try:
        with ExitStack() as stack:
            pg = None
            if any(SETUPS[n].database == "postgresql" for n in names):
                pg = stack.enter_context(postgres(work))
                print(f"# PostgreSQL (pgserver): {pg[1]}")
            for name in names:
                code = run_setup(name, work, pythonpath, pg, args.python, bench_args, json_dir)
                if code != 0:
                    failures.append(name)
    finally:
        if args.keep:
            print(f"# kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if failures:
        raise SystemExit(f"failed: {', '.join(failures)}")


if __name__ == "__main__":
    main()
