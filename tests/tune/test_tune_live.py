"""The tuner end to end on a real embedded Triton in explicit model-control mode.

One server for the module; every test checks that the model ends in the config it had
before tuning, also when a trial fails or Ctrl-C arrives mid-search. Steps are short
(0.4 s, concurrency 1 and 2) so each test takes seconds, not minutes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tritonclient.grpc import model_config_pb2 as mc

from generator.loader import load_specs
from loadtests.tune import Candidate, HostInfo, TrialResult, TuneError
from loadtests.tune.control import ModelController
from loadtests.tune.measure import LoadProbe
from loadtests.tune.runner import TrialRunner, TuneOptions, tune_model
from serving import ADMIN_HEADER, TritonServer

MODEL = "recommendation"
FAST = ["--step-s", "0.4", "--warmup-s", "0.2", "--verify-s", "1", "--concurrency", "1,2"]


@pytest.fixture(scope="module")
def explicit_server(repo_root: Path) -> Iterator[TritonServer]:
    """An embedded Triton whose repository API may load configs (admin key required)."""
    with TritonServer(repo_root / "model_repository", model_control_mode="explicit") as server:
        yield server


@pytest.fixture
def controller(explicit_server: TritonServer) -> Iterator[ModelController]:
    assert explicit_server.admin_key is not None
    with ModelController(explicit_server.http_url,
                         {ADMIN_HEADER: explicit_server.admin_key}) as control:
        yield control


def _options(tmp_path: Path, **overrides: Any) -> TuneOptions:
    settings: dict[str, Any] = {
        "model": MODEL, "p99_ms": 2000.0, "report_dir": tmp_path / "report",
        "max_trials": 2, "step_s": 0.4, "warmup_s": 0.2, "verify_s": 1.0,
        "concurrencies": (1, 2), "dynamic_batching": (False,),
    }
    settings.update(overrides)
    return TuneOptions(**settings)


def test_tune_cli_runs_two_trials_writes_report_and_patch_and_restores_the_config(
    explicit_server: TritonServer, controller: ModelController, repo_root: Path, tmp_path: Path,
) -> None:
    before = controller.config(MODEL)
    spec = tmp_path / "specs" / "recommendation.py"
    spec.parent.mkdir()
    (spec.parent / "assets").symlink_to(repo_root / "specs" / "assets")
    spec.write_text((repo_root / "specs" / "recommendation.py").read_text(encoding="utf-8"),
                    encoding="utf-8")
    original_spec = spec.read_text(encoding="utf-8")
    report_dir = tmp_path / "report"
    assert explicit_server.admin_key_path is not None
    env = {**os.environ, "TRITON_ADMIN_KEY_FILE": str(explicit_server.admin_key_path)}
    env.pop("TRITON_ADMIN_KEY", None)

    done = subprocess.run(
        [sys.executable, "-m", "loadtests", "tune", "--model", MODEL, "--p99-ms", "2000",
         "--host", explicit_server.grpc_url, "--stats-url", explicit_server.http_url,
         "--max-trials", "2", "--dynamic-batching", "off", "--report-dir", str(report_dir),
         "--write-spec-patch", str(spec), *FAST],
        cwd=repo_root, env=env, capture_output=True, text=True, timeout=300,
    )

    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    assert {"baseline", "winner", "trials", "search", "verified"} <= set(report)
    assert report["verified"] is True
    assert report["restored"] is True
    assert len(report["trials"]) == 2
    assert report["search"]["strategy"] == "quick"
    for entry in [report["baseline"], report["winner"], *report["trials"]]:
        assert {"config", "throughput_rps", "p99_ms"} <= set(entry)
        assert entry["throughput_rps"] > 0
        assert entry["config"]["kind"] == "KIND_CPU"
    assert all(t["config"]["dynamic_batching"] is False for t in report["trials"])
    assert (report_dir / "report.md").read_text(encoding="utf-8").startswith("# Tuning")
    assert (report_dir / "trials.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    winner = Candidate.from_dict(report["winner"]["config"])
    if report["winner"]["source"] == "baseline":
        assert spec.read_text(encoding="utf-8") == original_spec
    else:
        assert report["spec_patch_file"] == str(spec)
        (patched,) = [s.spec for s in load_specs(spec) if s.spec.name == MODEL]
        assert patched.dynamic_batching is None
        assert [g.count for g in patched.instance_groups] == [winner.instance_count]
    assert controller.config(MODEL) == before


class _FailingRunner(TrialRunner):
    """Loads the candidate, then fails the way the test asks (after the config changed)."""

    failure: type[BaseException] = RuntimeError

    def evaluate(self, candidate: Candidate) -> TrialResult:
        self.load(candidate)
        raise self.failure("injected failure after loading a candidate")


class _Interrupted(_FailingRunner):
    failure = KeyboardInterrupt


@pytest.mark.parametrize("runner", [_FailingRunner, _Interrupted],
                         ids=["error", "keyboard-interrupt"])
def test_tune_restores_the_original_config_when_a_trial_is_interrupted(
    explicit_server: TritonServer, controller: ModelController, tmp_path: Path,
    runner: type[TrialRunner],
) -> None:
    before = controller.config(MODEL)
    probe = LoadProbe(MODEL, explicit_server.grpc_url, explicit_server.http_url)

    with pytest.raises(runner.failure):  # type: ignore[attr-defined]
        tune_model(_options(tmp_path, instance_counts=(2,)), controller, probe,
                   explicit_server.served_repository / MODEL, HostInfo(cpu_cores=2),
                   runner_factory=runner)

    after = controller.config(MODEL)
    assert after == before
    assert [g.count for g in after.instance_group] == [g.count for g in before.instance_group]


def test_tune_records_a_config_the_server_refuses_as_a_failed_trial_and_restores(
    explicit_server: TritonServer, controller: ModelController, tmp_path: Path,
) -> None:
    before = controller.config(MODEL)
    probe = LoadProbe(MODEL, explicit_server.grpc_url, explicit_server.http_url)

    result = tune_model(_options(tmp_path, max_trials=1), controller, probe,
                        explicit_server.served_repository / MODEL,
                        HostInfo(cpu_cores=2, gpus=1))  # a GPU this server does not have

    (trial,) = result.search.trials
    assert trial.candidate.kind.value == "KIND_GPU"
    assert not trial.feasible
    assert trial.error is not None and "KIND_GPU" in trial.error
    assert result.restored
    assert controller.config(MODEL) == before


def test_tune_options_reject_a_non_positive_target_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(TuneError, match="p99_ms"):
        _options(tmp_path, p99_ms=0.0)


def test_controller_refuses_to_load_without_the_admin_key(
    explicit_server: TritonServer,
) -> None:
    with ModelController(explicit_server.http_url, {}) as anonymous:
        config: mc.ModelConfig = anonymous.config(MODEL)  # reading stays open
        with pytest.raises(TuneError, match="load refused"):
            anonymous.load(MODEL, config, ready_timeout_s=5.0)


def test_ctrl_c_ends_a_load_step_early_with_keyboard_interrupt(
    explicit_server: TritonServer,
) -> None:
    probe = LoadProbe(MODEL, explicit_server.grpc_url, explicit_server.http_url)
    step_s = 60.0
    timer = threading.Timer(1.0, os.kill, args=(os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            probe.load(2, step_s)
    finally:
        timer.cancel()

    assert time.monotonic() - started < step_s / 2  # stopped, not run to the end
