"""How runs reach an executor: in-process tasks, `graphmill serve`'s pipeline process
(embedded), or procrastinate jobs (workers).

Every process also runs a janitor: it renews the leases of the runs it executes, recovers
runs whose lease expired (whoever held them), and dispatches requested runs still queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from graphmill.blobs import BlobStore
from graphmill.config import Settings
from graphmill.db import Database
from graphmill.db.models import utcnow
from graphmill.pipelines import ledger, priority
from graphmill.pipelines.engine import Pipeline, RunExecutor

log = logging.getLogger("graphmill.pipelines")

RUN_TASK = "graphmill.run_pipeline"


def owner_prefix(pid: int) -> str:
    """How the lease owner ids of the process `pid` on this machine begin."""
    return f"{socket.gethostname()}:{pid}:"


def new_owner_id() -> str:
    return f"{owner_prefix(os.getpid())}{uuid.uuid4().hex[:8]}"


def procrastinate_app(settings: Settings) -> Any:
    """A procrastinate App on the store of record's PostgreSQL."""
    import procrastinate

    assert settings.database_url is not None
    conninfo = settings.database_url.replace("postgresql+asyncpg://", "postgresql://")
    return procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo))


async def every(
    seconds: Callable[[], float], one_pass: Callable[[], Awaitable[None]], what: str
) -> None:
    """Run `one_pass` now and then every `seconds()` until the task is cancelled. A pass
    that fails is logged and tried again next time; a cancellation always stops the loop,
    even one that a pass's clean-up turned into an error (a database driver's, for a query
    cut off mid-wait), which would otherwise have been logged as a failure and slept on."""
    task = asyncio.current_task()
    assert task is not None  # a loop of its own, started with create_task
    while True:
        try:
            await one_pass()
        except asyncio.CancelledError:
            if task.cancelling():
                raise
            # Not this loop's cancellation (something the pass awaited was cancelled).
            log.exception("%s cut off; retried later", what, extra={"action": what})
        except Exception:
            if not task.cancelling():
                log.exception("%s failed; retried later", what, extra={"action": what})
        if task.cancelling():
            raise asyncio.CancelledError
        await asyncio.sleep(seconds())


