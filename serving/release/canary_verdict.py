"""The canary's verdict at one traffic step: a pure function of the step's figures.

:func:`judge_step` compares what the canary version answered in a step's window with
what the baseline version answered in the same window, and with the thresholds of
:class:`CanaryThresholds` (options and ``loadtests/targets.toml``). It reads no server
and no clock, so every decision can be replayed from the figures in the report.

Checks, in order:

- ``traffic``: the canary answered at least ``min_requests`` in the window (fewer:
  the step is inconclusive, not failed);
- ``error_ratio``: canary failures / requests <= ``max_error_ratio``, and not more
  than ``max_error_ratio_increase`` above the baseline's ratio;
- ``latency``: the canary's server time per request (queue + compute, Triton's own
  counters) <= baseline * ``max_latency_ratio`` + ``latency_slack_ms``;
- ``p99``: the canary's p99 <= ``max_p99_ms`` (only when a p99 was measured);
- ``outputs``: no validation entry answered differently (only when checked).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

from serving.release.errors import ReleaseInputError

__all__ = [
    "CanaryThresholds",
    "CheckName",
    "CheckResult",
    "Decision",
    "OutputCheck",
    "StepVerdict",
    "WindowMetrics",
    "judge_step",
]


class Decision(str, enum.Enum):
    """What a step's analysis concludes."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


class CheckName(str, enum.Enum):
    """The checks of a step, in the order they are made."""

    TRAFFIC = "traffic"
    ERROR_RATIO = "error_ratio"
    LATENCY = "latency"
    P99 = "p99"
    OUTPUTS = "outputs"


def _number(field_name: str, value: object, *, ratio: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0 or (ratio and value > 1):
        bound = "a ratio in [0, 1]" if ratio else "a finite number >= 0"
        raise ReleaseInputError(field_name, f"must be {bound}, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class CanaryThresholds:
    """The limits a canary step must stay within.

    Attributes:
        max_error_ratio: Highest canary failures / requests (targets' ``max_error_ratio``).
        max_error_ratio_increase: Highest canary ratio minus the baseline's ratio.
        max_latency_ratio: Highest canary / baseline server time per request.
        latency_slack_ms: Milliseconds allowed on top of baseline * ``max_latency_ratio``
            (sub-millisecond models jitter by more than any ratio).
        max_p99_ms: Highest canary p99 (targets' ``p99_ms``), when a p99 is measured.
        min_requests: Canary requests a window needs before it is judged.
    """

    max_error_ratio: float = 0.01
    max_error_ratio_increase: float = 0.005
    max_latency_ratio: float = 1.5
    latency_slack_ms: float = 2.0
    max_p99_ms: float = 4000.0
    min_requests: int = 20

    def __post_init__(self) -> None:
        _number("max_error_ratio", self.max_error_ratio, ratio=True)
        _number("max_error_ratio_increase", self.max_error_ratio_increase, ratio=True)
        _number("latency_slack_ms", self.latency_slack_ms)
        _number("max_p99_ms", self.max_p99_ms)
        if _number("max_latency_ratio", self.max_latency_ratio) < 1:
            raise ReleaseInputError("max_latency_ratio",
                                    f"must be >= 1, got {self.max_latency_ratio!r}")
        if not isinstance(self.min_requests, int) or isinstance(self.min_requests, bool) \
                or self.min_requests < 1:
            raise ReleaseInputError("min_requests",
                                    f"must be an integer >= 1, got {self.min_requests!r}")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"max_error_ratio": self.max_error_ratio,
                "max_error_ratio_increase": self.max_error_ratio_increase,
                "max_latency_ratio": self.max_latency_ratio,
                "latency_slack_ms": self.latency_slack_ms, "max_p99_ms": self.max_p99_ms,
                "min_requests": self.min_requests}


@dataclass(frozen=True)
class WindowMetrics:
    """What one version answered in one step's window (summed over replicas).

    Attributes:
        requests: Requests answered (successes and failures).
        failures: Requests that failed.
        latency_ms: Server time per successful request: queue + compute, milliseconds
            (None without a success).
        p99_ms: The version's p99, when measured (Triton's summaries, or Prometheus).
        source: Where the figures come from (``metrics`` or ``prometheus``).
    """

    requests: int
    failures: int
    latency_ms: float | None
    p99_ms: float | None = None
    source: str = "metrics"

    @property
    def error_ratio(self) -> float | None:
        """failures / requests (None without a request)."""
        return self.failures / self.requests if self.requests > 0 else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"requests": self.requests, "failures": self.failures,
                "error_ratio": self.error_ratio, "latency_ms": self.latency_ms,
                "p99_ms": self.p99_ms, "source": self.source}


@dataclass(frozen=True)
class OutputCheck:
    """The canary's answers to the validation entries of the model's input data.

    Attributes:
        checked: Entries sent (pinned to the canary version, on a canary replica).
        mismatched: Entries whose outputs differ from ``validation_data``.
        problems: What differed, the first few.
    """

    checked: int
    mismatched: int
    problems: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"checked": self.checked, "mismatched": self.mismatched,
                "problems": list(self.problems)}


