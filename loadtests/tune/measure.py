"""Measure a loaded model: bounded closed-loop load through the async typed clients.

Each step keeps ``concurrency`` requests in flight for ``duration_s`` (and at most
``max_requests``), records every latency on the client, and reads Triton's statistics
before and after to split the latency into queueing and compute and to see the batch
size the server formed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

import numpy as np

from clients import (
    AsyncImageDiagnosisClient,
    AsyncRecommendationClient,
    ClientError,
    RetryPolicy,
    Timeouts,
)
from loadtests.errors import ServerStatsError
from loadtests.samples import NUM_USERS
from loadtests.server_stats import diff_snapshots, fetch_snapshot
from loadtests.targets import Measured
from loadtests.tune.errors import TuneError
from loadtests.tune.sweep import StepResult

__all__ = ["TUNABLE_MODELS", "LoadProbe", "StepLoad"]

CLASSIFIER = "image_diagnosis_classifier"
RECOMMENDATION = "recommendation"
TUNABLE_MODELS: tuple[str, ...] = (RECOMMENDATION, CLASSIFIER)
"""Models the tuner can drive with a typed client (not ensembles: they have no knobs)."""

_SETTLE_S = 10.0  # extra time allowed for in-flight requests after a step's window


@dataclass(frozen=True)
class StepLoad:
    """What the client saw in one step.

    Attributes:
        latencies_ms: Latency of every successful request, milliseconds.
        failures: Failed requests.
        elapsed_s: Wall time from the first request to the last answer, seconds.
        first_error: The first failure's message, if any.
    """

    latencies_ms: tuple[float, ...]
    failures: int
    elapsed_s: float
    first_error: str | None = None

    @classmethod
    def combine(cls, loads: Sequence[StepLoad]) -> StepLoad:
        """Pool several runs of the same config (latencies joined, times added)."""
        first_error = next((load.first_error for load in loads if load.first_error), None)
        return cls(tuple(ms for load in loads for ms in load.latencies_ms),
                   sum(load.failures for load in loads),
                   sum(load.elapsed_s for load in loads), first_error)

    @property
    def requests(self) -> int:
        """Successful plus failed requests."""
        return len(self.latencies_ms) + self.failures

    def percentile_ms(self, q: float) -> float | None:
        """The ``q``-th latency percentile (None without successes)."""
        if not self.latencies_ms:
            return None
        return float(np.percentile(np.asarray(self.latencies_ms), q))

    def measured(self) -> Measured:
        """The step as the targets module's :class:`~loadtests.targets.Measured`."""
        rps = len(self.latencies_ms) / self.elapsed_s if self.elapsed_s > 0 else 0.0
        return Measured(requests=self.requests, failures=self.failures,
                        p50_ms=self.percentile_ms(50), p95_ms=self.percentile_ms(95),
                        p99_ms=self.percentile_ms(99), rps=rps)


Caller = Callable[[random.Random], Awaitable[object]]


def _client_and_call(model: str, url: str, timeout_s: float) -> tuple[Any, Caller]:
    settings: dict[str, Any] = {"retry": RetryPolicy.disabled(),
                                "timeouts": Timeouts(request_s=timeout_s)}
    if model == RECOMMENDATION:
        recommender = AsyncRecommendationClient(url, **settings)

        async def recommend(rng: random.Random) -> object:
            return await recommender.recommend(rng.randrange(NUM_USERS), k=10)

        return recommender, recommend
    if model == CLASSIFIER:
        classifier = AsyncImageDiagnosisClient(url, use_ensemble=False, **settings)
        images = [np.random.default_rng(seed).integers(0, 256, (224, 224), dtype=np.uint8)
                  for seed in range(8)]

        async def diagnose(rng: random.Random) -> object:
            return await classifier.diagnose(images[rng.randrange(len(images))])

        return classifier, diagnose
    raise TuneError(f"model: {model!r} cannot be tuned; expected one of {TUNABLE_MODELS}")


class _StopFlag:
    """Ends a step early on Ctrl-C: the client library may swallow a task cancellation."""

    def __init__(self) -> None:
        self.interrupted = False

    @contextlib.contextmanager
    def on_sigint(self) -> Iterator[None]:
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