class PipelineChild:
    """`graphmill serve`'s pipeline process (executor local): a `graphmill worker` on the
    same data folder and settings, at a lower CPU priority, handed run ids on its stdin.

    The server's event loop then only answers requests, and the operating system gives the
    server the CPU first whenever both want it: a status read never waits behind a step's
    Python work (on one process, any step's stretch between two awaits held every request).
    The child dies with the server (SIGKILL on Linux, else at the end of its stdin), so a
    killed server leaves its runs to lease recovery exactly as when it ran them itself; a
    child that exits on its own is started again, and finds the queued runs at once (the
    server ends the leases of the child it reaped: its runs are among them).
    """

    RESTART_SECONDS = (1.0, 30.0)  # first delay, longest
    # How long the CPUs must be calm before a child moved off SCHED_IDLE goes back to it, in
    # starvation windows (60 s by default), doubled each time it starves again.
    CALM_WINDOWS = 6

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.process: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._guard: asyncio.Task[None] | None = None
        self.restarts = 0
        self.last_exit_code: int | None = None
        # SCHED_IDLE until the child starves under it (then `nice` for the server's life).
        self.idle = settings.pipeline_idle and priority.idle_supported()
        self.priority = ""
        self.starved_at: datetime | None = None
        # Called with each child's pid once it has exited (the Runtime frees its leases).
        self.on_exit: Callable[[int], Awaitable[None]] | None = None

    @property
    def status(self) -> dict[str, Any]:
        """For /health: whether runs can start now, how often the child was lost, and its
        CPU priority (with when SCHED_IDLE was taken away from it for starving it)."""
        running = self.process is not None and self.process.returncode is None
        return {
            "state": "running" if running else "restarting",
            "pid": self.process.pid if self.process is not None else None,
            "restarts": self.restarts,
            "last_exit_code": self.last_exit_code,
            "priority": self.priority,
            "starved_at": self.starved_at.isoformat() if self.starved_at else None,
        }

    async def start(self) -> None:
        await self._spawn()
        self._supervisor = asyncio.create_task(self._supervise(), name="graphmill-pipelines")
        if self.idle:
            self._guard = asyncio.create_task(self._watch_starvation(), name="graphmill-idle")

    async def _spawn(self) -> None:
        # The server's import path, exactly (`-P`: not the working folder before it), so the
        # child runs the same graphmill and finds the same pipeline modules.
        path = os.pathsep.join(entry or os.getcwd() for entry in sys.path)
        env = {
            **os.environ,
            "GRAPHMILL_DATA_DIR": str(self.settings.data_dir),
            "PYTHONPATH": path,
        }
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-P",
            "-m",
            "graphmill.cli",
            "worker",
            "--for-server",
            str(os.getpid()),
            stdin=asyncio.subprocess.PIPE,
            env=env,
        )
        with contextlib.suppress(OSError):  # it exited already: the supervisor sees it
            self.priority = priority.lower(self.process.pid, self.idle, self.settings.pipeline_nice)
        log.info(
            "pipeline process started",
            extra={"action": "pipelines.start", "pid": self.process.pid},
        )

    async def _watch_starvation(self) -> None:
        """While the child runs under SCHED_IDLE: once it has got less than a twentieth of
        the CPU it waited for over GRAPHMILL_PIPELINE_IDLE_STARVED_SECONDS or a third of the
        lease, whichever is shorter (every CPU busy with other work), move it to
        `pipeline_nice` in place, or, where this process may not (no CAP_SYS_NICE), start it
        again at that priority (its runs resume at once). At that priority: once the CPUs the
        child may run on have had 0.15 of a CPU to spare (idle, or used by the child itself:
        what SCHED_IDLE would give it) over CALM_WINDOWS such windows, move it back to
        SCHED_IDLE; the calm it needs doubles each time it starves again, so a host busy off
        and on does not move it back and forth every minute."""
        # A third of the lease at most: a starving child cannot renew its leases, and they
        # must not run out (and its runs be recovered elsewhere) before it is moved.
        window = min(self.settings.pipeline_idle_starved_seconds, self.settings.lease_seconds / 3)
        calm = window * self.CALM_WINDOWS
        watch = priority.StarvationWatch(window)
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(window / 5)
            process = self.process
            if process is None or process.returncode is not None:
                continue
            verdict = watch.sample(process.pid, loop.time())
            if verdict is None:
                continue
            if self.idle and verdict.starved:
                self._demote(process, verdict)
                watch = priority.StarvationWatch(calm)
            elif not self.idle and verdict.calm:
                calm *= 2  # what the next return will need (and a failed one, to try again)
                moved = self._restore(process, verdict)
                watch = priority.StarvationWatch(window if moved else calm)

    def _demote(self, process: asyncio.subprocess.Process, verdict: priority.Starvation) -> None:
        self.idle = False
        self.starved_at = utcnow()
        nice = self.settings.pipeline_nice
        extra = {
            "action": "pipelines.starved",
            "pid": process.pid,
            "share": round(verdict.share, 4),
            "waiting_s": round(verdict.waiting, 1),
        }
        try:
            priority.lift_idle(process.pid, nice)
            self.priority, how = f"nice {nice}", "it runs"
        except PermissionError:
            how = "starting it again"  # the supervisor does, now at `nice`
            with contextlib.suppress(ProcessLookupError):  # gone already
                process.kill()
        log.warning(
            "pipeline process starved under SCHED_IDLE (every CPU busy); %s at nice %s "
            "until the CPUs are calm again",
            how,
            nice,
            extra=extra,
        )

    def _restore(self, process: asyncio.subprocess.Process, verdict: priority.Starvation) -> bool:
        """Move the child back under SCHED_IDLE; False where that failed (it stays at nice)."""
        try:
            priority.to_idle(process.pid)
        except ProcessLookupError:
            return False  # gone: the supervisor starts it again, at nice
        except OSError as exc:  # a sandbox that forbids it: tried again after a longer calm
            log.warning(
                "pipeline process could not be moved back under SCHED_IDLE: %s",
                exc,
                extra={"action": "pipelines.calm", "pid": process.pid},
            )
            return False
        self.idle = True
        self.priority = "idle"
        log.info(
            "pipeline process back under SCHED_IDLE (%.2f CPUs to spare over %.0f s)",
            verdict.spare,
            verdict.seconds,
            extra={"action": "pipelines.calm", "pid": process.pid},
        )
        return True

    async def _supervise(self) -> None:
        """Start the child again whenever it exits; quickly after a long life, then backing
        off while it keeps failing (a broken setting should not spin the machine)."""
        first, longest = self.RESTART_SECONDS
        delay = first
        loop = asyncio.get_running_loop()
        while True:
            assert self.process is not None
            started = loop.time()
            code = self.last_exit_code = await self.process.wait()
            if self.on_exit is not None:
                await self.on_exit(self.process.pid)
            delay = first if loop.time() - started > 60 else delay
            log.error(
                "pipeline process exited with code %s; starting it again in %.0f s",
                code,
                delay,
                extra={"action": "pipelines.exit", "pid": self.process.pid, "code": code},
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest)
            self.restarts += 1
            await self._spawn()

    async def dispatch(self, run_id: uuid.UUID) -> None:
        process = self.process
        if (
            process is None
            or process.stdin is None
            or process.returncode is not None
            or process.stdin.is_closing()  # dead, not reaped yet
        ):
            return  # starting again: a new child takes every queued run at its start
        with contextlib.suppress(ConnectionError):
            process.stdin.write(f"{run_id}\n".encode())
            await process.stdin.drain()

    async def stop(self) -> None:
        """SIGTERM: the child stops its runs and hands their leases back; SIGKILL if it
        has not exited in time."""
        for task in (self._guard, self._supervisor):
            if task is not None:
                task.cancel()
                await asyncio.wait({task})
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), self.settings.worker_shutdown_seconds + 10)
        except TimeoutError:
            process.kill()
            await process.wait()


