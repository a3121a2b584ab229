"""Canary releases on replicas behind HAProxy: traffic steps, analysis, promote or roll back.

The new version goes onto the *canary* replicas beside the baseline (version policy
``[baseline, target]``: Triton sends unpinned requests to the highest READY version,
so the canary replicas answer unpinned requests with the target, and requests pinned
to the baseline with the baseline). HAProxy's runtime API then gives the canary
replicas their share of new requests at each step (``set server B/S weight N``).

At every step, after ``interval_s``, the replicas' ``/metrics`` are read again and
:func:`~serving.release.canary_verdict.judge_step` compares what the target version
answered with what the baseline version answered in the same window (error ratio,
queue + compute time per request, p99 when Triton exports summaries) and checks the
target's outputs on the validation entries of the model's input data. An inconclusive
step (too little canary traffic) is extended up to ``max_extensions`` times.

- **Promote** (every step passed): the baseline replicas load the target alone, then
  the canary replicas drop the baseline; the weights come back to what they were.
- **Roll back** (a step failed, a step could not be run, or ``stop`` was set by
  SIGINT/SIGTERM): the canary replicas' weight goes to 0, their requests in flight
  finish, they unload the target, and the weights come back.

Pinned clients: a client pinned to the baseline is answered on every replica for the
whole canary (only promotion unloads the baseline). A client pinned to the target is
answered by the canary replicas only; a baseline replica answers it with Triton's
"unknown version" error, so before promotion such a client sees failures in
proportion to the baseline's share (docs/releases.md).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from serving.lb import BACKENDS, HTTP_BACKEND, RuntimeApi
from serving.release.canary_metrics import VersionCounters, read_version_counters, window_metrics
from serving.release.canary_verdict import (
    CanaryThresholds,
    Decision,
    OutputCheck,
    StepVerdict,
    WindowMetrics,
    judge_step,
)
from serving.release.controller import ReleaseController, ServerApi, serving_version
from serving.release.errors import ReleaseError, ReleaseInputError
from serving.release.golden import GoldenCase, GoldenSet, GoldenTensor, compare_outputs

__all__ = [
    "BalancerWeights",
    "CanaryController",
    "CanaryDecision",
    "CanaryReplica",
    "CanaryReport",
    "WeightApi",
    "parse_steps",
    "step_weights",
    "validation_set",
]

_LOG = logging.getLogger("serving.release.canary")
_MAX_WEIGHT = 256
_IDLE_POLL_S = 0.05


class WeightApi(Protocol):
    """What the canary needs from the balancer (a :class:`serving.lb.Balancer` has it)."""

    def set_weight(self, name: str, weight: int) -> None:
        """Set a replica's weight in every backend."""

    def weights(self) -> dict[str, int]:
        """Each replica's current weight."""

    def in_flight(self, name: str) -> int:
        """Requests in flight to a replica."""


@dataclass(frozen=True)
class CanaryReplica:
    """One replica as the canary sees it.

    Attributes:
        name: Server name in the balancer.
        api: Its repository API (prefer gRPC: a load holds an HTTP worker thread).
        metrics_url: Its Prometheus page.
    """

    name: str
    api: ServerApi
    metrics_url: str


@dataclass(frozen=True)
class CanaryDecision:
    """One decision, with the figures it was made on.

    Attributes:
        at_s: Seconds since the canary started.
        action: ``prepare``, ``weights``, ``analysis``, ``extend``, ``promote``,
            ``rollback`` or ``interrupted``.
        step_percent: The traffic step (None outside the steps).
        detail: One line a person reads.
        weights: Replica weights set, when the action set them.
        canary: The canary version's window figures (analysis only).
        baseline: The baseline version's window figures (analysis only).
        verdict: The step's verdict (analysis only).
    """

    at_s: float
    action: str
    step_percent: int | None
    detail: str
    weights: Mapping[str, int] | None = None
    canary: Mapping[str, Any] | None = None
    baseline: Mapping[str, Any] | None = None
    verdict: StepVerdict | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"at_s": round(self.at_s, 3), "action": self.action,
                "step_percent": self.step_percent, "detail": self.detail,
                "weights": None if self.weights is None else dict(self.weights),
                "canary": None if self.canary is None else dict(self.canary),
                "baseline": None if self.baseline is None else dict(self.baseline),
                "verdict": None if self.verdict is None else self.verdict.as_dict()}


