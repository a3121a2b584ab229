"""Any served model in ``python -m loadtests run``: the models of "bring your own model (1)".

The ONNX zoo of ``tests/generator/onnx_zoo.py`` (a model-zoo ResNet-50 among them) goes
through ``init`` and ``build`` into one repository on one embedded server; each model
gets a 10 s run with lax targets checked, with generated inputs or perf_analyzer input
files. Functional: latency goals are lax on purpose (figures belong in the bench).
"""

from __future__ import annotations

import base64
import json
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from generator.init import init_module_source
from generator.loader import load_specs
from generator.writer import build_repository
from serving import TritonServer, start_server
from tests.generator.onnx_zoo import BUILDERS

RUN_S = 10
WALL_BOUND_S = RUN_S + 90
LAX_TARGETS = ("--p50-ms", "20000", "--p95-ms", "20000", "--p99-ms", "20000", "--min-rps", "0",
               "--max-gap-s", "30", "--max-error-ratio", "0.01", "--max-shed-ratio", "0.01")

# Per model: protocol and the input options its generated inputs need.
RUNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "resnet50": ("grpc", ()),
    "mixed-dtypes": ("http", ("--batch-size", "3", "--input-range", "scale:-3:3")),
    "labels": ("grpc", ("--string-length", "3")),
    "sequence": ("http", ("--shape", "tokens:7")),
    "small_types": ("grpc", ("--batch-size", "2")),
    "scalar": ("http", ()),
}


@pytest.fixture(scope="module")
def zoo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    root = tmp_path_factory.mktemp("byom-load")
    specs = root / "specs"
    specs.mkdir()
    for name, build in BUILDERS.items():
        spec = specs / f"{name}.py"
        spec.write_text(init_module_source(build(root / "onnx"), out=spec))
    build_repository(load_specs(specs), root / "repo")
    with start_server(root / "repo") as server:
        yield server


def _run(repo_root: Path, server: TritonServer, report_dir: Path, model: str, protocol: str,
         *extra: str) -> tuple[int, str]:
    host = server.http_url if protocol == "http" else server.grpc_url
    command = [
        sys.executable, "-m", "loadtests", "run", "--model", model, "--protocol", protocol,
        "--users", "2", "--spawn-rate", "2", "--duration", f"{RUN_S}s", "--host", host,
        "--stats-url", server.http_url, "--metrics-url", server.metrics_url,
        "--report-dir", str(report_dir), "--quiet", *LAX_TARGETS, *extra,
    ]
    done = subprocess.run(command, cwd=repo_root, capture_output=True, text=True,
                          timeout=WALL_BOUND_S)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("model", sorted(RUNS))
def test_run_any_model_with_generated_inputs_passes_lax_targets_with_server_view(
    zoo_server: TritonServer, repo_root: Path, tmp_path: Path, model: str
) -> None:
    protocol, extra = RUNS[model]
    code, output = _run(repo_root, zoo_server, tmp_path, model, protocol, *extra)

    assert code == 0, output[-3000:]
    report: dict[str, Any] = json.loads((tmp_path / "report.json").read_text())
    client = report["client"][model]
    assert client["requests"] > 0 and client["failures"] == 0
    assert {v["target"] for v in report["targets"]} >= {"p95_ms", "max_error_ratio"}
    server = report["server"][model]
    assert server["success_count"] >= client["requests"] - 2
    assert server["execution_count"] >= 1
    written = json.loads((tmp_path / "input_data.json").read_text())
    assert len(written["data"]) >= 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_run_reads_every_perf_analyzer_form_and_passes_its_validation_data(
    zoo_server: TritonServer, repo_root: Path, tmp_path: Path
) -> None:
    ones = np.ones(4, "<f4").tobytes()
    document = {
        "data": [
            {"input-features": [1, 1, 1, 1], "scale": [2]},
            {"input-features": {"content": [1, 1, 1, 1], "shape": [4]},
             "scale": {"content": [2], "shape": [1]}},
            {"input-features": {"b64": _b64(ones)}, "scale": {"b64": _b64(struct.pack("<q", 2))}},
        ],
        "validation_data": [{"row total": [8.0], "weighted": [2, 2, 2, 2]}] * 3,
    }
    data_file = tmp_path / "mixed.json"
    data_file.write_text(json.dumps(document))
    code, output = _run(repo_root, zoo_server, tmp_path / "report", "mixed-dtypes", "grpc",
                        "--input-data", str(data_file), "--batch-size", "2")

    assert code == 0, output[-3000:]
    report: dict[str, Any] = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["client"]["mixed-dtypes"]["failures"] == 0
    assert report["client"]["mixed-dtypes"]["requests"] > 0


def test_run_with_wrong_validation_data_fails_and_names_the_tensor(
    zoo_server: TritonServer, repo_root: Path, tmp_path: Path
) -> None:
    prefixed = struct.pack("<I", 3) + b"dog"
    document = {"data": [{"text": ["cat"]}, {"text": {"b64": _b64(prefixed)}}],
                "validation_data": [{"class": [0]}, {"class": [2]}]}  # dog is 1, not 2
    data_file = tmp_path / "labels.json"
    data_file.write_text(json.dumps(document))
    code, output = _run(repo_root, zoo_server, tmp_path / "report", "labels", "http",
                        "--input-data", str(data_file))

    assert code == 1, output[-3000:]
    report: dict[str, Any] = json.loads((tmp_path / "report" / "report.json").read_text())
    client = report["client"]["labels"]
    assert 0.3 < client["failures"] / client["requests"] < 0.7  # every second entry
    failed = {v["target"] for v in report["targets"] if not v["passed"]}
    assert failed == {"max_error_ratio"}
    assert any("output 'class'" in note and "validation_data" in note
               for note in report["notes"]), report["notes"]


def test_export_input_data_replayed_sends_the_same_requests(
    zoo_server: TritonServer, repo_root: Path, tmp_path: Path
) -> None:
    exported = tmp_path / "exported.json"
    code, output = _run(repo_root, zoo_server, tmp_path / "first", "sequence", "grpc",
                        "--shape", "tokens:5", "--export-input-data", str(exported))
    assert code == 0, output[-3000:]
    code, output = _run(repo_root, zoo_server, tmp_path / "replay", "sequence", "grpc",
                        "--input-data", str(exported))
    assert code == 0, output[-3000:]

    first = json.loads(exported.read_text())
    replayed = json.loads((tmp_path / "replay" / "input_data.json").read_text())
    assert replayed == first
    assert first["data"][0]["tokens"]["shape"] == [5]


def test_run_refuses_inputs_it_cannot_generate_before_any_load(
    zoo_server: TritonServer, repo_root: Path, tmp_path: Path
) -> None:
    code, output = _run(repo_root, zoo_server, tmp_path / "a", "sequence", "http")
    assert code == 2, output[-3000:]
    assert "input 'tokens'" in output and "--shape tokens:N" in output
    assert not (tmp_path / "a" / "report.json").exists()

    code, output = _run(repo_root, zoo_server, tmp_path / "b", "sequence", "http",
                        "--shape", "tokens:4,7")
    assert code == 2, output[-3000:]
    assert "without the batch dimension" in output and "--shape tokens:7" in output
