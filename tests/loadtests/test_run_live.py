"""End-to-end load-test runs through ``python -m loadtests run`` against real Triton.

Each run is short (a few users for a few seconds); together they stay around a minute.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from loadtests.report import read_report
from serving import TritonServer

RUN_S = 10
WALL_BOUND_S = RUN_S + 60  # generous: startup, stop timeout, report writing
# The defaults in loadtests/targets.toml are tight enough to catch a 500 ms stall; a
# functional test must not depend on them, so it passes lax latency targets.
LAX_TARGETS = ("--p50-ms", "10000", "--p95-ms", "10000", "--p99-ms", "10000", "--min-rps", "0",
               "--max-gap-s", "30")


def _run(repo_root: Path, report_dir: Path, host: str, *extra: str,
         model: str = "recommendation", protocol: str = "http",
         duration_s: int = RUN_S) -> tuple[int, str, float]:
    command = [
        sys.executable, "-m", "loadtests", "run",
        "--model", model, "--protocol", protocol, "--scenario", "steady",
        "--users", "2", "--spawn-rate", "2", "--duration", f"{duration_s}s",
        "--host", host, "--report-dir", str(report_dir), "--quiet", *extra,
    ]
    started = time.monotonic()
    done = subprocess.run(command, cwd=repo_root, capture_output=True, text=True,
                          timeout=WALL_BOUND_S + 30)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def _server_args(server: TritonServer) -> list[str]:
    return ["--stats-url", server.http_url, "--metrics-url", server.metrics_url]


@pytest.mark.parametrize("protocol", ["http", "grpc"])
@pytest.mark.parametrize("model", ["image_diagnosis", "recommendation"])
def test_run_exits_zero_with_full_report_when_lax_targets_hold(
    triton_server: TritonServer, repo_root: Path, tmp_path: Path, model: str, protocol: str
) -> None:
    host = triton_server.http_url if protocol == "http" else triton_server.grpc_url
    code, output, wall_s = _run(repo_root, tmp_path, host, *_server_args(triton_server),
                                *LAX_TARGETS, model=model, protocol=protocol)

    assert code == 0, output[-3000:]
    assert "OVERALL: PASS" in output
    assert wall_s < WALL_BOUND_S, f"run took {wall_s:.1f}s for a {RUN_S}s test"
    report: dict[str, Any] = json.loads((tmp_path / "report.json").read_text())
    client = report["client"][model]
    assert client["requests"] > 0
    assert client["failures"] == 0
    assert 0 < client["p50_ms"] <= client["p95_ms"] <= client["p99_ms"]
    assert report["passed"] is True
    assert {v["target"] for v in report["targets"]} == {
        "p50_ms", "p95_ms", "p99_ms", "max_error_ratio", "max_shed_ratio",
        "max_unfinished_ratio", "max_gap_s", "min_rps"}
    assert client["unfinished"] == 0 and client["max_gap_s"] is not None
    assert all(v["passed"] for v in report["targets"])
    server = report["server"][model]
    assert server["success_count"] >= client["requests"]
    assert server["mean_batch_size"] >= 1.0
    assert server["execution_count"] <= server["success_count"]
    assert server["queue_ms"] is not None and server["queue_ms"] >= 0
    assert server["metrics"]["nv_inference_request_success"] >= client["requests"]
    assert model in report["breakdown"]
    for name in ("report.md", "locust.html", "locust_stats.csv"):
        assert (tmp_path / name).is_file(), name
    if model == "image_diagnosis":  # an ensemble: its steps are reported too
        assert set(server["composing"]) == {"image_diagnosis_preprocess",
                                            "image_diagnosis_classifier"}
        for step in server["composing"]:
            assert report["server"][step]["mean_batch_size"] >= 1.0


def test_run_exits_one_and_names_failing_target_when_p95_goal_is_impossible(
    triton_server: TritonServer, repo_root: Path, tmp_path: Path
) -> None:
    code, output, _wall = _run(repo_root, tmp_path, triton_server.http_url,
                               *_server_args(triton_server), "--p95-ms", "0.01")

    assert code == 1, output[-3000:]
    assert "OVERALL: FAIL (recommendation.p95_ms)" in output
    markdown = (tmp_path / "report.md").read_text()
    assert "| recommendation | p95_ms | <= 0.01 |" in markdown
    assert "FAIL" in markdown
    report = json.loads((tmp_path / "report.json").read_text())
    failed = [v["target"] for v in report["targets"] if not v["passed"]]
    assert failed == ["p95_ms"]


def test_run_exits_two_quickly_with_clear_message_when_server_is_not_reachable(
    repo_root: Path, tmp_path: Path
) -> None:
    from serving import free_ports

    (closed_port,) = free_ports(1)
    code, output, wall_s = _run(repo_root, tmp_path, f"grpc://127.0.0.1:{closed_port}",
                                "--ready-timeout-s", "1", protocol="grpc")

    assert code == 2, output[-3000:]
    assert "LOAD TEST ABORTED" in output
    assert "not ready" in output and str(closed_port) in output
    assert wall_s < RUN_S + 30


def test_run_steps_users_up_to_peak_when_scenario_is_ramp(
    triton_server: TritonServer, repo_root: Path, tmp_path: Path
) -> None:
    command = [
        sys.executable, "-m", "loadtests", "run", "--model", "recommendation",
        "--protocol", "http", "--scenario", "ramp", "--users", "4", "--duration", "8s",
        "--host", triton_server.http_url, "--report-dir", str(tmp_path), "--quiet",
    ]
    done = subprocess.run(command, cwd=repo_root, capture_output=True, text=True,
                          timeout=WALL_BOUND_S + 30)

    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    users = [p["users"] for p in json.loads((tmp_path / "report.json").read_text())["timeline"]]
    assert users == sorted(users), users
    assert users[0] < 4 and max(users) == 4


@pytest.mark.timeout(180)
def test_shapeless_locustfile_run_lasts_its_run_time_however_long_locust_took_to_start(
    triton_server: TritonServer, repo_root: Path, tmp_path: Path
) -> None:
    # gevent's loop clock stands still from the loop's creation until it first runs, and
    # locust arms its --run-time timer (at once, in a locustfile with no load shape)
    # before that: start-up work that does not yield (imports, parsing: 1-5 s on a loaded
    # host) counted as run time, and a short run ended as it began. A locustfile whose
    # init takes 3 s without yielding stands for a slow start-up (the pause is the
    # condition under test, not a wait).
    locustfile = tmp_path / "slow_start_locustfile.py"
    locustfile.write_text(
        "from gevent import monkey\n"
        "from locust import events\n"
        "blocking_sleep = monkey.get_original('time', 'sleep')\n"
        "events.init.add_listener(lambda **_: blocking_sleep(3))\n"
        "from loadtests.locustfile import ModelUser  # noqa: E402,F401  (the plugin, no shape)\n"
    )
    run_s = 4
    command = [
        sys.executable, "-m", "locust", "-f", str(locustfile),
        "--headless", "--users", "2", "--spawn-rate", "2", "--run-time", f"{run_s}s",
        "--stop-timeout", "5", "--host", triton_server.http_url, "--model", "recommendation",
        "--protocol", "http", "--scenario", "steady", "--report-dir", str(tmp_path),
        *LAX_TARGETS, "--only-summary",
    ]
    done = subprocess.run(command, cwd=repo_root, capture_output=True, text=True,
                          timeout=WALL_BOUND_S + 30)

    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    report = read_report(tmp_path / "report.json")
    loaded_s = max((p.elapsed_s for p in report.timeline if p.users > 0), default=0.0)
    # samples come once a second: a full 4 s run has users in its sample at 3 s
    assert loaded_s >= run_s - 1, f"a {run_s} s run had users for {loaded_s:.2f} s"