@dataclass
class CanaryReport:
    """The whole canary: outcome and every decision.

    Attributes:
        model: Model name.
        baseline_version: The version serving before.
        target_version: The canary version.
        steps: Traffic steps, percent.
        canary_replicas: Replicas that served the target.
        thresholds: The limits each step was held to.
        outcome: ``promoted``, ``rolled_back`` or ``interrupted`` (rolled back).
        serving_version: The version serving unpinned traffic afterwards (None: unknown,
            the restore failed).
        failed_check: The check that decided a rollback (name), if any.
        reason: Why it ended as it did.
        decisions: Every decision, in order.
        duration_s: Whole duration.
        decided_after_s: From the first step's weights to the final decision.
    """

    model: str
    baseline_version: int
    target_version: int
    steps: tuple[int, ...]
    canary_replicas: tuple[str, ...]
    thresholds: CanaryThresholds
    outcome: str = ""
    serving_version: int | None = None
    failed_check: str | None = None
    reason: str = ""
    decisions: list[CanaryDecision] = field(default_factory=list)
    duration_s: float = 0.0
    decided_after_s: float | None = None

    @property
    def promoted(self) -> bool:
        """Whether the target now serves everywhere."""
        return self.outcome == "promoted"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"model": self.model, "baseline_version": self.baseline_version,
                "target_version": self.target_version, "steps": list(self.steps),
                "canary_replicas": list(self.canary_replicas),
                "thresholds": self.thresholds.as_dict(), "outcome": self.outcome,
                "serving_version": self.serving_version, "failed_check": self.failed_check,
                "reason": self.reason, "duration_s": round(self.duration_s, 3),
                "decided_after_s": None if self.decided_after_s is None
                else round(self.decided_after_s, 3),
                "decisions": [d.as_dict() for d in self.decisions]}


class BalancerWeights:
    """:class:`WeightApi` over HAProxy's runtime API (every backend of ``serving.lb``).

    Args:
        api: A :class:`serving.lb.RuntimeApi` (``Balancer.api``, or one on the socket
            a ``serve --replicas`` state file names).
    """

    def __init__(self, api: RuntimeApi) -> None:
        self.api = api

    def set_weight(self, name: str, weight: int) -> None:
        """Set the weight of replica ``name`` in both backends."""
        for backend in BACKENDS:
            self.api.set_weight(backend, name, weight)

    def weights(self) -> dict[str, int]:
        """Each replica's weight (the HTTP backend's; both are always set together)."""
        return {s.server: s.weight for s in self.api.server_stats() if s.backend == HTTP_BACKEND}

    def in_flight(self, name: str) -> int:
        """Requests in flight to replica ``name`` over both backends."""
        return sum(s.current_sessions for s in self.api.server_stats() if s.server == name)


class _Interrupted(ReleaseError):
    """The stop event was set during the canary."""


class _StepFailed(ReleaseError):
    def __init__(self, check: str, reason: str) -> None:
        self.check = check
        super().__init__(reason)


def parse_steps(text: str) -> tuple[int, ...]:
    """``10,25,50,100`` -> (10, 25, 50, 100): increasing percentages ending at 100.

    Raises:
        ReleaseInputError: Naming ``steps``.
    """
    parts = [p.strip() for p in str(text).split(",")]
    if not all(p.isdigit() for p in parts):
        raise ReleaseInputError("steps", f"must be percentages like 10,25,50,100, got {text!r}")
    steps = tuple(int(p) for p in parts)
    if any(b <= a for a, b in itertools.pairwise(steps)) or steps[0] < 1 \
            or steps[-1] != 100:
        raise ReleaseInputError("steps", f"must increase from >= 1 and end at 100, got {text!r}")
    return steps


