"""Latency targets: load them from TOML, apply CLI overrides, evaluate a run.

A target file has a ``[default]`` table and one table per model name; every key
(``p50_ms``, ``p95_ms``, ``p99_ms``, ``max_error_ratio``, ``max_shed_ratio``,
``max_unfinished_ratio``, ``max_gap_s``, ``min_rps``) is optional in a model table and
falls back to ``[default]``. Shed calls (the server refused the work: queue full or
unavailable) and unfinished calls (still waiting for an answer when the run stopped)
count apart from errors, each with a target of its own; ``max_gap_s`` bounds the longest
time in which no call was answered, so a server that stops answering fails the run however
few calls were in flight.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from loadtests.errors import TargetsError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "TARGET_NAMES",
    "Measured",
    "TargetVerdict",
    "Targets",
    "all_passed",
    "default_targets_path",
    "evaluate_targets",
    "format_verdict_table",
    "load_targets",
    "parse_targets",
    "targets_for",
]

TARGET_NAMES: tuple[str, ...] = (
    "p50_ms", "p95_ms", "p99_ms", "max_error_ratio", "max_shed_ratio",
    "max_unfinished_ratio", "max_gap_s", "min_rps",
)
"""Every target key, in report order."""

_BUILTIN_DEFAULT: dict[str, float] = {
    "p50_ms": 500.0,
    "p95_ms": 2000.0,
    "p99_ms": 4000.0,
    "max_error_ratio": 0.01,
    "max_shed_ratio": 0.01,
    "max_unfinished_ratio": 0.0,
    "max_gap_s": 5.0,
    "min_rps": 1.0,
}

_RATIOS = ("max_error_ratio", "max_shed_ratio", "max_unfinished_ratio")


@dataclass(frozen=True)
class Targets:
    """The goals one model must meet in a run.

    Attributes:
        p50_ms: Highest acceptable client-side median latency in milliseconds.
        p95_ms: Highest acceptable 95th-percentile latency in milliseconds.
        p99_ms: Highest acceptable 99th-percentile latency in milliseconds.
        max_error_ratio: Highest acceptable failed/total request ratio, in [0, 1].
        max_shed_ratio: Highest acceptable shed/total request ratio, in [0, 1].
        max_unfinished_ratio: Highest acceptable share of calls still unanswered when the
            run stopped, in [0, 1].
        max_gap_s: Longest acceptable time with no successful answer, seconds.
        min_rps: Lowest acceptable throughput in completed requests per second.
    """

    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_error_ratio: float
    max_shed_ratio: float
    max_unfinished_ratio: float
    max_gap_s: float
    min_rps: float

    def with_overrides(self, overrides: Mapping[str, float | None]) -> Targets:
        """Return a copy with every non-None value of ``overrides`` applied.

        Args:
            overrides: Target name to new goal; None leaves the goal unchanged.

        Raises:
            TargetsError: An unknown target name or an invalid value.
        """
        changes: dict[str, float] = {}
        for name, value in overrides.items():
            if value is None:
                continue
            changes[name] = _check_value(f"override.{name}", name, value)
        return replace(self, **changes)

    def as_dict(self) -> dict[str, float]:
        """Return the goals as a plain dict keyed by target name."""
        return asdict(self)


@dataclass(frozen=True)
class Measured:
    """What the client saw for one model over a run.

    Attributes:
        requests: Number of requests sent (shed and unfinished ones included).
        failures: Number of failed requests (errors; shed and unfinished ones are not
            counted here).
        p50_ms: Median latency of answered requests, milliseconds (None without any).
        p95_ms: 95th-percentile latency in milliseconds (None without answered requests).
        p99_ms: 99th-percentile latency in milliseconds (None without answered requests).
        rps: Answered requests per second over the run.
        shed: Requests the server shed (queue full or unavailable after every attempt).
        unfinished: Requests still waiting for their answer when the run stopped.
        max_gap_s: Longest time in the run with no successful answer, seconds (None when
            it was not measured).
    """

    requests: int
    failures: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    rps: float
    shed: int = 0
    unfinished: int = 0
    max_gap_s: float | None = None

    @property
    def error_ratio(self) -> float | None:
        """Failed/total requests, None when no request was sent."""
        return self.failures / self.requests if self.requests else None

    @property
    def shed_ratio(self) -> float | None:
        """Shed/total requests, None when no request was sent."""
        return self.shed / self.requests if self.requests else None

    @property
    def unfinished_ratio(self) -> float | None:
        """Unfinished/total requests, None when no request was sent."""
        return self.unfinished / self.requests if self.requests else None

    def value(self, target: str) -> float | None:
        """Return the measured figure a target is checked against."""
        if target == "max_error_ratio":
            return self.error_ratio
        if target == "max_shed_ratio":
            return self.shed_ratio
        if target == "max_unfinished_ratio":
            return self.unfinished_ratio
        if target == "min_rps":
            return self.rps if self.requests else None
        return getattr(self, target)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class TargetVerdict:
    """The outcome of checking one target.

    Attributes:
        model: Model name.
        target: Target name, e.g. ``p95_ms``.
        goal: The goal from the targets file or CLI.
        measured: What the run measured; None when nothing was measured (fails).
        passed: True when the target held.
    """

    model: str
    target: str
    goal: float
    measured: float | None
    passed: bool

    @property
    def comparison(self) -> str:
        """``>=`` for ``min_rps``, ``<=`` for every other target."""
        return ">=" if self.target == "min_rps" else "<="

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict of the verdict."""
        return {
            "model": self.model,
            "target": self.target,
            "goal": self.goal,
            "comparison": self.comparison,
            "measured": self.measured,
            "passed": self.passed,
        }


