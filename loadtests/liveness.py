"""Whether a run's server kept answering: calls in flight, and the longest silence.

Two facts make a verdict that a stopped or frozen server cannot pass:

* a call still waiting for its answer when the run stops is *unfinished*: the users
  register every call here while it is in flight (:class:`CallsInFlight`), so the report
  can count and name them however the run ended;
* :func:`longest_gap_s` finds the longest time with no successful answer, from locust's
  per-second counters (which the master also has in distributed mode).

Nothing here imports locust or gevent; the plugin and the users wire it in.
"""

from __future__ import annotations

import itertools
import math
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["CallInFlight", "CallsInFlight", "calls_in_flight", "longest_gap_s"]


@dataclass(frozen=True)
class CallInFlight:
    """One call that has started and not yet ended.

    Attributes:
        user: The locust user making it (class name and number, ``RecommendationGrpcUser#2``).
        model: The model called.
        started_at_s: When the call started, seconds since the epoch.
    """

    user: str
    model: str
    started_at_s: float

    def as_dict(self, now_s: float) -> dict[str, Any]:
        """Return a JSON-ready dict, with how long the call has waited at ``now_s``."""
        return {"user": self.user, "model": self.model, "started_at_s": self.started_at_s,
                "waited_s": round(max(0.0, now_s - self.started_at_s), 3)}


class CallsInFlight:
    """The calls the users of one run have started and not yet ended.

    ``begin`` and ``end`` run in the users' greenlets; ``snapshot`` may run in another
    thread (the hung-run watchdog): it copies the table in one C-level step.

    Args:
        clock: Wall clock in seconds since the epoch.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._calls: dict[int, CallInFlight] = {}
        self._tokens = itertools.count(1)

    def begin(self, user: str, model: str) -> int:
        """Register a call that starts now; returns the token :meth:`end` takes."""
        token = next(self._tokens)
        self._calls[token] = CallInFlight(user, model, self._clock())
        return token

    def end(self, token: int) -> None:
        """Forget a call that ended, however it ended."""
        self._calls.pop(token, None)

    def snapshot(self) -> list[CallInFlight]:
        """The calls in flight now, oldest first."""
        return sorted(list(self._calls.values()), key=lambda c: c.started_at_s)

    def count_by_model(self) -> dict[str, int]:
        """How many calls are in flight, per model."""
        counts: dict[str, int] = {}
        for call in self.snapshot():
            counts[call.model] = counts.get(call.model, 0) + 1
        return counts


_registries: weakref.WeakKeyDictionary[Any, CallsInFlight] = weakref.WeakKeyDictionary()


def calls_in_flight(environment: Any) -> CallsInFlight:
    """The registry of one locust environment (one run), created on first use."""
    registry = _registries.get(environment)
    if registry is None:
        registry = _registries[environment] = CallsInFlight()
    return registry


def longest_gap_s(answered_per_s: Mapping[int, int], start_s: float, end_s: float) -> float:
    """The longest stretch of ``[start_s, end_s]`` with no answer, to the second.

    Args:
        answered_per_s: Successful answers per whole second of the epoch (locust's
            ``num_reqs_per_sec`` minus ``num_fail_per_sec``).
        start_s: When the load started, seconds since the epoch.
        end_s: When it stopped.

    Returns:
        Seconds. A stretch that touches either end is measured from or to that end; an
        inner stretch of ``n`` silent seconds counts ``n``. A window with no answer at
        all returns its whole length.
    """
    if end_s <= start_s:
        return 0.0
    first, last = math.floor(start_s), math.floor(end_s)
    longest = 0.0
    run_from: int | None = None
    for second in range(first, last + 1):
        if answered_per_s.get(second, 0) > 0:
            if run_from is not None:
                longest = max(longest, _stretch_s(run_from, second, start_s, end_s))
                run_from = None
        elif run_from is None:
            run_from = second
    if run_from is not None:
        longest = max(longest, _stretch_s(run_from, last + 1, start_s, end_s))
    return round(longest, 3)


def _stretch_s(from_second: int, to_second: int, start_s: float, end_s: float) -> float:
    """Length of the silent seconds ``[from_second, to_second)`` clipped to the window."""
    return max(0.0, min(float(to_second), end_s) - max(float(from_second), start_s))
