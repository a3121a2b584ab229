"""The rollout drill end to end, short: rollout, rollback and a refused broken rollout."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("protocol", ["grpc"])
def test_rollout_drill_passes_with_no_failed_request_when_run_for_20_s(
    repo_root: Path, tmp_path: Path, protocol: str
) -> None:
    repository = tmp_path / "repository"
    shutil.copytree(repo_root / "model_repository" / "recommendation",
                    repository / "recommendation")
    report_dir = tmp_path / "report"

    result = subprocess.run(
        [sys.executable, "-m", "loadtests", "drill", "rollout", "--model", "recommendation",
         "--from-version", "1", "--to-version", "2", "--protocol", protocol, "--users", "2",
         "--duration", "20s", "--repository", str(repository), "--report-dir",
         str(report_dir), "--quiet"],
        capture_output=True, text=True, timeout=240, check=False, cwd=repo_root,
    )

    report = json.loads((report_dir / "report.json").read_text())
    phases = {p["name"]: p for p in report["phases"]}
    assert result.returncode == 0, result.stdout[-3000:]
    assert report["passed"] is True and report["protocol"] == protocol
    assert sum(p["failures"] for p in report["phases"]) == 0
    assert set(phases["steady-on-2"]["versions"]) == {"2"}
    assert "refused-rollout-to-3" in phases
    assert [s["refused"] for s in report["details"]["switches"]] == [False, False, True]
    assert list(report_dir.glob("locust*.csv"))
