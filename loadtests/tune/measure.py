"""Measure a loaded model: the closed-loop driver over the model's call, and Triton's view.

Each step keeps ``concurrency`` calls in flight for ``duration_s`` (and at most
``max_requests``) with :mod:`loadtests.driver`, through the same call and input data as
``run`` (:func:`loadtests.calls.make_call`), and reads Triton's statistics before and
after to split the latency into queueing and compute and to see the batch size the
server formed.
"""

from __future__ import annotations

from loadtests.calls import FAILURES, ModelCall, make_call
from loadtests.driver import LoopResult, run_closed_loop
from loadtests.errors import ServerStatsError
from loadtests.server_stats import ServerSnapshot, diff_snapshots, fetch_snapshot
from loadtests.tune.errors import TuneError
from loadtests.tune.sweep import StepResult

__all__ = ["LoadProbe"]


class LoadProbe:
    """Drives one model on one server and reads its statistics.

    Args:
        model: Any model the server serves.
        url: Inference URL; its scheme (``http``/``grpc``) picks the protocol.
        stats_url: Triton's HTTP URL for the statistics extension.
        call: The model's call (default: :func:`~loadtests.calls.make_call` without
            input-data options: a reference model's typed call, generated inputs
            otherwise).
        request_timeout_s: Limit of each request.
        max_requests_per_step: Upper bound of requests in one step.
    """

    def __init__(self, model: str, url: str, stats_url: str, *, call: ModelCall | None = None,
                 request_timeout_s: float = 10.0, max_requests_per_step: int = 200_000) -> None:
        self.model = model
        self.url = url
        self.stats_url = stats_url
        self.call = call if call is not None else make_call(model, {})
        self.request_timeout_s = request_timeout_s
        self.max_requests_per_step = max_requests_per_step

    def load(self, concurrency: int, duration_s: float) -> LoopResult:
        """Run one bounded closed-loop step and return what the client saw.

        Raises:
            TuneError: The step's first (untimed) call failed, naming the model.
            KeyboardInterrupt: Ctrl-C arrived during the step (its callers stop after
                their request in flight, so the caller can roll back at once).
        """
        try:
            return run_closed_loop(self.call, self.url, concurrency, duration_s,
                                   max_requests=self.max_requests_per_step,
                                   timeout_s=self.request_timeout_s)
        except FAILURES as exc:
            raise TuneError(f"model {self.model!r}: {type(exc).__name__}: {exc}") from exc

    def warm_up(self, concurrency: int, duration_s: float) -> None:
        """Send unmeasured load so the first measured step finds warm instances.

        Raises:
            TuneError: Every warm-up request failed.
        """
        result = self.load(concurrency, duration_s)
        if not result.latencies_ms:
            raise TuneError(f"{self.model}: every warm-up request failed: {result.first_error}")

    def _snapshot(self) -> ServerSnapshot | None:
        try:
            return fetch_snapshot(self.stats_url, [self.model])
        except ServerStatsError:
            return None  # the step is still measured, without the server's split

    def step(self, concurrency: int, duration_s: float) -> StepResult:
        """Measure one step, with Triton's queue/compute split and batch size."""
        before = self._snapshot()
        load = self.load(concurrency, duration_s)
        after = self._snapshot() if before is not None else None
        delta = diff_snapshots(before, after).get(self.model) if before and after else None
        measured = load.measured()
        return StepResult(
            concurrency=concurrency, requests=load.requests, failures=load.failures,
            duration_s=load.elapsed_s, throughput_rps=measured.rps, p50_ms=measured.p50_ms,
            p95_ms=measured.p95_ms, p99_ms=measured.p99_ms,
            queue_ms=delta.queue_ms if delta else None,
            compute_ms=delta.compute_ms if delta else None,
            mean_batch_size=delta.mean_batch_size if delta else None,
        )
