"""`python -m loadtests drill steady` end to end against a real Triton (about 10 s each)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from loadtests.drills import read_drill_report
from loadtests.records import read_records
from serving import TritonServer, free_ports

RUN_S = 10
WALL_BOUND_S = RUN_S + 90


def _drill(repo_root: Path, report_dir: Path, host: str, protocol: str,
           *extra: str) -> tuple[int, str, float]:
    command = [sys.executable, "-m", "loadtests", "drill", "steady",
               "--model", "recommendation", "--protocol", protocol, "--users", "2",
               "--duration", f"{RUN_S}s", "--host", host, "--report-dir", str(report_dir),
               "--quiet", *extra]
    started = time.monotonic()
    done = subprocess.run(command, cwd=repo_root, capture_output=True, text=True,
                          timeout=WALL_BOUND_S)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


@pytest.mark.timeout(WALL_BOUND_S + 30)
def test_steady_drill_passes_and_writes_every_report_file_when_server_is_healthy(
    triton_server: TritonServer, repo_root: Path, tmp_path: Path
) -> None:
    code, output, wall_s = _drill(repo_root, tmp_path, triton_server.grpc_url, "grpc",
                                  "--stats-url", triton_server.http_url)

    assert code == 0, output[-3000:]
    assert wall_s < WALL_BOUND_S
    data: dict[str, Any] = json.loads((tmp_path / "report.json").read_text())
    assert data["passed"] is True
    assert data["protocol"] == "grpc"
    (phase,) = data["phases"]
    assert phase["name"] == "steady"
    assert phase["requests"] > 0 and phase["failures"] == 0
    assert 0 < phase["p50_ms"] <= phase["p99_ms"]
    assert phase["server_requests"] > 0 and phase["server_failures"] == 0
    records = read_records(tmp_path / "requests.jsonl")
    assert len(records) == data["total"]["requests"] >= phase["requests"]
    for name in ("report.md", "drill.png", "locust_stats.csv", "locust_stats_history.csv"):
        assert (tmp_path / name).is_file(), name
    report = read_drill_report(tmp_path / "report.json")
    assert report.passed and report.phases[0].requests == phase["requests"]
    assert "| steady |" in (tmp_path / "report.md").read_text()


@pytest.mark.timeout(WALL_BOUND_S + 30)
def test_steady_drill_exits_one_and_names_the_failed_check_when_server_is_unreachable(
    repo_root: Path, tmp_path: Path
) -> None:
    (closed_port,) = free_ports(1)
    code, output, _wall = _drill(repo_root, tmp_path, f"http://127.0.0.1:{closed_port}",
                                 "http", "--ready-timeout-s", "1")

    assert code == 1, output[-3000:]
    report = read_drill_report(tmp_path / "report.json")
    assert not report.passed
    failed = {c.name for c in report.checks if not c.passed}
    assert {"drill steps completed", "requests were made"} <= failed
    assert "FAIL  requests were made" in output