def default_targets_path() -> Path:
    """Return the ``targets.toml`` shipped inside this package."""
    return Path(__file__).with_name("targets.toml")


def _check_value(field: str, name: str, value: Any) -> float:
    if name not in TARGET_NAMES:
        raise TargetsError(field, f"unknown target {name!r}; expected one of {TARGET_NAMES}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TargetsError(field, f"must be a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise TargetsError(field, f"must be a finite number >= 0, got {value!r}")
    if name in _RATIOS and number > 1:
        raise TargetsError(field, f"is a ratio in [0, 1], got {value!r}")
    return number


def parse_targets(data: Mapping[str, Any], source: str = "targets") -> dict[str, Targets]:
    """Turn a parsed TOML document into targets per model.

    Args:
        data: The parsed document: ``default`` and model tables.
        source: Name of the document for error messages (usually its path).

    Returns:
        Targets per model name; the key ``default`` holds the fallback.

    Raises:
        TargetsError: A table or key is unknown, or a value is not a valid goal.
    """
    raw_default = data.get("default", {})
    if not isinstance(raw_default, Mapping):
        raise TargetsError(f"{source}:default", "must be a table")
    base = dict(_BUILTIN_DEFAULT)
    for name, value in raw_default.items():
        base[name] = _check_value(f"{source}:default.{name}", name, value)
    result = {"default": Targets(**base)}
    for model, table in data.items():
        if model == "default":
            continue
        if not isinstance(table, Mapping):
            raise TargetsError(f"{source}:{model}", "must be a table of targets")
        values = dict(base)
        for name, value in table.items():
            values[name] = _check_value(f"{source}:{model}.{name}", name, value)
        result[model] = Targets(**values)
    return result


def load_targets(path: Path | None = None) -> dict[str, Targets]:
    """Read a targets TOML file (the packaged defaults when ``path`` is None).

    Raises:
        TargetsError: The file is missing, is not valid TOML, or holds a bad goal.
    """
    target_path = path or default_targets_path()
    try:
        text = target_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TargetsError(str(target_path), f"cannot read targets file: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TargetsError(str(target_path), f"not valid TOML: {exc}") from exc
    return parse_targets(data, str(target_path))


def targets_for(table: Mapping[str, Targets], model: str) -> Targets:
    """Return the targets of ``model``, falling back to the ``default`` entry."""
    if model in table:
        return table[model]
    return table.get("default", Targets(**_BUILTIN_DEFAULT))


def evaluate_targets(model: str, targets: Targets, measured: Measured) -> list[TargetVerdict]:
    """Check every target of one model against what a run measured.

    A target with nothing measured (no requests) fails. ``max_gap_s`` is judged only where
    the run measured it (a locust run always does); a measurement without a timeline (the
    tuner's closed loop) gets no verdict for it.

    Args:
        model: Model name, copied into each verdict.
        targets: The goals.
        measured: The client-side measurement.

    Returns:
        One verdict per target, in :data:`TARGET_NAMES` order.
    """
    verdicts = []
    for name in TARGET_NAMES:
        goal = float(getattr(targets, name))
        value = measured.value(name)
        if name == "max_gap_s" and value is None and measured.requests:
            continue
        if value is None:
            passed = False
        elif name == "min_rps":
            passed = value >= goal
        else:
            passed = value <= goal
        verdicts.append(TargetVerdict(model, name, goal, value, passed))
    return verdicts


def all_passed(verdicts: Iterable[TargetVerdict]) -> bool:
    """True when there is at least one verdict and every verdict passed."""
    items = list(verdicts)
    return bool(items) and all(v.passed for v in items)


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4g}" if abs(value) < 1 else f"{value:.1f}"


def format_verdict_table(verdicts: Iterable[TargetVerdict]) -> str:
    """Render verdicts as a fixed-width text table ending with an overall line."""
    items = list(verdicts)
    header = f"{'model':<28} {'target':<16} {'goal':>12} {'measured':>12}  verdict"
    lines = [header, "-" * len(header)]
    for v in items:
        goal = f"{v.comparison} {_fmt(v.goal)}"
        lines.append(
            f"{v.model:<28} {v.target:<16} {goal:>12} {_fmt(v.measured):>12}  "
            f"{'PASS' if v.passed else 'FAIL'}"
        )
    failed = [f"{v.model}.{v.target}" for v in items if not v.passed]
    if not items:
        lines.append("OVERALL: FAIL (no requests were measured)")
    elif failed:
        lines.append(f"OVERALL: FAIL ({', '.join(failed)})")
    else:
        lines.append("OVERALL: PASS")
    return "\n".join(lines)
