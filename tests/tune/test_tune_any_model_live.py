"""``python -m loadtests tune`` on models that are not the reference ones.

The ONNX zoo's ``mixed-dtypes`` graph (dynamic batch, an FP32 and an INT64 input, names
that are not identifiers) and an ensemble over it go through ``init`` and ``build``
into one repository served by an embedded Triton in explicit model-control mode. The
tuner loads the model through the same input-data options and calls as ``run``; the
search is bounded (two trials, 0.4 s steps) and the target lax: this is functional.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from generator.init import init_module_source
from generator.loader import load_specs
from generator.writer import build_repository
from loadtests.tune.control import ModelController
from serving import ADMIN_HEADER, TritonServer
from tests.generator.onnx_zoo import ENSEMBLE_SPEC, mixed_dtypes_model

MODEL = "mixed-dtypes"
ENSEMBLE = "mixed-total"
FAST = ["--step-s", "0.4", "--warmup-s", "0.2", "--verify-s", "1", "--concurrency", "1,2"]


@pytest.fixture(scope="module")
def zoo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    root = tmp_path_factory.mktemp("tune-any-model")
    specs = root / "specs"
    specs.mkdir()
    spec = specs / "mixed_dtypes.py"
    spec.write_text(init_module_source(mixed_dtypes_model(root / "onnx"), out=spec))
    (specs / "mixed_total.py").write_text(ENSEMBLE_SPEC)
    build_repository(load_specs(specs), root / "repo")
    with TritonServer(root / "repo", model_control_mode="explicit") as server:
        yield server


def _tune(repo_root: Path, server: TritonServer, report_dir: Path, model: str,
          *extra: str) -> subprocess.CompletedProcess[str]:
    assert server.admin_key_path is not None
    env = {**os.environ, "TRITON_ADMIN_KEY_FILE": str(server.admin_key_path)}
    env.pop("TRITON_ADMIN_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "loadtests", "tune", "--model", model, "--p99-ms", "20000",
         "--host", server.http_url, "--repository", str(server.served_repository),
         "--max-trials", "2", "--report-dir", str(report_dir),
         *FAST, *extra],
        cwd=repo_root, env=env, capture_output=True, text=True, timeout=300,
    )


def _config(server: TritonServer, model: str) -> object:
    assert server.admin_key is not None
    with ModelController(server.http_url, {ADMIN_HEADER: server.admin_key}) as control:
        return control.config(model)


def test_tune_any_model_searches_batching_with_its_input_options_and_restores(
    zoo_server: TritonServer, repo_root: Path, tmp_path: Path,
) -> None:
    before = _config(zoo_server, MODEL)
    report_dir = tmp_path / "report"

    done = _tune(repo_root, zoo_server, report_dir, MODEL, "--dynamic-batching", "on",
                 "--instance-counts", "1", "--batch-size", "2",
                 "--input-range", "scale:-3:3", "--export-input-data",
                 str(tmp_path / "exported.json"))

    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    assert report["model"] == MODEL
    assert report["restored"] is True
    assert len(report["trials"]) == 2
    assert all(t["config"]["dynamic_batching"] is True for t in report["trials"])
    assert {"max_queue_delay_us", "max_batch_size"} <= set(report["space"]["searched"])
    assert "instance_count" not in report["space"]["searched"]
    for trial in [report["baseline"], *report["trials"]]:
        assert trial["throughput_rps"] > 0
        assert all(step["failures"] == 0 for step in trial["steps"])
        assert trial["mean_batch_size"] >= 2  # every request carries --batch-size rows
    used = json.loads((report_dir / "input_data.json").read_text(encoding="utf-8"))
    assert used == json.loads((tmp_path / "exported.json").read_text(encoding="utf-8"))
    for entry in used["data"]:
        assert entry["input-features"]["shape"] == [4]  # perf_analyzer's: no batch dim
        scale = np.asarray(entry["scale"]["content"])
        assert scale.min() >= -3 and scale.max() <= 3
    assert "dimensions searched:" in (report_dir / "report.md").read_text(encoding="utf-8")
    assert _config(zoo_server, MODEL) == before


def test_tune_refuses_an_ensemble_naming_its_steps_and_leaves_it_untouched(
    zoo_server: TritonServer, repo_root: Path, tmp_path: Path,
) -> None:
    before = _config(zoo_server, ENSEMBLE)

    done = _tune(repo_root, zoo_server, tmp_path / "report", ENSEMBLE)

    assert done.returncode == 2, (done.stdout + done.stderr)[-3000:]
    assert f"'{ENSEMBLE}' is an ensemble" in done.stderr
    assert f"'{MODEL}'" in done.stderr
    assert _config(zoo_server, ENSEMBLE) == before


def test_tune_stops_before_any_trial_when_an_input_option_names_no_input(
    zoo_server: TritonServer, repo_root: Path, tmp_path: Path,
) -> None:
    report_dir = tmp_path / "report"

    done = _tune(repo_root, zoo_server, report_dir, MODEL, "--input-range", "no_such:0:1")

    assert done.returncode == 2, (done.stdout + done.stderr)[-3000:]
    assert "no_such" in done.stderr
    assert "trial 1" not in done.stderr
    assert not (report_dir / "report.json").exists()
