"""Runs that always end with a verdict that cannot lie.

A server frozen mid-run (SIGSTOP) fails the run on its unfinished calls and its silence,
and the run still ends by itself; a user stuck where locust's stop cannot reach it is
stopped by the run's watchdog, which names the call in its report and exits 3.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loadtests.models import RECOMMENDATION
from serving import TritonServer

_LAX = ["--p50-ms", "100000", "--p95-ms", "100000", "--p99-ms", "100000", "--min-rps", "0",
        "--max-error-ratio", "1", "--max-shed-ratio", "1"]
_RUN_S = 12
_STOP_TIMEOUT_S = 5.0  # the runner's default


def _success_count(server: TritonServer) -> int:
    url = f"{server.http_url}/v2/models/{RECOMMENDATION}/stats"
    with urllib.request.urlopen(url, timeout=5) as response:
        stats = json.load(response)
    return int(sum(m["inference_stats"]["success"]["count"] for m in stats["model_stats"]))


def _wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_run_fails_on_unfinished_calls_and_silence_when_the_server_freezes_midway(
        start_triton: Callable[..., TritonServer], repo_root: Path, tmp_path: Path,
        protocol: str) -> None:
    repository = tmp_path / "repo"
    shutil.copytree(repo_root / "model_repository" / RECOMMENDATION,
                    repository / RECOMMENDATION)
    server = start_triton(repository)
    host = server.http_url if protocol == "http" else server.grpc_url
    report_dir = tmp_path / "report"
    started = time.monotonic()
    run = subprocess.Popen(
        [sys.executable, "-m", "loadtests", "run", "--model", RECOMMENDATION,
         "--protocol", protocol, "--users", "4", "--spawn-rate", "4",
         "--duration", f"{_RUN_S}s", "--host", host, "--report-dir", str(report_dir),
         "--quiet", *_LAX],
        cwd=repo_root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert server.pid is not None
    try:
        assert _wait_for(lambda: _success_count(server) >= 200, 60), "no load reached Triton"
        os.kill(server.pid, signal.SIGSTOP)
        output, _ = run.communicate(timeout=150)
    finally:
        os.kill(server.pid, signal.SIGCONT)
        if run.poll() is None:
            run.kill()
    wall_s = time.monotonic() - started

    assert run.returncode == 1, output[-3000:]
    report: dict[str, Any] = json.loads((report_dir / "report.json").read_text())
    client = report["client"][RECOMMENDATION]
    assert client["unfinished"] >= 1, client
    assert client["max_gap_s"] >= 3.0, client
    failed = {v["target"] for v in report["targets"] if not v["passed"]}
    assert failed == {"max_unfinished_ratio", "max_gap_s"}, report["targets"]
    assert report["hung"] is None and report["passed"] is False
    assert "unfinished" in (report_dir / "report.md").read_text()
    # It ended by itself: its load, the stop timeout, and start-up and reporting, well
    # within the watchdog's budget (stop timeout + 15 s).
    assert wall_s < _RUN_S + _STOP_TIMEOUT_S + 60, f"the run took {wall_s:.0f} s"


def _run_locustfile(repo_root: Path, tmp_path: Path, source: str,
                    *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run a test's own locustfile for 2 s against a closed port; return it and its report
    folder."""
    locustfile = tmp_path / "test_locustfile.py"
    locustfile.write_text(source, encoding="utf-8")
    report_dir = tmp_path / "report"
    env = dict(os.environ, PYTHONPATH=str(repo_root))
    done = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
         "--host", "http://127.0.0.1:9", "--run-time", "2s", "--model", RECOMMENDATION,
         "--protocol", "http", "--report-dir", str(report_dir), *args],
        cwd=repo_root, capture_output=True, text=True, timeout=90, env=env)
    return done, report_dir


_STUCK_LOCUSTFILE = textwrap.dedent('''
    import grpc.experimental.gevent as grpc_gevent
    grpc_gevent.init_gevent()
    import gevent
    from locust import events
    from loadtests.plugin import register
    from loadtests.users import ModelUser

    register(events)

    class StuckCall:
        """A call that locust's stop cannot end: it swallows every kill."""

        model = "recommendation"

        def call(self, client):
            while True:
                try:
                    gevent.sleep(60)
                except BaseException:
                    pass

    class StuckUser(ModelUser):
        def on_start(self):
            self.client, self.calls = object(), StuckCall()

        def on_stop(self):
            pass
''')


@pytest.mark.timeout(120)
def test_watchdog_stops_a_run_whose_user_ignores_the_stop_and_names_its_call(
        repo_root: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    done, report_dir = _run_locustfile(
        repo_root, tmp_path, _STUCK_LOCUSTFILE, "--users", "1", "--spawn-rate", "1",
        "--stop-timeout", "1", "--stop-grace-s", "3", "--skip-targets", "StuckUser")
    wall_s = time.monotonic() - started

    assert done.returncode == 3, (done.stdout + done.stderr)[-3000:]
    assert "did not end by itself" in done.stdout + done.stderr
    report: dict[str, Any] = json.loads((report_dir / "report.json").read_text())
    assert report["passed"] is False
    hung = report["hung"]
    assert [call["user"].split("#")[0] for call in hung["in_flight"]] == ["StuckUser"]
    assert hung["in_flight"][0]["waited_s"] >= 1.0
    assert hung["stop_budget_s"] == 4.0
    assert report["client"][RECOMMENDATION]["unfinished"] == 1
    assert wall_s < 60, f"the watchdog took {wall_s:.0f} s"


_QUICK_LOCUSTFILE = textwrap.dedent('''
    import gevent
    from locust import events
    from loadtests.calls import CallResult
    from loadtests.plugin import register
    from loadtests.users import ModelUser

    register(events)

    class QuickCall:
        """A call that yields once, as a fast answer (a shed call: 1 ms) does."""

        model = "recommendation"

        def call(self, client):
            gevent.sleep(0)
            return CallResult(length=1, context={})

    class QuickUser(ModelUser):
        def on_start(self):
            self.client, self.calls = object(), QuickCall()

        def on_stop(self):
            pass
''')


@pytest.mark.timeout(120)
def test_graceful_stop_leaves_no_call_unfinished_when_users_stop_between_fast_calls(
        repo_root: Path, tmp_path: Path) -> None:
    # Locust kills a user it finds waiting between tasks with a loop callback; a user
    # whose wait of 0 ended first had already sent its next call, and the kill landed in
    # it: unfinished calls at the start of the stop timeout, and a run failed on them.
    done, report_dir = _run_locustfile(
        repo_root, tmp_path, _QUICK_LOCUSTFILE, "--users", "20", "--spawn-rate", "20",
        "--stop-timeout", "5", *_LAX, "QuickUser")

    report: dict[str, Any] = json.loads((report_dir / "report.json").read_text())
    client = report["client"][RECOMMENDATION]
    assert client["requests"] > 1000, client
    assert client["unfinished"] == 0, client
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
