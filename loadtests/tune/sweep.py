"""One trial's concurrency sweep, as a pure decision core.

A trial measures one candidate at rising client concurrency (:func:`sweep_concurrency`,
with the measurement injected) and keeps the best throughput whose p99 meets the
target (:func:`summarize_trial`). The sweep stops by itself when ``patience`` steps in a
row miss the target (more concurrency only queues more), optionally also when they gain
less than ``min_gain`` over the best so far; one noisy step does not end it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from loadtests.tune.errors import TuneError
from loadtests.tune.space import Candidate

__all__ = [
    "DEFAULT_CONCURRENCIES",
    "StepResult",
    "TrialResult",
    "best_step",
    "failed_trial",
    "merge_trials",
    "step_meets",
    "summarize_trial",
    "sweep_concurrency",
]

DEFAULT_CONCURRENCIES: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
"""Client concurrencies swept per trial, lowest first."""


@dataclass(frozen=True)
class StepResult:
    """What one concurrency step measured.

    Attributes:
        concurrency: Requests in flight.
        requests: Requests completed or failed.
        failures: Failed requests.
        duration_s: Wall time of the step, seconds.
        throughput_rps: Successful requests per second.
        p50_ms: Median client latency, milliseconds (None without successes).
        p95_ms: 95th percentile, milliseconds.
        p99_ms: 99th percentile, milliseconds.
        queue_ms: Server queueing per request (Triton statistics), milliseconds.
        compute_ms: Server compute per request (input + infer + output), milliseconds.
        mean_batch_size: Rows per execution the server actually formed.
    """

    concurrency: int
    requests: int
    failures: int
    duration_s: float
    throughput_rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    queue_ms: float | None = None
    compute_ms: float | None = None
    mean_batch_size: float | None = None

    @property
    def error_ratio(self) -> float:
        """Failed / all requests (1.0 when nothing was sent)."""
        return self.failures / self.requests if self.requests else 1.0

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepResult:
        """Inverse of :meth:`as_dict`."""
        return cls(**dict(data))


def step_meets(step: StepResult, p99_target_ms: float, max_error_ratio: float) -> bool:
    """Whether a step counts at the target: p99 within it and errors within bounds."""
    return (step.p99_ms is not None and step.p99_ms <= p99_target_ms
            and step.requests > step.failures and step.error_ratio <= max_error_ratio)


def sweep_concurrency(
    concurrencies: Sequence[int],
    measure_step: Callable[[int], StepResult],
    p99_target_ms: float,
    *,
    max_error_ratio: float = 0.01,
    min_gain: float | None = None,
    patience: int = 2,
) -> list[StepResult]:
    """Measure rising concurrencies until the target breaks or throughput stops growing.

    Args:
        concurrencies: Levels to try, lowest first (each >= 1).
        measure_step: Runs one bounded step at a concurrency and returns its result.
        p99_target_ms: The latency target.
        max_error_ratio: Highest error ratio a step may have and still count.
        min_gain: Relative throughput gain below which a step counts as not gaining;
            None (default) never ends a sweep for saturation: batching often keeps
            gaining at high concurrency after a noisy flat step.
        patience: Consecutive steps over the target, or without gain, after which the
            sweep ends (more than one, so a single noisy step does not end it).

    Returns:
        The measured steps, in order (at least one).

    Raises:
        TuneError: ``concurrencies`` is empty, unsorted or holds a level below 1.
    """
    levels = list(concurrencies)
    if not levels or any(c < 1 for c in levels) or levels != sorted(set(levels)):
        raise TuneError(f"concurrencies: need distinct levels >= 1 in rising order, got {levels}")
    steps: list[StepResult] = []
    best_rps = 0.0
    strikes = misses = 0
    for level in levels:
        step = measure_step(level)
        steps.append(step)
        if not step_meets(step, p99_target_ms, max_error_ratio):
            misses += 1
            if misses >= patience:
                break
            continue
        misses = 0
        if min_gain is not None and best_rps > 0 \
                and step.throughput_rps < best_rps * (1.0 + min_gain):
            strikes += 1
            if strikes >= patience:
                break
        else:
            strikes = 0
        best_rps = max(best_rps, step.throughput_rps)
    return steps


def best_step(steps: Sequence[StepResult], p99_target_ms: float,
              max_error_ratio: float = 0.01) -> StepResult | None:
    """The step with the highest throughput that meets the target (None if none does)."""
    meeting = [s for s in steps if step_meets(s, p99_target_ms, max_error_ratio)]
    if not meeting:
        return None
    return max(meeting, key=lambda s: (s.throughput_rps, -s.concurrency))


@dataclass(frozen=True)
class TrialResult:
    """One candidate, measured.

    Attributes:
        candidate: The configuration tried.
        feasible: True when some step met the target.
        throughput_rps: Best throughput at the target (0 when infeasible).
        p99_ms: p99 at that step; when infeasible, the lowest p99 measured.
        concurrency: Concurrency of that step (None without steps).
        queue_ms: Server queueing per request at that step.
        compute_ms: Server compute per request at that step.
        mean_batch_size: Batch size formed at that step.
        steps: Every step of the sweep.
        error: Why the candidate could not be measured (load failure), else None.
    """

    candidate: Candidate
    feasible: bool
    throughput_rps: float
    p99_ms: float | None
    concurrency: int | None
    queue_ms: float | None = None
    compute_ms: float | None = None
    mean_batch_size: float | None = None
    steps: tuple[StepResult, ...] = field(default=())
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (``config`` is the candidate)."""
        return {
            "config": self.candidate.as_dict(),
            "label": self.candidate.label,
            "feasible": self.feasible,
            "throughput_rps": self.throughput_rps,
            "p99_ms": self.p99_ms,
            "concurrency": self.concurrency,
            "queue_ms": self.queue_ms,
            "compute_ms": self.compute_ms,
            "mean_batch_size": self.mean_batch_size,
            "steps": [s.as_dict() for s in self.steps],
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrialResult:
        """Inverse of :meth:`as_dict`."""
        return cls(
            candidate=Candidate.from_dict(data["config"]),
            feasible=bool(data["feasible"]),
            throughput_rps=float(data["throughput_rps"]),
            p99_ms=data["p99_ms"],
            concurrency=data["concurrency"],
            queue_ms=data.get("queue_ms"),
            compute_ms=data.get("compute_ms"),
            mean_batch_size=data.get("mean_batch_size"),
            steps=tuple(StepResult.from_dict(s) for s in data.get("steps", ())),
            error=data.get("error"),
        )


def summarize_trial(candidate: Candidate, steps: Sequence[StepResult], p99_target_ms: float,
                    max_error_ratio: float = 0.01) -> TrialResult:
    """Reduce a sweep to the trial's figures (see :class:`TrialResult`)."""
    best = best_step(steps, p99_target_ms, max_error_ratio)
    if best is not None:
        return TrialResult(candidate, True, best.throughput_rps, best.p99_ms, best.concurrency,
                           best.queue_ms, best.compute_ms, best.mean_batch_size, tuple(steps))
    measured = [s for s in steps if s.p99_ms is not None]
    if not measured:
        return TrialResult(candidate, False, 0.0, None, None, steps=tuple(steps),
                           error="no request succeeded")
    lowest = min(measured, key=lambda s: (s.p99_ms or 0.0, s.concurrency))
    return TrialResult(candidate, False, 0.0, lowest.p99_ms, lowest.concurrency,
                       lowest.queue_ms, lowest.compute_ms, lowest.mean_batch_size, tuple(steps))


def merge_trials(results: Sequence[TrialResult]) -> TrialResult:
    """Combine repeated measurements of one candidate into one figure.

    Throughput is the mean over the measurements (one that missed the target counts as
    0), p99 the mean over those that met it; the steps are the first measurement's.

    Raises:
        TuneError: ``results`` is empty or mixes candidates.
    """
    if not results or len({r.candidate for r in results}) != 1:
        raise TuneError("merge_trials: need measurements of exactly one candidate")
    if len(results) == 1:
        return results[0]
    rps = sum(r.throughput_rps for r in results) / len(results)
    meeting = [r for r in results if r.feasible and r.p99_ms is not None]
    if not meeting or rps <= 0:
        lowest = min(results, key=lambda r: float("inf") if r.p99_ms is None else r.p99_ms)
        return replace(lowest, feasible=False, throughput_rps=0.0)
    best = max(meeting, key=lambda r: r.throughput_rps)
    p99 = sum(r.p99_ms or 0.0 for r in meeting) / len(meeting)
    return replace(best, throughput_rps=rps, p99_ms=p99, steps=results[0].steps)


def failed_trial(candidate: Candidate, error: str) -> TrialResult:
    """A trial whose candidate could not be loaded or measured."""
    return TrialResult(candidate, False, 0.0, None, None, error=error)
