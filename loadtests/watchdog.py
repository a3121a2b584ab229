"""The last line of defence of a locust run: a real OS thread that ends a hung run.

Locust's greenlets share one thread; a user blocked where gevent cannot preempt it, or a
shutdown step that never returns, would keep the run from ever reporting. The watchdog
runs in a real thread (gevent's monkey-patching is bypassed), so it fires even while the
greenlets are stuck. The plugin arms it at the run's start and again when the run begins
to stop; the earliest deadline wins. When it fires it calls ``on_expire`` (which writes
the report and exits the process); nothing else in the run waits for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["Watchdog"]

_POLL_S = 0.2


def _originals() -> tuple[Callable[..., Any], Callable[[float], None], Callable[[], Any]]:
    """``start_new_thread``, ``sleep`` and ``allocate_lock`` as they were before gevent."""
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent comes with locust
        import _thread

        return _thread.start_new_thread, time.sleep, _thread.allocate_lock
    start, lock = monkey.get_original("_thread", ["start_new_thread", "allocate_lock"])
    sleep = monkey.get_original("time", "sleep")
    return start, sleep, lock


class Watchdog:
    """Calls ``on_expire`` once, from its own OS thread, if a deadline passes unmet.

    Args:
        on_expire: What to do when the deadline passes (it should end the process).
        clock: Monotonic clock in seconds.
    """

    def __init__(self, on_expire: Callable[[], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._on_expire = on_expire
        self._clock = clock
        start, self._sleep, allocate_lock = _originals()
        self._lock = allocate_lock()
        self._deadline_s: float | None = None
        self._done = False
        self._started = False
        self._start = start

    @property
    def deadline_s(self) -> float | None:
        """The deadline in force (monotonic seconds), None before :meth:`arm`."""
        return self._deadline_s

    def arm(self, deadline_s: float) -> None:
        """Set the deadline, keeping an earlier one; starts the thread on first use."""
        with self._lock:
            if self._done:
                return
            if self._deadline_s is None or deadline_s < self._deadline_s:
                self._deadline_s = deadline_s
            if not self._started:
                self._started = True
                self._start(self._watch, ())

    def disarm(self) -> None:
        """Stop watching for good (the run ended by itself)."""
        with self._lock:
            self._done = True

    def _due(self) -> bool:
        with self._lock:
            if self._done:
                return False
            if self._deadline_s is not None and self._clock() >= self._deadline_s:
                self._done = True
                return True
            return False

    def _watch(self) -> None:
        while True:
            if self._due():
                self._on_expire()
                return
            with self._lock:
                if self._done:
                    return
            self._sleep(_POLL_S)
