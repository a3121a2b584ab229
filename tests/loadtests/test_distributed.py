"""Plain `locust -f loadtests/locustfile.py` in distributed mode: a master and one worker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from serving import TritonServer, free_ports

RUN_S = 6


@pytest.mark.timeout(180)
def test_master_and_worker_finish_by_themselves_and_master_reports_verdicts(
    triton_server: TritonServer, repo_root: Path, tmp_path: Path
) -> None:
    (port,) = free_ports(1)
    locust = [sys.executable, "-m", "locust", "-f", str(repo_root / "loadtests" / "locustfile.py")]
    master = subprocess.Popen(
        [*locust, "--master", "--headless", "--expect-workers", "1",
         "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
         "--users", "2", "--spawn-rate", "2", "--run-time", f"{RUN_S}s", "--stop-timeout", "5",
         "--host", triton_server.http_url, "--model", "recommendation", "--protocol", "http",
         "--scenario", "steady", "--stats-url", triton_server.http_url,
         "--metrics-url", triton_server.metrics_url, "--report-dir", str(tmp_path),
         # lax targets: a functional test must not depend on loadtests/targets.toml
         "--p50-ms", "10000", "--p95-ms", "10000", "--p99-ms", "10000", "--min-rps", "0",
         "--max-gap-s", "30", "--only-summary"],
        cwd=repo_root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    worker = subprocess.Popen(
        [*locust, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
        cwd=repo_root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        master_out, _ = master.communicate(timeout=RUN_S + 90)
        worker_out, _ = worker.communicate(timeout=30)
    finally:
        for process in (master, worker):
            if process.poll() is None:
                process.kill()
                process.wait()
    assert master.returncode == 0, master_out[-3000:]
    assert worker.returncode == 0, worker_out[-3000:]
    assert "OVERALL: PASS" in master_out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["passed"] is True
    assert report["client"]["recommendation"]["requests"] > 0
    assert report["server"]["recommendation"]["success_count"] > 0
