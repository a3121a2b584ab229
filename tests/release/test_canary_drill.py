"""The canary drill end to end, short: a wrong version is rolled back by its outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_canary_drill_rolls_back_a_wrong_version_with_no_failed_request_in_30_s(
    repo_root: Path, tmp_path: Path
) -> None:
    report_dir = tmp_path / "report"

    result = subprocess.run(
        [sys.executable, "-m", "loadtests", "drill", "canary", "--model", "recommendation",
         "--to-version", "2", "--case", "wrong", "--protocol", "http", "--users", "2",
         "--duration", "30s", "--steps", "50,100", "--interval", "2",
         "--repository", str(repo_root / "model_repository"), "--report-dir",
         str(report_dir), "--quiet"],
        capture_output=True, text=True, timeout=300, check=False, cwd=repo_root,
    )

    report = json.loads((report_dir / "report.json").read_text())
    assert result.returncode == 0, result.stdout[-3000:]
    canary = report["details"]["canary"]
    assert (canary["outcome"], canary["failed_check"]) == ("rolled_back", "outputs")
    assert canary["serving_version"] == 2
    assert [p["name"] for p in report["phases"]] == ["baseline", "step-50%", "rolled-back"]
    assert report["details"]["summary"]["failures"] == 0
    assert report["details"]["summary"]["bad_version_answers_before_rollback"] > 0
    assert {p["name"]: p for p in report["phases"]}["rolled-back"]["versions"] == {
        "2": {p["name"]: p for p in report["phases"]}["rolled-back"]["requests"]}
