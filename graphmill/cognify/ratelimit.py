"""Process-wide rate limits for calls to model providers: requests and tokens per window,
concurrency, and pauses that `Retry-After` asks for."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

MAX_PAUSE_SECONDS = 600.0


# --- rate limiting -------------------------------------------------------------------------


@dataclass
class _Slot:
    tokens: int
    done_at: float | None = None  # None while the request is in flight


@dataclass
class Reservation:
    """One admitted request; `settle` replaces the token estimate with the real count."""

    slot: _Slot
    actual_tokens: int | None = None

    def settle(self, tokens: int) -> None:
        self.actual_tokens = max(0, tokens)


@dataclass(eq=False)
class _Waiter:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None] | None = None


class RateLimiter:
    """Requests and tokens per window, and calls in flight, across every caller in the process.

    A request occupies the window from the moment it is admitted until `window_seconds` after
    its answer arrived, so whatever the latency the server never sees more than `requests`
    arrivals in any window. Callers are admitted in FIFO order; the limiter works across event
    loops and threads (waiters are woken through their own loop).
    """

    def __init__(
        self,
        requests: int | None = None,
        tokens: int | None = None,
        concurrency: int | None = None,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.requests = requests
        self.tokens = tokens
        self.concurrency = concurrency
        self.window = window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._slots: list[_Slot] = []
        self._in_flight = 0
        self._paused_until = 0.0
        self._queue: deque[_Waiter] = deque()

    @contextlib.asynccontextmanager
    async def reserve(self, estimated_tokens: int) -> AsyncIterator[Reservation]:
        """Wait for room for one request of about `estimated_tokens`, hold it while inside."""
        reservation = Reservation(await self._acquire(max(0, estimated_tokens)))
        try:
            yield reservation
        finally:
            self._release(reservation)

    def pause(self, seconds: float) -> None:
        """Admit nobody for `seconds` (a server's Retry-After); never shortens a pause."""
        with self._lock:
            until = self._clock() + min(max(seconds, 0.0), MAX_PAUSE_SECONDS)
            self._paused_until = max(self._paused_until, until)

    @property
    def paused_for(self) -> float:
        with self._lock:
            return max(0.0, self._paused_until - self._clock())

    async def _acquire(self, estimate: int) -> _Slot:
        waiter = _Waiter(asyncio.get_running_loop())
        with self._lock:
            self._queue.append(waiter)
        try:
            while True:
                with self._lock:
                    head = self._queue[0] is waiter
                    delay = self._delay(self._clock(), estimate) if head else math.inf
                    if delay <= 0:
                        self._queue.popleft()
                        slot = _Slot(estimate)
                        if self._windowed:
                            self._slots.append(slot)
                        self._in_flight += 1
                        self._wake_head()
                        return slot
                    waiter.future = waiter.loop.create_future()
                    future = waiter.future
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(None if math.isinf(delay) else delay):
                        await future
        except BaseException:
            with self._lock:
                if waiter in self._queue:
                    was_head = self._queue[0] is waiter
                    self._queue.remove(waiter)
                    if was_head:
                        self._wake_head()
            raise

    def _release(self, reservation: Reservation) -> None:
        with self._lock:
            self._in_flight -= 1
            reservation.slot.done_at = self._clock()
            if reservation.actual_tokens is not None:
                reservation.slot.tokens = reservation.actual_tokens
            self._wake_head()

    @property
    def _windowed(self) -> bool:
        """Whether admitted requests are kept for the window (only a request or token limit
        needs them; without one, admitting a request costs the same however many came)."""
        return self.requests is not None or self.tokens is not None

    def _delay(self, now: float, estimate: int) -> float:
        """Seconds until a request may start; inf when only a finishing request can free room."""
        if self.concurrency is not None and self._in_flight >= self.concurrency:
            return math.inf
        if not self._windowed:
            return self._paused_until - now
        horizon = now - self.window
        self._slots = [s for s in self._slots if s.done_at is None or s.done_at > horizon]
        waits = [self._paused_until - now]
        done = sorted((s for s in self._slots if s.done_at is not None), key=_done_at)
        if self.requests is not None and len(self._slots) >= self.requests:
            must_expire = len(self._slots) - self.requests + 1
            if len(done) < must_expire:
                return math.inf
            waits.append(_done_at(done[must_expire - 1]) - horizon)
        if self.tokens is not None:
            used = sum(s.tokens for s in self._slots)
            if used > 0 and used + estimate > self.tokens:
                # An oversized request still goes, alone, once the window has emptied.
                freed, wait = 0, math.inf
                for slot in done:
                    freed += slot.tokens
                    left = used - freed
                    if left + estimate <= self.tokens or left == 0:
                        wait = _done_at(slot) - horizon
                        break
                waits.append(wait)
        return max(waits)

    def _wake_head(self) -> None:
        if not self._queue:
            return
        head = self._queue[0]
        if head.future is not None and not head.future.done():
            with contextlib.suppress(RuntimeError):  # its loop is closed: it will never wait
                head.loop.call_soon_threadsafe(_resolve, head.future)


def _done_at(slot: _Slot) -> float:
    assert slot.done_at is not None
    return slot.done_at


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """A server's requested pause: `retry-after-ms`, or `Retry-After` in seconds or a date.
    Header names match in any case, whatever the mapping (aiohttp's, httpx's, a dict)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    with contextlib.suppress(ValueError):
        if ms := lowered.get("retry-after-ms"):
            return max(0.0, float(ms) / 1000)
    value = lowered.get("retry-after")
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