@dataclass(frozen=True)
class CheckResult:
    """One check of a step, with its numbers.

    Attributes:
        name: The check.
        passed: Whether it held (True for an inconclusive traffic check is never set).
        canary: The canary's value.
        baseline: The baseline's value (None when not compared).
        limit: The limit the canary's value was held to.
        detail: One line a person reads.
    """

    name: CheckName
    passed: bool
    canary: float | None
    baseline: float | None
    limit: float | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"name": self.name.value, "passed": self.passed, "canary": self.canary,
                "baseline": self.baseline, "limit": self.limit, "detail": self.detail}


@dataclass(frozen=True)
class StepVerdict:
    """The decision of one step and the checks behind it.

    Attributes:
        decision: Pass, fail or inconclusive.
        checks: Every check made.
    """

    decision: Decision
    checks: tuple[CheckResult, ...] = field(default_factory=tuple)

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        """The checks that failed."""
        return tuple(c for c in self.checks if not c.passed)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"decision": self.decision.value, "checks": [c.as_dict() for c in self.checks]}


def _ratio_check(canary: WindowMetrics, baseline: WindowMetrics,
                 limits: CanaryThresholds) -> CheckResult:
    ratio = canary.error_ratio or 0.0
    base = baseline.error_ratio
    limit = limits.max_error_ratio
    if base is not None:
        limit = min(limit, base + limits.max_error_ratio_increase)
        limit = max(limit, 0.0)
    passed = ratio <= limit
    return CheckResult(CheckName.ERROR_RATIO, passed, ratio, base, limit,
                       f"canary {canary.failures}/{canary.requests} failed ({ratio:.4f}), "
                       f"baseline {base if base is None else round(base, 4)}, "
                       f"limit {limit:.4f}")


def _latency_check(canary: WindowMetrics, baseline: WindowMetrics,
                   limits: CanaryThresholds) -> CheckResult | None:
    if canary.latency_ms is None or baseline.latency_ms is None:
        return None
    limit = baseline.latency_ms * limits.max_latency_ratio + limits.latency_slack_ms
    passed = canary.latency_ms <= limit
    return CheckResult(CheckName.LATENCY, passed, canary.latency_ms, baseline.latency_ms, limit,
                       f"queue+compute per request: canary {canary.latency_ms:.2f} ms, "
                       f"baseline {baseline.latency_ms:.2f} ms, limit {limit:.2f} ms "
                       f"(x{limits.max_latency_ratio:g} + {limits.latency_slack_ms:g} ms)")


def judge_step(canary: WindowMetrics, baseline: WindowMetrics, limits: CanaryThresholds,
               outputs: OutputCheck | None = None) -> StepVerdict:
    """Judge one step: the canary against the baseline and the limits.

    A failed output or error check fails the step even with little traffic (one wrong
    answer is proof enough); latency needs ``min_requests`` canary requests, and
    without them the step is inconclusive.

    Args:
        canary: What the canary version answered in the window.
        baseline: What the baseline version answered in the same window.
        limits: The thresholds.
        outputs: The validation entries' result on the canary, when checked.

    Returns:
        The decision with every check made.
    """
    checks: list[CheckResult] = []
    if outputs is not None:
        checks.append(CheckResult(
            CheckName.OUTPUTS, outputs.mismatched == 0, float(outputs.mismatched), None, 0.0,
            f"{outputs.mismatched} of {outputs.checked} validation entries differ"
            + (f": {'; '.join(outputs.problems[:3])}" if outputs.problems else "")))
    if canary.requests > 0:
        checks.append(_ratio_check(canary, baseline, limits))
    enough = canary.requests >= limits.min_requests
    traffic = CheckResult(CheckName.TRAFFIC, enough, float(canary.requests), None,
                          float(limits.min_requests),
                          f"canary answered {canary.requests} requests in the window "
                          f"(at least {limits.min_requests} needed to judge latency)")
    if any(not c.passed for c in checks):
        return StepVerdict(Decision.FAIL, (*checks, traffic))
    if not enough:
        return StepVerdict(Decision.INCONCLUSIVE, (traffic, *checks))
    latency = _latency_check(canary, baseline, limits)
    if latency is not None:
        checks.append(latency)
    if canary.p99_ms is not None:
        checks.append(CheckResult(
            CheckName.P99, canary.p99_ms <= limits.max_p99_ms, canary.p99_ms, baseline.p99_ms,
            limits.max_p99_ms, f"canary p99 {canary.p99_ms:.1f} ms, limit "
            f"{limits.max_p99_ms:g} ms"))
    decision = Decision.PASS if all(c.passed for c in checks) else Decision.FAIL
    return StepVerdict(decision, (traffic, *checks))
