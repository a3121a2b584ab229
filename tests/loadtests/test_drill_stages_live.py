"""A drill's own load schedule (``Drill.load_stages``) reaches locust: users step up."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from loadtests.cli import build_parser
from loadtests.drills import Drill, DrillContext, Stage, run_drill
from serving import TritonServer


class _StepUp(Drill):
    name = "step-up-test"

    def load_stages(self, ctx: DrillContext) -> list[Stage]:
        return [Stage(4.0, 1, 1.0), Stage(9.0, 3, 3.0)]

    def run(self, ctx: DrillContext) -> None:
        assert ctx.load is not None
        with ctx.timeline.phase("one-user"):
            ctx.hold(4.0)
        with ctx.timeline.phase("three-users"):
            ctx.load.hold_until_end()


@pytest.mark.timeout(150)
def test_drill_steps_users_up_when_it_returns_load_stages(
    triton_server: TritonServer, tmp_path: Path
) -> None:
    args = build_parser().parse_args([
        "drill", "steady", "--model", "recommendation", "--protocol", "http",
        "--duration", "9s", "--host", triton_server.http_url, "--report-dir", str(tmp_path),
        "--quiet"])
    code = run_drill(_StepUp, args, out=io.StringIO())

    assert code == 0
    with (tmp_path / "locust_stats_history.csv").open(encoding="utf-8") as file:
        users = [int(row["User Count"]) for row in csv.DictReader(file)]
    assert users[0] <= 1 and max(users) == 3
    assert users.index(3) > users.index(1)
