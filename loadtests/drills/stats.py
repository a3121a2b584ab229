"""Per-phase figures of a drill, computed from the per-request records."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from loadtests.records import Outcome, RequestRecord

__all__ = ["PhaseStats", "phase_stats"]


@dataclass(frozen=True)
class PhaseStats:
    """What the users saw during one phase (requests are placed by their start time).

    Attributes:
        name: Phase name (``total`` for the whole load).
        start_s: Start, seconds after the load started.
        end_s: End, seconds after the load started.
        requests: Calls started in the phase.
        failures: Calls that failed with an error (shed calls are not counted here).
        shed: Calls the server shed (queue full or unavailable after every attempt).
        retries: Retries made (attempts after the first), over every call.
        p50_ms: Median latency of answered calls (ok or failed), None without any.
        p99_ms: 99th-percentile latency of answered calls, None without any.
        max_ms: Slowest answered call, None without any.
        rps: Calls per second over the phase.
        versions: Answers per model version (``unknown`` when a result named none).
        server_requests: Successful requests as Triton's statistics count them.
        server_failures: Failed requests as Triton's statistics count them.
        errors: The distinct error messages, at most five.
        unfinished: Calls still waiting for their answer when the load stopped.
    """

    name: str
    start_s: float
    end_s: float
    requests: int
    failures: int
    shed: int
    retries: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    rps: float
    versions: Mapping[str, int] = field(default_factory=dict)
    server_requests: int | None = None
    server_failures: int | None = None
    errors: Sequence[str] = ()
    unfinished: int = 0

    @property
    def lost(self) -> int:
        """Calls the user did not get an answer to: failed, shed and unfinished."""
        return self.failures + self.shed + self.unfinished

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (``lost`` included)."""
        return {
            "name": self.name, "start_s": self.start_s, "end_s": self.end_s,
            "requests": self.requests, "failures": self.failures, "shed": self.shed,
            "unfinished": self.unfinished, "lost": self.lost, "retries": self.retries,
            "p50_ms": self.p50_ms, "p99_ms": self.p99_ms, "max_ms": self.max_ms, "rps": self.rps,
            "versions": dict(self.versions), "server_requests": self.server_requests,
            "server_failures": self.server_failures, "errors": list(self.errors),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PhaseStats:
        """Build the stats back from :meth:`as_dict`'s output."""
        return cls(
            name=str(data["name"]), start_s=float(data["start_s"]),
            end_s=float(data["end_s"]), requests=int(data["requests"]),
            failures=int(data["failures"]), shed=int(data["shed"]),
            retries=int(data["retries"]), p50_ms=data["p50_ms"], p99_ms=data["p99_ms"],
            max_ms=data["max_ms"], rps=float(data["rps"]),
            versions={str(k): int(v) for k, v in data["versions"].items()},
            server_requests=data.get("server_requests"),
            server_failures=data.get("server_failures"),
            errors=tuple(str(e) for e in data.get("errors", ())),
            unfinished=int(data.get("unfinished", 0)),
        )


def _percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values), q)) if values else None


def phase_stats(name: str, start_s: float, end_s: float, records: Sequence[RequestRecord],
                origin_s: float, *, server_requests: int | None = None,
                server_failures: int | None = None) -> PhaseStats:
    """Compute a phase's figures from the records that started in ``[start_s, end_s)``.

    Args:
        name: Phase name.
        start_s: Start, seconds since the epoch.
        end_s: End, seconds since the epoch.
        records: Every record of the drill (filtered here).
        origin_s: When the load started; reported times are relative to it.
        server_requests: Triton's count of successful requests, when known.
        server_failures: Triton's count of failed requests, when known.
    """
    inside = [r for r in records if start_s <= r.started_at_s < end_s]
    answered = [r.latency_ms for r in inside
                if r.outcome not in (Outcome.SHED, Outcome.UNFINISHED)]
    versions = Counter(r.version or "unknown" for r in inside if r.outcome is Outcome.OK)
    errors = list(dict.fromkeys(r.error for r in inside if r.error))[:5]
    span_s = max(end_s - start_s, 1e-9)
    return PhaseStats(
        name=name,
        start_s=round(start_s - origin_s, 3),
        end_s=round(end_s - origin_s, 3),
        requests=len(inside),
        failures=sum(r.outcome is Outcome.FAILED for r in inside),
        shed=sum(r.outcome is Outcome.SHED for r in inside),
        retries=sum(r.retries for r in inside),
        p50_ms=_percentile(answered, 50),
        p99_ms=_percentile(answered, 99),
        max_ms=max(answered) if answered else None,
        rps=len(inside) / span_s,
        versions=dict(sorted(versions.items())),
        server_requests=server_requests,
        server_failures=server_failures,
        errors=tuple(errors),
        unfinished=sum(r.outcome is Outcome.UNFINISHED for r in inside),
    )
