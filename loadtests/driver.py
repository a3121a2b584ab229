"""The closed-loop driver: ``concurrency`` callers, each with one call in flight.

Every caller sends its next call as soon as the last one is answered, until the window
ends, the request budget is spent or Ctrl-C arrives. The tuner's load probe and the
bench's served figures run on it. A caller is any coroutine function; :func:`model_caller`
makes one of a model's :class:`~loadtests.calls.ModelCall` (the same calls and input data
as ``run``), so a step sends what a locust user would send.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from types import FrameType

import numpy as np

from clients import Timeouts
from loadtests.calls import FAILURES, ModelCall
from loadtests.targets import Measured

__all__ = ["Caller", "LoopResult", "StopFlag", "closed_loop", "model_caller", "run_closed_loop"]

Caller = Callable[[], Awaitable[object]]
"""One call; raises on a failed one."""

_SETTLE_S = 10.0  # extra time allowed for in-flight calls after the window


@dataclass(frozen=True)
class LoopResult:
    """What the callers saw in one window.

    Attributes:
        latencies_ms: Latency of every successful call, milliseconds.
        failures: Failed calls.
        elapsed_s: Wall time from the first call to the last answer, seconds.
        first_error: The first failure's message, if any.
    """

    latencies_ms: tuple[float, ...]
    failures: int
    elapsed_s: float
    first_error: str | None = None

    @classmethod
    def combine(cls, loads: Sequence[LoopResult]) -> LoopResult:
        """Pool several windows of the same setting (latencies joined, times added)."""
        first_error = next((load.first_error for load in loads if load.first_error), None)
        return cls(tuple(ms for load in loads for ms in load.latencies_ms),
                   sum(load.failures for load in loads),
                   sum(load.elapsed_s for load in loads), first_error)

    @property
    def requests(self) -> int:
        """Successful plus failed calls."""
        return len(self.latencies_ms) + self.failures

    @property
    def rps(self) -> float:
        """Successful calls per second of the window."""
        return len(self.latencies_ms) / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def percentile_ms(self, q: float) -> float | None:
        """The ``q``-th latency percentile (None without successes)."""
        if not self.latencies_ms:
            return None
        return float(np.percentile(np.asarray(self.latencies_ms), q))

    def measured(self) -> Measured:
        """The window as the targets module's :class:`~loadtests.targets.Measured`."""
        return Measured(requests=self.requests, failures=self.failures,
                        p50_ms=self.percentile_ms(50), p95_ms=self.percentile_ms(95),
                        p99_ms=self.percentile_ms(99), rps=self.rps)


class StopFlag:
    """Ends a loop early on Ctrl-C: a client library may swallow a task cancellation."""

    def __init__(self) -> None:
        self.interrupted = False

    @contextlib.contextmanager
    def on_sigint(self) -> Iterator[None]:
        """Within the block, SIGINT sets :attr:`interrupted` (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: FrameType | None) -> None:
            self.interrupted = True

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)


async def closed_loop(caller: Caller, concurrency: int, duration_s: float, *,
                      max_requests: int = 200_000, timeout_s: float = 10.0,
                      stop: StopFlag | None = None,
                      failures: tuple[type[Exception], ...] = FAILURES) -> LoopResult:
    """Drive ``caller`` closed-loop: ``concurrency`` calls in flight for ``duration_s``.

    Args:
        caller: Makes one call.
        concurrency: Callers, each with one call in flight.
        duration_s: Length of the window; no call starts after it.
        max_requests: Calls at most, over every caller.
        timeout_s: Limit of one call (the loop waits this long past the window).
        stop: Ends the loop early when it is set.
        failures: What a failed call raises (counted; anything else ends the loop).

    Returns:
        The latencies of the answered calls and the count of failed ones.
    """
    latencies: list[float] = []
    failed = 0
    first_error: str | None = None
    issued = 0
    started = time.perf_counter()
    stop_at = started + duration_s

    async def worker() -> None:
        nonlocal failed, first_error, issued
        while time.perf_counter() < stop_at and issued < max_requests \
                and not (stop is not None and stop.interrupted):
            issued += 1
            sent = time.perf_counter()
            try:
                await caller()
            except failures as exc:
                failed += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"
                continue
            latencies.append((time.perf_counter() - sent) * 1000.0)

    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))),
                           timeout=duration_s + timeout_s + _SETTLE_S)
    return LoopResult(tuple(latencies), failed, time.perf_counter() - started, first_error)


@contextlib.asynccontextmanager
async def model_caller(call: ModelCall, url: str, timeouts: Timeouts) -> AsyncIterator[Caller]:
    """A caller making ``call``'s calls through its asyncio client, closed on exit.

    The first call is made here, untimed: it reads the model's metadata.

    Raises:
        ClientError: The first call failed.
        ValidationMismatchError: The first call's outputs differ from ``validation_data``.
    """
    client = call.open_async(url, timeouts)
    try:
        async def caller() -> object:
            return await call.call_async(client)

        await caller()
        yield caller
    finally:
        await client.close()


def run_closed_loop(call: ModelCall, url: str, concurrency: int, duration_s: float, *,
                    max_requests: int = 200_000, timeout_s: float = 10.0) -> LoopResult:
    """:func:`closed_loop` over ``call`` at ``url``, from synchronous code.

    Raises:
        KeyboardInterrupt: Ctrl-C arrived (the callers stop after their call in flight).
        ClientError: The untimed first call failed.
        ValidationMismatchError: The first call's outputs differ from ``validation_data``.
    """
    async def drive(stop: StopFlag) -> LoopResult:
        async with model_caller(call, url, Timeouts(request_s=timeout_s)) as caller:
            return await closed_loop(caller, concurrency, duration_s,
                                     max_requests=max_requests, timeout_s=timeout_s,
                                     stop=stop)

    stop = StopFlag()
    with stop.on_sigint():
        result = asyncio.run(drive(stop))
    if stop.interrupted:
        raise KeyboardInterrupt
    return result