class Runtime:
    """Dispatch and supervision of pipeline runs for one process."""

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        settings: Settings,
        pipelines: dict[str, Pipeline[Any]] | None,
        child: PipelineChild | None = None,
    ) -> None:
        """With `pipelines`, this process executes runs; with `child`, its pipeline process
        does; with neither, workers do and this process only enqueues them."""
        self.db = db
        self.settings = settings
        self.owner = new_owner_id()
        self.distributed = settings.executor == "procrastinate"
        self.executor = (
            RunExecutor(db, blobs, settings, pipelines, self.owner)
            if pipelines is not None
            else None
        )
        self.child = child
        if child is not None:
            child.on_exit = self._child_exited
        self.app: Any = procrastinate_app(settings) if self.distributed else None
        self._tasks: set[asyncio.Task[None]] = set()
        self._janitor: asyncio.Task[None] | None = None
        self._wakeups: dict[uuid.UUID, asyncio.Event] = {}

    @property
    def mode(self) -> str:
        return "procrastinate" if self.distributed else "local"

    @property
    def runs_here(self) -> bool:
        """Runs are executed on this machine with this process's settings (by it or by its
        pipeline process)."""
        return self.executor is not None or self.child is not None

    async def start(self) -> None:
        if self.child is not None:
            await self.child.start()
        if self.app is not None:
            await self.app.open_async()
            self.app.task(name=RUN_TASK, pass_context=False)(self._run_job)
        self._janitor = asyncio.create_task(
            every(lambda: self.settings.heartbeat_seconds, self.tick, "janitor"),
            name="graphmill-janitor",
        )

    async def stop(self) -> None:
        if self._janitor is not None:
            # Awaited, not only cancelled: a janitor pass cut off after the store is disposed
            # would wait for it for ever (a short-lived CLI or Python API process hung at exit).
            self._janitor.cancel()
            await asyncio.wait({self._janitor})
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.executor is not None:
            for run_id in list(self.executor.running):
                await ledger.release_run(self.db, run_id, self.owner)
        if self.app is not None:
            await self.app.close_async()
        if self.child is not None:
            await self.child.stop()

    async def _child_exited(self, pid: int) -> None:
        """The pipeline process is gone for certain (reaped): its runs need not wait for
        their leases to run out before they are recovered."""
        try:
            ended = await ledger.expire_leases_of(self.db, owner_prefix(pid))
            if ended:
                await self.tick()
        except Exception:  # the leases still run out; recovery then takes the runs
            log.exception(
                "leases of the pipeline process not ended",
                extra={"action": "pipelines.exit", "pid": pid},
            )

    async def dispatch(self, run_id: uuid.UUID) -> None:
        """Hand a queued run to whoever executes runs; safe to call more than once."""
        if self.app is not None:
            await self._defer(run_id)
        elif self.child is not None:
            await self.child.dispatch(run_id)
        elif self.executor is not None and run_id not in self.executor.running:
            task = asyncio.create_task(self._execute(run_id), name=f"run-{run_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _defer(self, run_id: uuid.UUID) -> None:
        from procrastinate.exceptions import AlreadyEnqueued

        with contextlib.suppress(AlreadyEnqueued):
            await self.app.configure_task(RUN_TASK, queueing_lock=str(run_id)).defer_async(
                run_id=str(run_id)
            )

    async def _run_job(self, run_id: str) -> None:
        await self._execute(uuid.UUID(run_id))

    async def _execute(self, run_id: uuid.UUID) -> None:
        assert self.executor is not None
        try:
            await self.executor.execute_run(run_id)
        except Exception:
            log.exception(
                "run execution crashed", extra={"action": "run.crash", "run_id": str(run_id)}
            )
        finally:
            self.notify(run_id)

    def notify(self, run_id: uuid.UUID) -> None:
        event = self._wakeups.pop(run_id, None)
        if event is not None:
            event.set()

    async def wait_for(self, run_id: uuid.UUID, poll_seconds: float = 0.2) -> ledger.RunInfo | None:
        """Block until the run reaches a final state (it may run in any process); None when
        the run is gone (its dataset was deleted meanwhile)."""
        while True:
            run = await ledger.get_run(self.db, run_id)
            if run is None or not run.active:
                return run
            event = self._wakeups.setdefault(run_id, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), poll_seconds)

    async def _close_stalled_jobs(self) -> None:
        """Close the procrastinate jobs of workers that stopped sending heartbeats (killed):
        their runs are recovered through the ledger's leases and get a fresh job, so the
        dead job would otherwise stay `doing` for ever."""
        from procrastinate.jobs import Status

        manager = self.app.job_manager
        for job in await manager.get_stalled_jobs(
            task_name=RUN_TASK, seconds_since_heartbeat=self.settings.lease_seconds
        ):
            await manager.finish_job(job, Status.FAILED, delete_job=True)
            log.warning(
                "job of a dead worker closed",
                extra={"action": "job.stalled", "job_id": job.id, "run_id": job.task_kwargs},
            )

    async def tick(self) -> None:
        """One pass: renew our leases, recover expired ones, dispatch queued runs."""
        if self.executor is not None:
            kept = await ledger.renew_leases(
                self.db, self.executor.running, self.owner, self.settings.lease_seconds
            )
            self.executor.cancel_lost(kept)
        for run_id in await ledger.recover_expired(self.db, self.settings.recovery):
            log.warning("run recovered", extra={"action": "run.recover", "run_id": str(run_id)})
        if self.app is not None:
            await self._close_stalled_jobs()
        if self.executor is not None or self.app is not None or self.child is not None:
            for run_id in await ledger.queued_runs(self.db):
                await self.dispatch(run_id)


