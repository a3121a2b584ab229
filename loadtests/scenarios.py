"""Load scenarios as pure schedules: how many users to run at each moment.

* ``steady``: ``users`` for the whole run.
* ``ramp``: four equal steps up to ``users`` (a quarter, a half, three quarters, all).
* ``spike``: a baseline of a quarter of ``users`` for 40 % of the run, a sudden spike to
  ``users`` for 20 %, then back to the baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SCENARIOS", "Stage", "format_stages", "parse_stages", "scenario_stages", "stage_at"]

SCENARIOS: tuple[str, ...] = ("steady", "ramp", "spike")
"""Scenario names accepted by :func:`scenario_stages`."""


@dataclass(frozen=True)
class Stage:
    """One step of a schedule.

    Attributes:
        until_s: The stage lasts until this many seconds after the start.
        users: Number of users to run.
        spawn_rate: Users started or stopped per second to reach ``users``.
    """

    until_s: float
    users: int
    spawn_rate: float


def scenario_stages(
    scenario: str, users: int, spawn_rate: float, duration_s: float
) -> list[Stage]:
    """Build the schedule of a scenario.

    Args:
        scenario: One of :data:`SCENARIOS`.
        users: Peak number of users (>= 1).
        spawn_rate: Users per second when ramping normally (> 0).
        duration_s: Length of the whole run in seconds (> 0).

    Returns:
        Stages in time order; the last one ends at ``duration_s``.

    Raises:
        ValueError: Unknown scenario or a non-positive argument.
    """
    if users < 1:
        raise ValueError(f"users must be >= 1, got {users}")
    if spawn_rate <= 0:
        raise ValueError(f"spawn_rate must be > 0, got {spawn_rate}")
    if duration_s <= 0:
        raise ValueError(f"duration_s must be > 0, got {duration_s}")
    if scenario == "steady":
        return [Stage(duration_s, users, spawn_rate)]
    if scenario == "ramp":
        return [
            Stage(duration_s * step / 4, max(1, round(users * step / 4)), spawn_rate)
            for step in range(1, 5)
        ]
    if scenario == "spike":
        baseline = max(1, users // 4)
        sudden = max(spawn_rate, float(users))
        return [
            Stage(duration_s * 0.4, baseline, spawn_rate),
            Stage(duration_s * 0.6, users, sudden),
            Stage(duration_s, baseline, sudden),
        ]
    raise ValueError(f"unknown scenario {scenario!r}; expected one of {SCENARIOS}")


def format_stages(stages: list[Stage]) -> str:
    """Write stages as ``until_s:users:spawn_rate,...`` (the ``--stages`` option)."""
    return ",".join(f"{s.until_s:g}:{s.users}:{s.spawn_rate:g}" for s in stages)


def parse_stages(text: str) -> list[Stage]:
    """Read ``until_s:users[:spawn_rate],...``; the spawn rate defaults to all at once.

    Raises:
        ValueError: A stage is malformed, or the stages are not in time order.
    """
    stages: list[Stage] = []
    for number, item in enumerate(text.split(","), start=1):
        parts = item.strip().split(":")
        try:
            if len(parts) not in (2, 3):
                raise ValueError("expected until_s:users[:spawn_rate]")
            until_s, users = float(parts[0]), int(parts[1])
            spawn_rate = float(parts[2]) if len(parts) == 3 else float(max(users, 1))
        except ValueError as exc:
            raise ValueError(f"stage {number} {item!r}: {exc}") from None
        if users < 0 or spawn_rate <= 0 or until_s <= (stages[-1].until_s if stages else 0):
            raise ValueError(f"stage {number} {item!r}: users must be >= 0, spawn rate > 0 "
                             "and stages must end later than the one before")
        stages.append(Stage(until_s, users, spawn_rate))
    return stages


def stage_at(stages: list[Stage], elapsed_s: float) -> Stage | None:
    """Return the stage running ``elapsed_s`` seconds after the start, None when over."""
    for stage in stages:
        if elapsed_s < stage.until_s:
            return stage
    return None
