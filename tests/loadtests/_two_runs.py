"""Helper for test_plugin_live.py: two locust runs in ONE process, each with its own
Environment and report folder. Run as a subprocess (importing locust monkey-patches the
process with gevent, which must not happen inside pytest).

Usage: python tests/loadtests/_two_runs.py HTTP_URL REPORT_ROOT RUN_S
"""

from __future__ import annotations

import sys
from pathlib import Path

import gevent
from gevent.event import Event
from locust import events
from locust.argument_parser import parse_options
from locust.env import Environment
from locust.runners import LocalRunner

from loadtests.plugin import register
from loadtests.users import ModelUser


def _stop(runner: LocalRunner, stopped: Event) -> None:
    runner.quit()
    stopped.set()


def main(host: str, root: Path, run_s: float) -> int:
    register(events)
    for index in (1, 2):
        options = parse_options(args=[
            "--headless", "--host", host, "--model", "recommendation", "--protocol", "http",
            "--report-dir", str(root / f"run{index}"), "--users", "2",
            # lax targets: a functional test must not depend on loadtests/targets.toml
            # (a 10 s VM pause once failed max_gap_s = 5 here)
            "--p50-ms", "10000", "--p95-ms", "10000", "--p99-ms", "10000", "--min-rps", "0",
            "--max-gap-s", "30",
        ])
        environment = Environment(user_classes=[ModelUser], events=events,
                                  host=host, parsed_options=options)
        runner = environment.create_local_runner()
        events.init.fire(environment=environment, runner=runner, web_ui=None)
        stopped = Event()
        runner.start(2, spawn_rate=2)
        gevent.spawn_later(run_s, _stop, runner, stopped)
        if not stopped.wait(timeout=run_s + 30):
            return 3
        events.quitting.fire(environment=environment, reverse=True)
        print(f"run {index}: exit code {environment.process_exit_code}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])))
