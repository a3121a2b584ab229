"""A drill's timeline: named phases and marks, advanced by the drill while load runs.

Times are wall-clock seconds since the epoch (the locust process stamps its request
records with the same clock). The clock is injected, so the timeline is testable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from loadtests.errors import DrillError

__all__ = ["Mark", "Phase", "Timeline"]


@dataclass
class Phase:
    """One named stretch of a drill.

    Attributes:
        name: Phase name, unique within the drill (e.g. ``steady``, ``rollout-to-2``).
        start_s: Start, seconds since the epoch.
        end_s: End, seconds since the epoch (None while the phase runs).
        server_before: Whatever the timeline's ``snapshot`` hook returned at the start.
        server_after: Whatever it returned at the end.
    """

    name: str
    start_s: float
    end_s: float | None = None
    server_before: Any = None
    server_after: Any = None


@dataclass(frozen=True)
class Mark:
    """A moment worth showing: a switch, a kill, a restart.

    Attributes:
        label: What happened, e.g. ``switch to v2``.
        at_s: When it started, seconds since the epoch.
        kind: ``switch`` (drawn as a line on the plot) or any other word.
        duration_s: How long it took, when it was timed.
        ok: False when the step did not go as planned.
        detail: Free text (an error message, a version number).
    """

    label: str
    at_s: float
    kind: str = "switch"
    duration_s: float | None = None
    ok: bool = True
    detail: str = ""


@dataclass
class Timeline:
    """Phases and marks of one drill.

    Args:
        clock: Wall-clock time in seconds since the epoch.
        snapshot: Called at every phase start and end (e.g. to read Triton's
            statistics); its result is kept on the phase.
    """

    clock: Callable[[], float] = time.time
    snapshot: Callable[[], Any] | None = None
    phases: list[Phase] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)

    @property
    def current(self) -> Phase | None:
        """The running phase, if one runs."""
        if self.phases and self.phases[-1].end_s is None:
            return self.phases[-1]
        return None

    def start_phase(self, name: str) -> Phase:
        """End the running phase (if any) and start ``name`` at the same instant.

        Raises:
            DrillError: A phase of that name already exists.
        """
        if any(p.name == name for p in self.phases):
            raise DrillError(f"phase {name!r} already exists; phase names must be unique")
        now = self.clock()
        snapshot = self._snapshot()
        running = self.current
        if running is not None:
            running.end_s, running.server_after = now, snapshot
        phase = Phase(name, now, server_before=snapshot)
        self.phases.append(phase)
        return phase

    def end_phase(self) -> None:
        """End the running phase; does nothing when none runs."""
        phase = self.current
        if phase is not None:
            phase.end_s = self.clock()
            phase.server_after = self._snapshot()

    @contextmanager
    def phase(self, name: str) -> Iterator[Phase]:
        """Run the block as phase ``name``."""
        phase = self.start_phase(name)
        try:
            yield phase
        finally:
            if phase.end_s is None:
                self.end_phase()

    def mark(self, label: str, *, kind: str = "switch", duration_s: float | None = None,
             ok: bool = True, detail: str = "", at_s: float | None = None) -> Mark:
        """Record a mark (now, unless ``at_s`` is given) and return it."""
        item = Mark(label, self.clock() if at_s is None else at_s, kind, duration_s, ok,
                    detail)
        self.marks.append(item)
        return item

    @contextmanager
    def timed(self, label: str, *, kind: str = "switch") -> Iterator[dict[str, Any]]:
        """Time the block and record it as a mark with its duration.

        The block may set ``info["ok"] = False`` and ``info["detail"] = "..."``; an
        exception marks the step not ok (with the error as detail) and propagates.
        """
        info: dict[str, Any] = {"ok": True, "detail": ""}
        started = self.clock()
        try:
            yield info
        except BaseException as exc:
            info.update(ok=False, detail=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self.mark(label, kind=kind, duration_s=self.clock() - started,
                      ok=bool(info["ok"]), detail=str(info["detail"]), at_s=started)

    def _snapshot(self) -> Any:
        return self.snapshot() if self.snapshot is not None else None
