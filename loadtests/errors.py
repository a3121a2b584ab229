"""The load-test package's exception tree.

Every error raised on purpose derives from :class:`LoadTestError`::

    LoadTestError
    ├── TargetsError        a targets file or override is malformed (names the field)
    ├── InputDataError      input data cannot be read or generated (names file, entry, tensor)
    ├── ServerStatsError    Triton's statistics or metrics endpoint could not be read
    ├── RunnerError         the locust subprocess or embedded server could not run
    ├── BenchmarkError      a benchmark step failed (names the model and step)
    ├── DrillError          a drill cannot run as asked (names the option or step)
    └── PlotSkipped         a report's plot was not drawn (the report keeps it as a note)
"""

from __future__ import annotations

__all__ = [
    "BenchmarkError",
    "DrillError",
    "InputDataError",
    "LoadTestError",
    "PlotSkipped",
    "RunnerError",
    "ServerStatsError",
    "TargetsError",
]


class LoadTestError(Exception):
    """Base class of every error the load-test package raises on purpose."""


class TargetsError(LoadTestError, ValueError):
    """A latency-targets file or override is malformed.

    Attributes:
        field: Dotted path of the offending field, e.g. ``recommendation.p95_ms``.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class InputDataError(LoadTestError, ValueError):
    """Input data cannot be read or generated for the model (before any load starts)."""


class ServerStatsError(LoadTestError):
    """Triton's statistics extension or Prometheus endpoint could not be read."""


class RunnerError(LoadTestError):
    """The locust subprocess or the embedded server could not be run."""


class BenchmarkError(LoadTestError):
    """A benchmark step failed."""


class DrillError(LoadTestError):
    """A drill cannot run as asked (a bad option, a step that cannot start)."""


class PlotSkipped(LoadTestError):
    """A report's plot was not drawn; the message is the report's note saying why."""
