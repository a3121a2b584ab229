"""Shed calls (Triton's queue is full: HTTP 503, gRPC UNAVAILABLE) are reported apart from
errors, in the run report and in the verdicts."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import text_format

from generator.layout import load_config
from loadtests.models import RECOMMENDATION
from serving import TritonServer


def _tiny_queue_repository(source: Path, target: Path) -> Path:
    """Copy the recommender with a one-request queue that holds requests for 300 ms."""
    shutil.copytree(source / RECOMMENDATION, target / RECOMMENDATION)
    path = target / RECOMMENDATION / "config.pbtxt"
    config = load_config(path)
    batching = config.dynamic_batching
    del batching.preferred_batch_size[:]
    batching.preferred_batch_size.append(config.max_batch_size)
    batching.max_queue_delay_microseconds = 300_000
    batching.default_queue_policy.max_queue_size = 1
    path.write_text(text_format.MessageToString(config), encoding="utf-8")
    return target


@pytest.mark.timeout(240)
@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_run_counts_shed_calls_apart_from_failures_and_fails_only_the_shed_target(
    start_triton: Callable[..., TritonServer], repo_root: Path, tmp_path: Path, protocol: str
) -> None:
    repository = _tiny_queue_repository(repo_root / "model_repository", tmp_path / "repo")
    server = start_triton(repository)
    host = server.http_url if protocol == "http" else server.grpc_url
    report_dir = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "loadtests", "run", "--model", RECOMMENDATION,
         "--protocol", protocol, "--users", "6", "--spawn-rate", "6", "--duration", "6s",
         "--host", host, "--stats-url", server.http_url, "--report-dir", str(report_dir),
         "--p50-ms", "10000", "--p95-ms", "10000", "--p99-ms", "10000", "--min-rps", "0",
         "--quiet"],
        cwd=repo_root, capture_output=True, text=True, timeout=200,
    )

    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]
    report: dict[str, Any] = json.loads((report_dir / "report.json").read_text())
    client = report["client"][RECOMMENDATION]
    assert client["shed"] > 0 and client["failures"] == 0, client
    assert client["shed_ratio"] == pytest.approx(client["shed"] / client["requests"])
    assert [v["target"] for v in report["targets"] if not v["passed"]] == ["max_shed_ratio"]
    assert "OVERALL: FAIL (recommendation.max_shed_ratio)" in output
    assert "| recommendation |" in (report_dir / "report.md").read_text()
