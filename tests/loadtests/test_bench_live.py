"""`python -m loadtests bench` end to end, shrunk to a few seconds per step."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from loadtests import BenchOptions, format_bench_table, run_benchmark


@pytest.mark.timeout(300)
def test_bench_reports_every_ratio_side_by_side_with_machine_info_when_run_small(
    repo_root: Path, tmp_path: Path
) -> None:
    options = BenchOptions(
        repository=repo_root / "model_repository",
        onnx_path=repo_root / "specs" / "assets" / "image_diagnosis_classifier.onnx",
        repeats=1, window_s=0.5, batch_sizes=(1, 4), concurrencies=(2,), latency_calls=20,
        json_out=tmp_path / "bench.json",
    )
    result = run_benchmark(options)

    expected = {"serving_efficiency", "dynamic_batching_speedup",
                "typed_vs_raw_latency_grpc", "typed_vs_raw_latency_http",
                "generated_vs_raw_latency_grpc", "generated_vs_raw_latency_http"}
    for model in ("recommendation", "image_diagnosis_classifier"):  # the steady tail step
        expected |= {f"tail_p99_over_p50_{model}", f"tail_p99_over_p50_{model}_batching_off",
                     f"steady_throughput_shipped_vs_off_{model}"}
    if shutil.which("haproxy") is not None or os.environ.get("CI") == "true":
        expected |= {"balancer_vs_direct_latency_grpc", "balancer_vs_direct_latency_http"}
    assert set(result.ratios) == expected
    assert all(value > 0 for value in result.ratios.values())
    assert result.machine["triton"] == "2.51.0"
    assert {"cpu", "cores", "python", "onnxruntime"} <= set(result.machine)
    table = format_bench_table(result)
    assert "served / in-process throughput (b / a)" in table
    assert "dynamic batching on / off throughput (c)" in table
    written = json.loads((tmp_path / "bench.json").read_text())
    assert written["ratios"] == pytest.approx(result.ratios)
    assert {f["setting"] for f in written["figures"]} >= {"batch 1", "batch 4", "concurrency 2"}
