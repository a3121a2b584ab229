"""SIGINT and SIGTERM in the foreground ``serve`` commands (one server or replicas)."""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

__all__ = ["Interrupted", "StopSignals"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """Raised by the signal handler while the command is still starting."""


class StopSignals:
    """SIGINT and SIGTERM handlers for the duration of a ``with`` block.

    While :attr:`starting` is True a signal raises :class:`Interrupted` (a start can
    block for long); afterwards it only sets :attr:`stop`, which the serving loop waits
    on. The previous handlers come back when the block exits::

        with StopSignals() as signals:
            start()
            signals.starting = False
            while not signals.stop.wait(0.5):
                ...

    Attributes:
        stop: Set by the first signal.
        starting: Whether a signal interrupts (True until the caller says started).
    """

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.starting = True
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        self._previous = {sig: signal.signal(sig, self._on_signal) for sig in _SIGNALS}
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.starting = False
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop.set()
        if self.starting:
            raise Interrupted
