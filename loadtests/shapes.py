"""The locust load shape that plays a scenario (steady, ramp or spike)."""

from __future__ import annotations

import time

from locust import LoadTestShape

from loadtests.scenarios import parse_stages, scenario_stages, stage_at

__all__ = ["DEFAULT_SHAPE_DURATION_S", "ScenarioShape"]

DEFAULT_SHAPE_DURATION_S = 60.0
"""Scenario length when no ``--run-time`` is given (e.g. started from the web UI)."""


class ScenarioShape(LoadTestShape):
    """Plays the scenario named by ``--scenario`` using ``-u``, ``-r`` and ``-t``.

    ``-u`` is the peak number of users, ``-r`` the normal spawn rate and ``-t`` the
    scenario length. ``--stages`` (a drill's own schedule) replaces the scenario. The
    shape runs on the master (or the local runner) only.
    """

    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        """Return the (users, spawn rate) of the current stage, None when finished."""
        runner = self.runner
        options = runner.environment.parsed_options if runner is not None else None
        scenario = str(getattr(options, "scenario", None) or "steady")
        users = int(getattr(options, "num_users", None) or 1)
        spawn_rate = float(getattr(options, "spawn_rate", None) or 1.0)
        duration_s = float(getattr(options, "run_time", None) or DEFAULT_SHAPE_DURATION_S)
        explicit = getattr(options, "stages", None)
        stages = (parse_stages(str(explicit)) if explicit
                  else scenario_stages(scenario, users, spawn_rate, duration_s))
        stage = stage_at(stages, time.perf_counter() - float(self.start_time))
        return None if stage is None else (stage.users, stage.spawn_rate)
