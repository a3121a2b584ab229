"""The ``steady`` drill: one phase of steady load; passes if nothing failed or was shed.

It is the smallest drill, and the baseline the others compare against::

    python -m loadtests drill steady --model recommendation --protocol grpc \
        --users 4 --duration 30s --report-dir .reports/drill-steady
"""

from __future__ import annotations

from loadtests.drills import Drill, DrillContext, register

__all__ = ["Steady"]


@register
class Steady(Drill):
    """Steady load for the whole duration, one phase named ``steady``."""

    name = "steady"
    summary = "steady load, one phase: the baseline (passes if nothing failed or was shed)"
    description = ("Run --users typed-client users for --duration and report the phase. "
                   "It proves the framework and gives the steady p99 other drills "
                   "compare against.")
    default_users = 4
    default_duration_s = 30.0

    def run(self, ctx: DrillContext) -> None:
        """Hold one phase until the load ends."""
        assert ctx.load is not None
        with ctx.timeline.phase("steady"):
            ctx.load.hold_until_end()
