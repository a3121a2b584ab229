"""The locust plugin keeps one recorder per Environment: a second run in one process is
snapshotted and reported like the first (it used to share a module-level state)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.report import read_report
from serving import TritonServer

RUN_S = 3


@pytest.mark.timeout(120)
def test_second_run_in_one_process_gets_its_own_server_snapshots_and_report(
    triton_server: TritonServer, repo_root: Path, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, str(repo_root / "tests" / "loadtests" / "_two_runs.py"),
         triton_server.http_url, str(tmp_path), str(RUN_S)],
        cwd=repo_root, capture_output=True, text=True, timeout=100,
    )

    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    for index in (1, 2):
        report = read_report(tmp_path / f"run{index}" / "report.json")
        (client,) = report.clients
        requests = client.measured.requests
        assert requests > 0
        # Triton counted this run's calls only: snapshots were taken around this run.
        assert requests <= report.server["recommendation"].success_count <= requests + 2
        assert report.timeline and report.timeline[0].elapsed_s < 1.5, report.timeline
        assert report.passed