def step_weights(percent: int, canary: Sequence[str], baseline: Sequence[str]) -> dict[str, int]:
    """HAProxy weights that send ``percent`` % of new requests to the canary replicas.

    Each canary replica gets ``percent * len(baseline)``, each baseline replica
    ``(100 - percent) * len(canary)`` (so the shares hold for any replica counts),
    divided by their greatest common divisor and scaled to HAProxy's 0-256 range.
    """
    raw = {**{name: percent * len(baseline) for name in canary},
           **{name: (100 - percent) * len(canary) for name in baseline}}
    divisor = int(np.gcd.reduce([w for w in raw.values() if w] or [1]))
    reduced = {name: w // divisor for name, w in raw.items()}
    top = max(reduced.values())
    if top <= _MAX_WEIGHT:
        return reduced
    return {name: max(1, round(w * _MAX_WEIGHT / top)) if w else 0
            for name, w in reduced.items()}


def validation_set(model: str, version: int, entries: Sequence[tuple[
        Mapping[str, Any], Mapping[str, Any]]], batched: bool,
        rtol: float = 1e-5, atol: float = 1e-6) -> GoldenSet:
    """Validation entries (inputs, expected outputs; numpy arrays) as golden cases.

    Args:
        model: Model name.
        version: The version they must hold for.
        entries: One (inputs, expected) pair per entry, without the batch dimension
            when ``batched`` (as :class:`loadtests.inputdata.DataEntry` holds them).
        batched: Whether the model batches (a batch dimension of 1 is added).
        rtol: Relative tolerance of floating-point outputs.
        atol: Absolute tolerance.
    """
    def tensors(arrays: Mapping[str, Any]) -> dict[str, GoldenTensor]:
        return {name: GoldenTensor.from_numpy(np.asarray(a)[np.newaxis] if batched
                                              else np.asarray(a))
                for name, a in arrays.items()}

    cases = tuple(GoldenCase(f"validation entry {i}", tensors(inputs), tensors(expected))
                  for i, (inputs, expected) in enumerate(entries) if expected)
    return GoldenSet(model, version, cases, rtol, atol)


class CanaryController:
    """Runs one canary release on replicas behind HAProxy.

    Args:
        model: Model name.
        to_version: The canary (target) version; higher than the serving one.
        replicas: Every replica behind the balancer.
        canary: Names of the replicas that serve the target during the steps.
        weights: The balancer's runtime API.
        repository: Local model repository (golden files of the target).
        steps: Traffic steps, percent, ending at 100.
        interval_s: Analysis window of each step.
        thresholds: Limits of each step.
        validation: Validation entries checked on the canary at every step (None: none).
        max_extensions: Extra windows an inconclusive step gets before it fails.
        stop: Set it (SIGINT/SIGTERM) to end the canary with the baseline restored.
        ready_timeout_s: Bound on a version becoming READY.
        drain_timeout_s: Bound on a canary replica's requests in flight at rollback.
        on_decision: Called with each decision as it is made (progress output).
    """

    def __init__(self, model: str, to_version: int, replicas: Sequence[CanaryReplica],
                 canary: Sequence[str], weights: WeightApi, repository: Path, *,
                 steps: Sequence[int] = (10, 25, 50, 100), interval_s: float = 30.0,
                 thresholds: CanaryThresholds | None = None,
                 validation: GoldenSet | None = None, max_extensions: int = 2,
                 stop: threading.Event | None = None, ready_timeout_s: float = 120.0,
                 drain_timeout_s: float = 30.0,
                 on_decision: Callable[[CanaryDecision], None] | None = None) -> None:
        names = [r.name for r in replicas]
        if not canary or any(name not in names for name in canary):
            raise ReleaseInputError("canary_replicas",
                                    f"must name some of the replicas {names}, got {list(canary)}")
        if len(set(canary)) == len(names):
            raise ReleaseInputError("canary_replicas", "at least one replica must stay on the "
                                    "baseline")
        if not interval_s > 0:
            raise ReleaseInputError("interval", f"must be > 0 s, got {interval_s!r}")
        if not isinstance(max_extensions, int) or max_extensions < 0:
            raise ReleaseInputError("max_extensions", f"must be >= 0, got {max_extensions!r}")
        parse_steps(",".join(str(s) for s in steps))
        self.model = model
        self.target = to_version
        self.replicas = tuple(replicas)
        self.canary = tuple(canary)
        self.baseline_replicas = tuple(n for n in names if n not in self.canary)
        self.weights = weights
        self.steps = tuple(steps)
        self.interval_s = interval_s
        self.thresholds = thresholds or CanaryThresholds()
        self.validation = validation
        self.max_extensions = max_extensions
        self.stop = stop or threading.Event()
        self.drain_timeout_s = drain_timeout_s
        self._on_decision = on_decision
        self._controllers = {r.name: ReleaseController(r.api, repository,
                                                       ready_timeout_s=ready_timeout_s)
                             for r in self.replicas}
        self._started = 0.0
        self._first_step_at: float | None = None
        self._last_baseline: WindowMetrics | None = None

    # ------------------------------------------------------------------ run
    def run(self) -> CanaryReport:
        """Play the steps, then promote or roll back; returns the report.

        Raises:
            ReleaseInputError: Bad model, version or golden file (nothing was changed).
            RepositoryApiError: A replica could not be read before any change.
        """
        self._started = time.monotonic()
        golden = self._controllers[self.canary[0]].golden(self.model, self.target)
        baseline = self._baseline()
        report = CanaryReport(self.model, baseline, self.target, self.steps, self.canary,
                              self.thresholds)
        initial = self.weights.weights()
        configs = {r.name: r.api.config(self.model) for r in self.replicas}
        try:
            self._prepare(report, configs, golden, baseline)
            for percent in self.steps:
                self._step(report, percent, baseline)
            self._promote(report, configs, baseline, initial)
        except (_Interrupted, _StepFailed, ReleaseError) as error:
            interrupted = isinstance(error, _Interrupted)
            report.outcome = "interrupted" if interrupted else "rolled_back"
            report.reason = str(error)
            if isinstance(error, _StepFailed):
                report.failed_check = error.check
            self._rollback(report, configs, baseline, initial)
        report.duration_s = time.monotonic() - self._started
        return report

    # ------------------------------------------------------------------ steps
    def _decide(self, report: CanaryReport, action: str, percent: int | None, detail: str,
                **figures: Any) -> None:
        decision = CanaryDecision(time.monotonic() - self._started, action, percent, detail,
                                  **figures)
        report.decisions.append(decision)
        _LOG.info("canary %s %s: %s%s", self.model, action, detail,
                  "" if percent is None else f" (step {percent} %)")
        if self._on_decision is not None:
            self._on_decision(decision)

    def _baseline(self) -> int:
        serving = {r.name: serving_version(r.api.versions(self.model)) for r in self.replicas}
        versions = set(serving.values())
        if len(versions) != 1 or None in versions:
            raise ReleaseInputError("model", f"the replicas must serve one version of "
                                    f"{self.model!r} to start a canary; they serve {serving}")
        baseline = versions.pop()
        assert baseline is not None
        if self.target <= baseline:
            raise ReleaseInputError(
                "to_version", f"must be above the serving version {baseline}: Triton sends "
                "unpinned requests to the highest loaded version")
        return baseline

    def _set_weights(self, report: CanaryReport, weights: Mapping[str, int],
                     percent: int | None, detail: str) -> None:
        for name, weight in weights.items():
            self.weights.set_weight(name, weight)
        self._decide(report, "weights", percent, detail, weights=dict(weights))

    def _prepare(self, report: CanaryReport, configs: Mapping[str, Mapping[str, Any]],
                 golden: GoldenSet, baseline: int) -> None:
        self._set_weights(report, {name: 0 for name in self.canary}, None,
                          "canary replicas out of the rotation while the target loads")
        for name in self.canary:
            controller = self._controllers[name]
            controller.load_versions(self.model, configs[name], [baseline, self.target])
            controller.wait_ready(self.model, self.target)
            detail = controller.smoke(self.model, self.target, golden)
            self._decide(report, "prepare", None, f"{name}: versions {baseline} and "
                         f"{self.target} READY, {detail}")
            self._check_stop()

    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise _Interrupted("interrupted (SIGINT/SIGTERM): baseline restored")

    def _read(self) -> list[dict[int, VersionCounters]]:
        return [read_version_counters(r.metrics_url, self.model) for r in self.replicas]

    def _outputs(self) -> OutputCheck | None:
        if self.validation is None or not self.validation.cases:
            return None
        replica = next(r for r in self.replicas if r.name == self.canary[0])
        problems: list[str] = []
        mismatched = 0
        for case in self.validation.cases:
            found = compare_outputs(self.validation, case,
                                    replica.api.infer(self.model, self.target, case))
            mismatched += bool(found)
            problems += found
        return OutputCheck(len(self.validation.cases), mismatched, tuple(problems[:3]))

    def _step(self, report: CanaryReport, percent: int, baseline: int) -> None:
        weights = step_weights(percent, self.canary, self.baseline_replicas)
        self._set_weights(report, weights, percent,
                          f"{percent} % of new requests to {', '.join(self.canary)}")
        if self._first_step_at is None:
            self._first_step_at = time.monotonic()
        canary_index = [i for i, r in enumerate(self.replicas) if r.name in self.canary]
        for attempt in range(self.max_extensions + 1):
            before = self._read()
            if self.stop.wait(self.interval_s):
                self._check_stop()
            after = self._read()
            canary = window_metrics(before, after, self.target, canary_index)
            base = window_metrics(before, after, baseline)
            if base.latency_ms is None and self._last_baseline is not None:
                # At 100 % the baseline answers nothing: hold the canary to its last figures.
                base = replace(self._last_baseline, source="previous step")
            elif base.latency_ms is not None:
                self._last_baseline = base
            verdict = judge_step(canary, base, self.thresholds, self._outputs())
            self._decide(report, "analysis", percent,
                         f"{verdict.decision.value}: " + "; ".join(c.detail for c in
                                                                    verdict.checks),
                         canary=canary.as_dict(), baseline=base.as_dict(), verdict=verdict)
            if verdict.decision is Decision.PASS:
                return
            if verdict.decision is Decision.FAIL:
                first = verdict.failed[0]
                raise _StepFailed(first.name.value, f"step {percent} %: {first.name.value} "
                                  f"failed: {first.detail}")
            if attempt < self.max_extensions:
                self._decide(report, "extend", percent, f"inconclusive: window {attempt + 2} "
                             f"of at most {self.max_extensions + 1}")
        raise _StepFailed("traffic", f"step {percent} %: inconclusive after "
                          f"{self.max_extensions + 1} windows: too little canary traffic")

    def _promote(self, report: CanaryReport, configs: Mapping[str, Mapping[str, Any]],
                 baseline: int, initial: Mapping[str, int]) -> None:
        for name in self.baseline_replicas:
            controller = self._controllers[name]
            controller.load_versions(self.model, configs[name], [self.target])
            controller.wait_ready(self.model, self.target)
            controller.wait_unloaded(self.model, baseline)
        self._set_weights(report, dict(initial), None, "weights restored: every replica "
                          f"serves version {self.target}")
        for name in self.canary:
            controller = self._controllers[name]
            controller.load_versions(self.model, configs[name], [self.target])
            controller.wait_unloaded(self.model, baseline)
        report.outcome, report.serving_version = "promoted", self.target
        report.reason = f"every step passed; version {baseline} unloaded"
        report.decided_after_s = time.monotonic() - (self._first_step_at or self._started)
        self._decide(report, "promote", None, f"version {self.target} serves on every "
                     f"replica; version {baseline} unloaded")

    def _wait_idle(self, name: str) -> None:
        deadline = time.monotonic() + self.drain_timeout_s
        while self.weights.in_flight(name) > 0 and time.monotonic() < deadline:
            time.sleep(_IDLE_POLL_S)

    def _rollback(self, report: CanaryReport, configs: Mapping[str, Mapping[str, Any]],
                  baseline: int, initial: Mapping[str, int]) -> None:
        if report.decided_after_s is None and self._first_step_at is not None:
            report.decided_after_s = time.monotonic() - self._first_step_at
        try:
            weights = {name: 0 if name in self.canary else initial.get(name, 1)
                       for name in initial}
            self._set_weights(report, weights, None, "rollback: no new request to the canary")
            for name in self.canary:
                self._wait_idle(name)
                controller = self._controllers[name]
                controller.load_versions(self.model, configs[name], [baseline])
                controller.wait_ready(self.model, baseline)
                controller.wait_unloaded(self.model, self.target)
            self._set_weights(report, dict(initial), None, "weights restored")
        except ReleaseError as error:
            report.serving_version = None
            self._decide(report, "rollback", None, f"ROLLBACK FAILED: {error}")
            return
        report.serving_version = baseline
        self._decide(report, "rollback", None, f"version {baseline} serves alone again: "
                     f"{report.reason}")