async def work(runtime: Runtime, concurrency: int) -> None:
    """Be a `graphmill worker`: take pipeline jobs from procrastinate until stopped."""
    if runtime.app is None:
        raise RuntimeError(
            "graphmill worker needs GRAPHMILL_EXECUTOR=procrastinate (with the local executor, "
            "`graphmill serve` starts its own pipeline process)"
        )
    settings = runtime.settings
    await runtime.app.run_worker_async(
        concurrency=concurrency,
        name=runtime.owner,
        delete_jobs="successful",
        install_signal_handlers=True,
        # On SIGTERM/SIGINT: stop taking jobs, give running ones this long, then cancel them;
        # a cancelled run hands its lease back at once (RunExecutor.execute_run).
        shutdown_graceful_timeout=settings.worker_shutdown_seconds,
        # Heartbeats let any process find the jobs of a worker that died (Runtime.tick).
        update_heartbeat_interval=settings.heartbeat_seconds,
        stalled_worker_timeout=settings.lease_seconds,
    )


def die_with(parent_pid: int) -> None:
    """Linux: the kernel kills this process when its parent dies, even by SIGKILL."""
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent_pid:  # it died before the line above
        os._exit(1)


async def serve_pipelines(runtime: Runtime) -> None:
    """Be `graphmill serve`'s pipeline process: execute the runs whose ids the server
    writes to stdin (and, through the janitor, the queued ones: at once, then every
    heartbeat) until stdin ends (the server is gone) or SIGTERM/SIGINT; running runs are
    stopped and their leases handed back (`Runtime.stop`)."""
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):  # Windows: the end of stdin only
            loop.add_signal_handler(signum, stopped.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def take() -> None:
        while line := await reader.readline():
            with contextlib.suppress(ValueError):
                await runtime.dispatch(uuid.UUID(line.decode().strip()))

    taking = asyncio.create_task(take())
    stopping = asyncio.create_task(stopped.wait())
    await asyncio.wait({taking, stopping}, return_when=asyncio.FIRST_COMPLETED)
    for task in (taking, stopping):
        task.cancel()
    await asyncio.gather(taking, stopping, return_exceptions=True)
