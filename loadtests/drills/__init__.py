"""Drills: scripted events (rollouts, failovers, overload) under locust load, judged.

``python -m loadtests drill NAME [options]`` runs one. Every drill has the common
options (``--model``, ``--protocol``, ``--users``, ``--duration``, ``--report-dir``,
``--host``; without ``--host`` the embedded server is started) and writes, into
``--report-dir``: ``report.json`` (at least ``passed``, ``protocol`` and ``phases``,
a list of objects with ``name``, ``requests``, ``failures`` and ``p99_ms``),
``report.md``, ``drill.png`` (latency and answering versions over time, each switch
marked), ``requests.jsonl`` (one record per call) and locust's CSV files. The exit
status is 0 only if the drill passed.

How a drill plugs in
--------------------
Write ``loadtests/drills/<name>.py``, subclass :class:`Drill`, decorate it with
:func:`register`, and add the module name to :data:`BUILTIN_MODULES` (a module that
does not exist yet is skipped)::

    from loadtests.drills import Drill, DrillContext, register

    @register
    class Rollout(Drill):
        name = "rollout"
        summary = "roll a model version out and back under load"

        def add_arguments(self, parser):            # the drill's own options
            parser.add_argument("--to-version", required=True)
            parser.set_defaults(max_attempts=3)     # a common option's default, changed

        def configure(self, ctx):                   # check them; raise DrillError
            ...

        @contextmanager
        def serve(self, ctx):                       # optional: how the server starts
            ...                                     # (default: --host or embedded)

        def prepare(self, ctx):                     # optional: before the load
            ...

        def load_stages(self, ctx):                 # optional: users over time
            return [Stage(10, 4, 4), Stage(30, 24, 24), Stage(40, 4, 4)]

        def run(self, ctx):                         # the steps, while the load runs
            with ctx.timeline.phase("steady"):
                ctx.hold(10)
            with ctx.timeline.phase("rollout"):
                with ctx.timeline.timed("switch to v2") as step:
                    ...                             # step["ok"] = False on a bad step
                ctx.hold(10)
            ctx.details["switch_s"] = 1.2           # lands in report.json "details"

        def checks(self, ctx, result):              # optional: the verdict
            return [*super().checks(ctx, result),
                    Check("v2 answered", result.phase("rollout").versions.get("2", 0) > 0)]

The framework (:func:`run_drill` in :mod:`loadtests.drills.common`) starts locust
with the typed-client users once ``prepare`` returns, calls ``run`` when the first
request is recorded, ends the phase still open when ``run`` returns, waits for locust
to end by itself (bounded), and computes per phase from the per-request records:
requests, failures, shed calls, retries, p50/p99 and the versions that answered (and,
with an HTTP stats URL, Triton's own success and failure counts). An exception in
``run`` stops the load early and fails the check ``drill steps completed``; the
report is still written. ``ctx.check(name, passed, detail)`` records a check while the
drill runs.
"""

from __future__ import annotations

import importlib

from loadtests.drills.common import (
    EXIT_ABORTED,
    EXIT_FAILED,
    EXIT_PASSED,
    Drill,
    DrillContext,
    DrillOptions,
    DrillResult,
    LoadRun,
    add_drill_arguments,
    default_checks,
    run_drill,
)
from loadtests.drills.report import Check, DrillReport, read_drill_report
from loadtests.drills.stats import PhaseStats
from loadtests.drills.timeline import Mark, Phase, Timeline
from loadtests.errors import DrillError
from loadtests.scenarios import Stage

__all__ = [
    "BUILTIN_MODULES",
    "EXIT_ABORTED",
    "EXIT_FAILED",
    "EXIT_PASSED",
    "Check",
    "Drill",
    "DrillContext",
    "DrillOptions",
    "DrillReport",
    "DrillResult",
    "LoadRun",
    "Mark",
    "Phase",
    "PhaseStats",
    "Stage",
    "Timeline",
    "add_drill_arguments",
    "default_checks",
    "drills",
    "get_drill",
    "read_drill_report",
    "register",
    "run_drill",
]

BUILTIN_MODULES: tuple[str, ...] = ("steady", "rollout", "failover", "overload", "canary")
"""Modules of ``loadtests.drills`` imported to fill the registry (missing ones skipped)."""

_REGISTRY: dict[str, type[Drill]] = {}


def register(drill: type[Drill]) -> type[Drill]:
    """Class decorator: make ``drill`` reachable as ``python -m loadtests drill NAME``.

    Raises:
        DrillError: The drill has no name, or another drill has the same name.
    """
    if not drill.name:
        raise DrillError(f"drill class {drill.__name__} has no name")
    known = _REGISTRY.get(drill.name)
    if known is not None and known is not drill:
        raise DrillError(f"drill {drill.name!r} is registered twice "
                         f"({known.__module__} and {drill.__module__})")
    _REGISTRY[drill.name] = drill
    return drill


def _load_builtins() -> None:
    for module in BUILTIN_MODULES:
        name = f"{__name__}.{module}"
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


def drills() -> dict[str, type[Drill]]:
    """Return every registered drill by name (built-in modules are imported first)."""
    _load_builtins()
    return dict(sorted(_REGISTRY.items()))


def get_drill(name: str) -> type[Drill]:
    """Return the drill called ``name``.

    Raises:
        DrillError: No drill has that name (the message lists the known ones).
    """
    known = drills()
    if name not in known:
        raise DrillError(f"unknown drill {name!r}; known: {', '.join(known) or 'none'}")
    return known[name]
