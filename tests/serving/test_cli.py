"""`python -m serving REPO` and `python -m generator adapt` as real subprocesses."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from .conftest import (
    ADD_CONFIG,
    ADD_MODEL_PY,
    PLAN_CONFIG,
    SOFTMAX_CONFIG,
    processes_left,
    processes_mentioning,
    softmax_onnx,
    write_model,
)

READY_TIMEOUT_S = 90.0


def _read_until(process: subprocess.Popen[bytes], marker: str, timeout_s: float) -> str:
    assert process.stdout is not None
    fd = process.stdout.fileno()
    seen = b""
    deadline = time.monotonic() + timeout_s
    while marker.encode() not in seen:
        remaining_s = deadline - time.monotonic()
        assert remaining_s > 0, f"no {marker!r} within {timeout_s} s; output so far:\n{seen!r}"
        ready, _, _ = select.select([fd], [], [], remaining_s)
        if ready:
            chunk = os.read(fd, 65536)
            assert chunk, f"serve exited early ({process.poll()}); output:\n{seen!r}"
            seen += chunk
    return seen.decode()


def test_serve_prints_urls_and_exits_0_leaving_no_tritonserver_when_sent_sigterm(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    write_model(repo, "add", ADD_CONFIG, {"1/model.py": ADD_MODEL_PY})
    process = subprocess.Popen(
        [sys.executable, "-m", "serving", str(repo)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    try:
        output = _read_until(process, "ready", READY_TIMEOUT_S)
        assert re.search(r"HTTP:\s+http://127\.0\.0\.1:\d+", output)
        assert re.search(r"gRPC:\s+grpc://127\.0\.0\.1:\d+", output)
        assert re.search(r"metrics:\s+http://127\.0\.0\.1:\d+/metrics", output)
        log_line = re.search(r"log:\s+(\S+)", output)
        assert log_line is not None
        workdir = str(Path(log_line.group(1)).parent)
        assert processes_mentioning(workdir), "tritonserver should be running"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert processes_left(workdir) == []
    assert not Path(workdir).exists()


@pytest.mark.parametrize("entry", [["serving"], ["generator", "serve"]])
def test_serve_exits_nonzero_printing_model_and_reason_when_a_model_fails_to_load(
    tmp_path: Path, entry: list[str],
) -> None:
    repo = tmp_path / "repo"
    broken = ADD_CONFIG.replace('name: "add"', 'name: "wrong_name"')
    write_model(repo, "add", broken, {"1/model.py": ADD_MODEL_PY})
    result = subprocess.run(
        [sys.executable, "-m", *entry, str(repo)],
        capture_output=True, text=True, timeout=120, env={**os.environ},
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "model 'add' failed to load" in result.stderr
    assert "wrong_name" in result.stderr or "must equal model name" in result.stderr


# ------------------------------------------------------------------ adapt


KIND_CPU = model_config_pb2.ModelInstanceGroup.KIND_CPU
PLAN_BESIDE_CONFIG = PLAN_CONFIG.replace(
    'parameters { key: "onnx_source" value: { string_value: "source/model.onnx" } }', "")


def _adapt(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "generator", "adapt", *map(str, args)],
        capture_output=True, text=True, timeout=120, check=False,
    )


def _config(path: Path) -> model_config_pb2.ModelConfig:
    config = model_config_pb2.ModelConfig()
    text_format.Parse(path.read_text(encoding="utf-8"), config)
    return config


def _gpu_repository(repo: Path, *, plan_source: bool = True) -> Path:
    """A KIND_GPU ONNX model and a TensorRT plan with (or without) model.onnx beside it."""
    onnx_bytes = softmax_onnx().SerializeToString()
    write_model(repo, "add", ADD_CONFIG, {"1/model.py": ADD_MODEL_PY})
    write_model(repo, "softmax", SOFTMAX_CONFIG, {"1/model.onnx": onnx_bytes})
    plan_files: dict[str, bytes | str] = {"1/model.plan": b"not a real engine"}
    if plan_source:
        plan_files["1/model.onnx"] = onnx_bytes
    write_model(repo, "softmax_trt", PLAN_BESIDE_CONFIG, plan_files)
    return repo


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_adapt_help_lists_the_targets_and_generator_help_lists_adapt() -> None:
    result = _adapt("--help")
    assert result.returncode == 0, result.stderr
    assert "--target {cpu,embedded}" in result.stdout and "SRC" in result.stdout
    top = subprocess.run([sys.executable, "-m", "generator", "--help"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert top.returncode == 0 and "adapt" in top.stdout


def test_adapt_cpu_writes_kind_cpu_configs_and_onnx_plan_fallback_printing_substitutions(
    tmp_path: Path,
) -> None:
    src = _gpu_repository(tmp_path / "repo")
    dst = tmp_path / "repo_cpu"
    result = _adapt(src, dst, "--target", "cpu")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "substitution: softmax: instance_group[0].kind: KIND_GPU gpus=[0] -> KIND_CPU" in lines
    assert ("substitution: softmax_trt: platform: platform 'tensorrt_plan' -> platform "
            "'onnxruntime_onnx' (ONNX source 1/model.onnx)") in lines
    assert lines[-1] == f"wrote {dst} (target cpu, 4 substitution(s))"

    softmax = _config(src / "softmax" / "config.pbtxt")
    softmax.instance_group[0].kind = KIND_CPU
    del softmax.instance_group[0].gpus[:]
    softmax.ClearField("optimization")
    assert _config(dst / "softmax" / "config.pbtxt") == softmax
    plan = _config(src / "softmax_trt" / "config.pbtxt")
    plan.platform = "onnxruntime_onnx"
    plan.instance_group[0].kind = KIND_CPU
    assert _config(dst / "softmax_trt" / "config.pbtxt") == plan
    assert (dst / "softmax_trt" / "1" / "model.onnx").is_file()
    assert _config(dst / "add" / "config.pbtxt") == _config(src / "add" / "config.pbtxt")
    assert [str(p.relative_to(dst)) for p in dst.rglob("model.py")] == ["add/1/model.py"]
    assert json.loads((dst / ".adapted-from").read_text()) == {
        "source": str(src.resolve()), "target": "cpu"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo", "repo_cpu"]


def test_adapt_replaces_its_own_earlier_output(tmp_path: Path) -> None:
    src = _gpu_repository(tmp_path / "repo")
    dst = tmp_path / "out"
    assert _adapt(src, dst, "--target", "cpu").returncode == 0
    result = _adapt(src, dst, "--target", "embedded")
    assert result.returncode == 0, result.stderr
    assert _config(dst / "softmax" / "config.pbtxt").backend == "python"
    assert (dst / "softmax_trt" / "1" / "model.py").is_file()
    assert json.loads((dst / ".adapted-from").read_text())["target"] == "embedded"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "repo"]


def test_adapt_refuses_to_replace_a_folder_it_did_not_write(tmp_path: Path) -> None:
    src = _gpu_repository(tmp_path / "repo")
    dst = tmp_path / "mine"
    dst.mkdir()
    (dst / "notes.txt").write_text("keep me")
    result = _adapt(src, dst, "--target", "cpu")
    assert result.returncode == 1
    assert str(dst) in result.stderr and "refusing to replace it" in result.stderr
    assert "Traceback" not in result.stderr
    assert _tree(dst) == {"notes.txt": b"keep me"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "repo"]


def test_adapt_exits_1_naming_the_model_when_a_plan_has_no_onnx_source(tmp_path: Path) -> None:
    src = _gpu_repository(tmp_path / "repo", plan_source=False)
    dst = tmp_path / "out"
    assert _adapt(_gpu_repository(tmp_path / "good"), dst, "--target", "cpu").returncode == 0
    before = _tree(dst)
    result = _adapt(src, dst, "--target", "cpu")
    assert result.returncode == 1
    assert "model 'softmax_trt'" in result.stderr and "no ONNX source" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert _tree(dst) == before  # the earlier output is kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good", "out", "repo"]


def test_adapt_exits_1_with_file_and_line_when_a_config_does_not_parse(tmp_path: Path) -> None:
    src = tmp_path / "repo"
    write_model(src, "broken", 'name: "broken"\nmax_batch_size: "eight"\n', {})
    result = _adapt(src, tmp_path / "out", "--target", "embedded")
    assert result.returncode == 1
    assert f"{src / 'broken' / 'config.pbtxt'}:2" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_adapt_requires_a_known_target(tmp_path: Path) -> None:
    src = _gpu_repository(tmp_path / "repo")
    assert _adapt(src, tmp_path / "out").returncode == 2
    assert _adapt(src, tmp_path / "out", "--target", "gpu").returncode == 2
    assert not (tmp_path / "out").exists()