async def _closed_loop(model: str, url: str, concurrency: int, duration_s: float,
                       max_requests: int, timeout_s: float, seed: int,
                       stop: _StopFlag | None = None) -> StepLoad:
    client, call = _client_and_call(model, url, timeout_s)
    latencies: list[float] = []
    failures = 0
    first_error: str | None = None
    issued = 0
    try:
        await call(random.Random(seed))  # first use checks the metadata; not timed
        started = time.perf_counter()
        stop_at = started + duration_s

        async def worker(index: int) -> None:
            nonlocal failures, first_error, issued
            rng = random.Random(seed * 1000 + index)
            while time.perf_counter() < stop_at and issued < max_requests \
                    and not (stop is not None and stop.interrupted):
                issued += 1
                sent = time.perf_counter()
                try:
                    await call(rng)
                except ClientError as exc:
                    failures += 1
                    first_error = first_error or str(exc)
                    continue
                latencies.append((time.perf_counter() - sent) * 1000.0)

        await asyncio.wait_for(asyncio.gather(*(worker(i) for i in range(concurrency))),
                               timeout=duration_s + timeout_s + _SETTLE_S)
        elapsed = time.perf_counter() - started
    finally:
        await client.close()
    return StepLoad(tuple(latencies), failures, elapsed, first_error)


class LoadProbe:
    """Drives one model on one server and reads its statistics.

    Args:
        model: A model of :data:`TUNABLE_MODELS`.
        url: Inference URL; its scheme (``http``/``grpc``) picks the protocol.
        stats_url: Triton's HTTP URL for the statistics extension.
        request_timeout_s: Limit of each request.
        max_requests_per_step: Upper bound of requests in one step.

    Raises:
        TuneError: The model has no typed client.
    """

    def __init__(self, model: str, url: str, stats_url: str, *, request_timeout_s: float = 10.0,
                 max_requests_per_step: int = 200_000) -> None:
        if model not in TUNABLE_MODELS:
            raise TuneError(f"model: {model!r} cannot be tuned; expected one of {TUNABLE_MODELS}")
        self.model = model
        self.url = url
        self.stats_url = stats_url
        self.request_timeout_s = request_timeout_s
        self.max_requests_per_step = max_requests_per_step
        self._seed = 0

    def load(self, concurrency: int, duration_s: float) -> StepLoad:
        """Run one bounded closed-loop step and return what the client saw.

        Raises:
            KeyboardInterrupt: Ctrl-C arrived during the step (its workers stop after
                their request in flight, so the caller can roll back at once).
        """
        self._seed += 1
        stop = _StopFlag()
        with stop.on_sigint():
            result = asyncio.run(_closed_loop(
                self.model, self.url, concurrency, duration_s, self.max_requests_per_step,
                self.request_timeout_s, self._seed, stop))
        if stop.interrupted:
            raise KeyboardInterrupt
        return result

    def warm_up(self, concurrency: int, duration_s: float) -> None:
        """Send unmeasured load so the first measured step finds warm instances.

        Raises:
            TuneError: Every warm-up request failed.
        """
        result = self.load(concurrency, duration_s)
        if not result.latencies_ms:
            raise TuneError(f"{self.model}: every warm-up request failed: {result.first_error}")

    def step(self, concurrency: int, duration_s: float) -> StepResult:
        """Measure one step, with Triton's queue/compute split and batch size."""
        try:
            before = fetch_snapshot(self.stats_url, [self.model])
        except ServerStatsError:
            before = None
        load = self.load(concurrency, duration_s)
        queue_ms = compute_ms = batch = None
        if before is not None:
            try:
                after = fetch_snapshot(self.stats_url, [self.model])
            except ServerStatsError:
                after = None
            delta = diff_snapshots(before, after).get(self.model) if after else None
            if delta is not None:
                queue_ms, compute_ms, batch = delta.queue_ms, delta.compute_ms, \
                    delta.mean_batch_size
        measured = load.measured()
        return StepResult(
            concurrency=concurrency, requests=load.requests, failures=load.failures,
            duration_s=load.elapsed_s, throughput_rps=measured.rps, p50_ms=measured.p50_ms,
            p95_ms=measured.p95_ms, p99_ms=measured.p99_ms, queue_ms=queue_ms,
            compute_ms=compute_ms, mean_batch_size=batch,
        )
