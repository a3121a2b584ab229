"""Repository adaptation for servers without a GPU (no server needed)."""

from __future__ import annotations

import ast
import json
import os
import textwrap
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from generator.errors import ConfigSyntaxError
from serving import (
    MARKER_NAME,
    AdaptationError,
    AdaptDestinationError,
    AdaptTarget,
    ServingError,
    Substitution,
    adapt_repository,
    parse_model_errors,
    validate_model_name,
    write_adapted_repository,
)

from .conftest import (
    PLAN_CONFIG,
    SOFTMAX_CONFIG,
    WEIGHTS,
    build_good_repository,
    softmax_onnx,
    write_model,
)

KIND_CPU = model_config_pb2.ModelInstanceGroup.KIND_CPU
PLAN_BESIDE_CONFIG = PLAN_CONFIG.replace(
    'parameters { key: "onnx_source" value: { string_value: "source/model.onnx" } }', "")

ENSEMBLE_CONFIG = textwrap.dedent("""
    name: "pipeline"
    platform: "ensemble"
    max_batch_size: 8
    input [ { name: "IN" data_type: TYPE_FP32 dims: [ 4 ] } ]
    output [ { name: "OUT" data_type: TYPE_FP32 dims: [ 3 ] } ]
    ensemble_scheduling { step [ {
      model_name: "softmax" model_version: -1
      input_map { key: "x" value: "IN" } output_map { key: "y" value: "OUT" }
    } ] }
""")


def _config(path: Path) -> model_config_pb2.ModelConfig:
    config = model_config_pb2.ModelConfig()
    text_format.Parse(path.read_text(), config)
    return config


def test_adapt_repository_turns_onnx_model_into_python_backend_on_kind_cpu(tmp_path: Path) -> None:
    src = build_good_repository(tmp_path / "src")
    substitutions = adapt_repository(src, tmp_path / "dst", target=AdaptTarget.EMBEDDED)
    config = _config(tmp_path / "dst" / "softmax" / "config.pbtxt")
    assert config.backend == "python" and config.platform == ""
    assert config.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_CPU
    assert list(config.instance_group[0].gpus) == []
    assert config.instance_group[0].count == 1
    assert not config.optimization.execution_accelerators.gpu_execution_accelerator
    assert config.max_batch_size == 8
    assert config.dynamic_batching.max_queue_delay_microseconds == 50000
    assert [i.name for i in config.input] == ["x"] and [o.name for o in config.output] == ["y"]
    assert (tmp_path / "dst" / "softmax" / "1" / "model.py").is_file()
    whats = {(s.model, s.what) for s in substitutions}
    assert ("softmax", "platform") in whats
    assert ("softmax", "instance_group[0].kind") in whats
    assert ("softmax", "optimization.execution_accelerators.gpu_execution_accelerator") in whats
    # The source repository is untouched.
    assert _config(src / "softmax" / "config.pbtxt").platform == "onnxruntime_onnx"
    assert not (src / "softmax" / "1" / "model.py").exists()


def test_adapt_repository_leaves_python_models_and_ensembles_unchanged(tmp_path: Path) -> None:
    src = build_good_repository(tmp_path / "src")
    write_model(src, "pipeline", ENSEMBLE_CONFIG, {"1/.keep": ""})
    substitutions = adapt_repository(src, tmp_path / "dst", target=AdaptTarget.EMBEDDED)
    assert {s.model for s in substitutions} == {"softmax", "softmax_auto", "softmax_trt"}
    for name in ("add", "pipeline"):
        assert (tmp_path / "dst" / name / "config.pbtxt").read_text() == (
            src / name / "config.pbtxt").read_text()


def test_adapt_repository_copies_unchanged_when_target_is_a_full_triton(tmp_path: Path) -> None:
    src = build_good_repository(tmp_path / "src")
    assert adapt_repository(src, tmp_path / "dst", target=AdaptTarget.FULL) == []
    assert _config(tmp_path / "dst" / "softmax" / "config.pbtxt").platform == "onnxruntime_onnx"


def test_adapt_repository_serves_tensorrt_plan_from_onnx_next_to_the_plan(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_model(src, "softmax_trt", PLAN_BESIDE_CONFIG, {
        "1/model.plan": b"engine", "1/model.onnx": softmax_onnx().SerializeToString()})
    [platform] = [s for s in adapt_repository(src, tmp_path / "dst", target=AdaptTarget.EMBEDDED)
                  if s.what == "platform"]
    assert platform.as_dict()["from"] == "platform 'tensorrt_plan'"
    assert "1/model.onnx" in platform.to
    assert _config(tmp_path / "dst" / "softmax_trt" / "config.pbtxt").backend == "python"


def test_adapt_repository_raises_naming_the_model_when_a_plan_has_no_onnx_source(
    tmp_path: Path,
) -> None:
    src = tmp_path / "src"
    write_model(src, "softmax_trt", PLAN_BESIDE_CONFIG, {"1/model.plan": b"engine"})
    for target in (AdaptTarget.EMBEDDED, AdaptTarget.CPU):
        with pytest.raises(AdaptationError, match=r"'softmax_trt'.*no ONNX source") as failure:
            adapt_repository(src, tmp_path / target.value, target=target)
        assert failure.value.model == "softmax_trt"


# ---------------------------------------------------------------- AdaptTarget.CPU


def test_cpu_target_switches_onnx_model_to_kind_cpu_keeping_onnxruntime_backend(
    tmp_path: Path,
) -> None:
    src = build_good_repository(tmp_path / "src")
    substitutions = adapt_repository(src, tmp_path / "dst", target=AdaptTarget.CPU)
    expected = _config(src / "softmax" / "config.pbtxt")
    expected.instance_group[0].kind = KIND_CPU
    del expected.instance_group[0].gpus[:]
    expected.ClearField("optimization")  # its only content was the GPU accelerator
    assert _config(tmp_path / "dst" / "softmax" / "config.pbtxt") == expected
    assert expected.platform == "onnxruntime_onnx" and expected.backend == ""
    assert not (tmp_path / "dst" / "softmax" / "1" / "model.py").exists()
    assert (tmp_path / "dst" / "softmax" / "1" / "model.onnx").read_bytes() == (
        src / "softmax" / "1" / "model.onnx").read_bytes()
    assert [s for s in substitutions if s.model == "softmax"] == [
        Substitution("softmax", "instance_group[0].kind", "KIND_GPU gpus=[0]", "KIND_CPU"),
        Substitution("softmax", "optimization.execution_accelerators.gpu_execution_accelerator",
                     "tensorrt", "dropped"),
    ]


def test_cpu_target_serves_tensorrt_plan_as_onnxruntime_on_its_onnx_source_parameter(
    tmp_path: Path,
) -> None:
    src = build_good_repository(tmp_path / "src")
    substitutions = adapt_repository(src, tmp_path / "dst", target=AdaptTarget.CPU)
    expected = _config(src / "softmax_trt" / "config.pbtxt")
    expected.platform = "onnxruntime_onnx"
    expected.instance_group[0].kind = KIND_CPU
    assert _config(tmp_path / "dst" / "softmax_trt" / "config.pbtxt") == expected
    served = tmp_path / "dst" / "softmax_trt" / "1" / "model.onnx"
    assert served.read_bytes() == (src / "softmax_trt" / "source" / "model.onnx").read_bytes()
    assert not (tmp_path / "dst" / "softmax_trt" / "1" / "model.py").exists()
    assert [s for s in substitutions if s.model == "softmax_trt"] == [
        Substitution("softmax_trt", "instance_group[0].kind", "KIND_GPU", "KIND_CPU"),
        Substitution("softmax_trt", "platform", "platform 'tensorrt_plan'",
                     "platform 'onnxruntime_onnx' (ONNX source source/model.onnx)"),
    ]
    # The file onnxruntime will load computes the model.
    session = ort.InferenceSession(str(served), providers=["CPUExecutionProvider"])
    x = np.ones((2, 4), dtype=np.float32)
    (y,) = session.run(["y"], {"x": x})
    logits = x @ WEIGHTS
    np.testing.assert_allclose(y, np.exp(logits) / np.exp(logits).sum(-1, keepdims=True),
                               rtol=1e-5)
    # The source repository is untouched.
    assert _config(src / "softmax_trt" / "config.pbtxt").platform == "tensorrt_plan"
    assert not (src / "softmax_trt" / "1" / "model.onnx").exists()


def test_cpu_target_serves_tensorrt_backend_from_model_onnx_next_to_the_plan(
    tmp_path: Path,
) -> None:
    src = tmp_path / "src"
    config = PLAN_BESIDE_CONFIG.replace(
        'platform: "tensorrt_plan"', 'backend: "tensorrt"\ndefault_model_filename: "model.plan"')
    onnx_bytes = softmax_onnx().SerializeToString()
    write_model(src, "softmax_trt", config, {
        "1/model.plan": b"engine", "1/model.onnx": onnx_bytes,
        "2/model.plan": b"engine", "2/model.onnx": onnx_bytes})
    [platform] = [s for s in adapt_repository(src, tmp_path / "dst", target=AdaptTarget.CPU)
                  if s.what == "platform"]
    assert platform.as_dict() == {
        "model": "softmax_trt", "what": "platform", "from": "backend 'tensorrt'",
        "to": "platform 'onnxruntime_onnx' (ONNX source 1/model.onnx, 2/model.onnx)"}
    expected = _config(src / "softmax_trt" / "config.pbtxt")
    expected.backend = ""
    expected.default_model_filename = ""
    expected.platform = "onnxruntime_onnx"
    expected.instance_group[0].kind = KIND_CPU
    assert _config(tmp_path / "dst" / "softmax_trt" / "config.pbtxt") == expected
    for version in ("1", "2"):
        assert (tmp_path / "dst" / "softmax_trt" / version / "model.onnx").is_file()


def test_cpu_target_leaves_python_models_and_ensembles_byte_identical(tmp_path: Path) -> None:
    src = build_good_repository(tmp_path / "src")
    write_model(src, "pipeline", ENSEMBLE_CONFIG, {"1/.keep": ""})
    substitutions = adapt_repository(src, tmp_path / "dst", target=AdaptTarget.CPU)
    assert {s.model for s in substitutions} == {"softmax", "softmax_trt"}
    for name in ("add", "pipeline"):
        assert (tmp_path / "dst" / name / "config.pbtxt").read_bytes() == (
            src / name / "config.pbtxt").read_bytes()


@pytest.mark.parametrize(
    ("group", "changed"),
    [("kind: KIND_AUTO gpus: [ 0, 1 ]", True), ("kind: KIND_AUTO", False),
     ("kind: KIND_CPU count: 2", False), ("count: 2 kind: KIND_GPU gpus: [ 1 ]", True)],
)
def test_cpu_target_moves_only_gpu_bound_instance_groups_to_kind_cpu(
    tmp_path: Path, group: str, changed: bool,
) -> None:
    config = SOFTMAX_CONFIG.replace("kind: KIND_GPU count: 1 gpus: [ 0 ]", group)
    write_model(tmp_path / "src", "softmax", config, {"1/model.onnx": b"onnx"})
    substitutions = adapt_repository(tmp_path / "src", tmp_path / "dst", target=AdaptTarget.CPU)
    expected = _config(tmp_path / "src" / "softmax" / "config.pbtxt")
    if changed:
        expected.instance_group[0].kind = KIND_CPU
        del expected.instance_group[0].gpus[:]
    expected.ClearField("optimization")
    assert _config(tmp_path / "dst" / "softmax" / "config.pbtxt") == expected
    assert any(s.what == "instance_group[0].kind" for s in substitutions) is changed


def test_cpu_target_keeps_cpu_accelerators_and_other_optimization_settings(
    tmp_path: Path,
) -> None:
    config = SOFTMAX_CONFIG.replace(
        'gpu_execution_accelerator [ { name: "tensorrt" } ]',
        'gpu_execution_accelerator [ { name: "tensorrt" } ]\n'
        '  cpu_execution_accelerator [ { name: "openvino" } ]')
    config = config.replace("optimization {", "optimization { priority: PRIORITY_MAX")
    write_model(tmp_path / "src", "softmax", config, {"1/model.onnx": b"onnx"})
    adapt_repository(tmp_path / "src", tmp_path / "dst", target=AdaptTarget.CPU)
    expected = _config(tmp_path / "src" / "softmax" / "config.pbtxt")
    expected.instance_group[0].kind = KIND_CPU
    del expected.instance_group[0].gpus[:]
    del expected.optimization.execution_accelerators.gpu_execution_accelerator[:]
    assert _config(tmp_path / "dst" / "softmax" / "config.pbtxt") == expected
    assert [a.name for a in expected.optimization.execution_accelerators
            .cpu_execution_accelerator] == ["openvino"]


# ----------------------------------------------------------- write_adapted_repository


def test_write_adapted_repository_marks_the_folder_and_replaces_an_earlier_run(
    tmp_path: Path,
) -> None:
    src = build_good_repository(tmp_path / "src")
    dst = tmp_path / "out" / "cpu"
    write_adapted_repository(src, dst, target=AdaptTarget.EMBEDDED)
    assert (dst / "softmax" / "1" / "model.py").is_file()
    write_adapted_repository(src, dst, target=AdaptTarget.CPU)
    assert not (dst / "softmax" / "1" / "model.py").exists()
    assert _config(dst / "softmax" / "config.pbtxt").platform == "onnxruntime_onnx"
    assert json.loads((dst / MARKER_NAME).read_text()) == {
        "source": str(src.resolve()), "target": "cpu"}
    assert sorted(p.name for p in dst.parent.iterdir()) == ["cpu"]  # no staging leftovers
    assert os.stat(dst).st_mode & 0o755 == 0o755
    assert os.stat(dst / "softmax" / "config.pbtxt").st_mode & 0o644 == 0o644


def test_write_adapted_repository_refuses_a_folder_it_did_not_write(tmp_path: Path) -> None:
    src = build_good_repository(tmp_path / "src")
    dst = tmp_path / "precious"
    (dst / "keep").mkdir(parents=True)
    with pytest.raises(AdaptDestinationError, match=f"{dst}.*not written by `adapt`"):
        write_adapted_repository(src, dst, target=AdaptTarget.CPU)
    assert sorted(p.name for p in dst.iterdir()) == ["keep"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious", "src"]


@pytest.mark.parametrize("where", ["same", "inside", "parent"])
def test_write_adapted_repository_refuses_a_destination_overlapping_the_source(
    tmp_path: Path, where: str,
) -> None:
    src = build_good_repository(tmp_path / "repo" / "src")
    dst = {"same": src, "inside": src / "cpu", "parent": tmp_path / "repo"}[where]
    with pytest.raises(AdaptDestinationError, match="must not be, contain or lie inside"):
        write_adapted_repository(src, dst, target=AdaptTarget.CPU)
    assert _config(src / "softmax" / "config.pbtxt").platform == "onnxruntime_onnx"


def test_write_adapted_repository_keeps_the_earlier_copy_when_adapting_fails(
    tmp_path: Path,
) -> None:
    src = build_good_repository(tmp_path / "src")
    dst = tmp_path / "cpu"
    write_adapted_repository(src, dst, target=AdaptTarget.CPU)
    before = sorted(str(p.relative_to(dst)) for p in dst.rglob("*"))
    (src / "softmax_trt" / "config.pbtxt").write_text("platform: ")
    with pytest.raises(AdaptationError, match="softmax_trt"):
        write_adapted_repository(src, dst, target=AdaptTarget.CPU)
    assert sorted(str(p.relative_to(dst)) for p in dst.rglob("*")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cpu", "src"]


def test_adapt_repository_rejects_onnx_source_outside_the_model_folder(tmp_path: Path) -> None:
    src = tmp_path / "src"
    config = PLAN_CONFIG.replace("source/model.onnx", "../../secret.onnx")
    write_model(src, "softmax_trt", config, {"1/model.plan": b"engine"})
    with pytest.raises(AdaptationError, match="inside the model folder"):
        adapt_repository(src, tmp_path / "dst", target=AdaptTarget.EMBEDDED)


def test_adapt_repository_embeds_default_model_filename_as_a_safe_literal(tmp_path: Path) -> None:
    hostile = 'we"ird\\n\'; import os #.onnx'
    config = SOFTMAX_CONFIG.replace(
        'platform: "onnxruntime_onnx"',
        'platform: "onnxruntime_onnx"\ndefault_model_filename: ' + _pbtxt_string(hostile))
    write_model(tmp_path / "src", "softmax", config, {})
    (tmp_path / "src" / "softmax" / "1").mkdir()
    adapt_repository(tmp_path / "src", tmp_path / "dst", target=AdaptTarget.EMBEDDED)
    source = (tmp_path / "dst" / "softmax" / "1" / "model.py").read_text()
    tree = ast.parse(source)
    literals = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }
    assert literals == {"MODEL_NAME": "softmax", "ONNX_FILENAME": hostile}
    assert _config(tmp_path / "dst" / "softmax" / "config.pbtxt").default_model_filename == ""


def _pbtxt_string(value: str) -> str:
    message = model_config_pb2.ModelConfig(default_model_filename=value)
    return text_format.MessageToString(message).split(":", 1)[1].strip()


def test_adapt_repository_raises_adaptation_error_naming_file_and_line_when_config_is_bad(
    tmp_path: Path,
) -> None:
    write_model(tmp_path / "src", "broken", 'name: "broken"\nmax_batch_size: "eight"\n', {})
    with pytest.raises(AdaptationError) as failure:
        adapt_repository(tmp_path / "src", tmp_path / "dst", target=AdaptTarget.EMBEDDED)
    assert failure.value.model == "broken"
    assert f"{tmp_path / 'src' / 'broken' / 'config.pbtxt'}:2:" in str(failure.value)
    assert isinstance(failure.value, ServingError)
    assert isinstance(failure.value.__cause__, ConfigSyntaxError)


@pytest.mark.parametrize("name", ["..", "a/b", "", "../etc", "a..b", " ", "bad name", "modèle"])
def test_validate_model_name_rejects_names_triton_refuses(name: str) -> None:
    with pytest.raises(AdaptationError, match="invalid model name"):
        validate_model_name(name)


@pytest.mark.parametrize("name", ["_x", "-x", ".x", "a.b", "v1.2-beta"])
def test_validate_model_name_accepts_names_triton_accepts(name: str) -> None:
    assert validate_model_name(name) == name


def test_substitution_prints_model_what_from_and_to() -> None:
    record = Substitution("m", "instance_group[0].kind", "KIND_GPU", "KIND_CPU")
    assert str(record) == "m: instance_group[0].kind: KIND_GPU -> KIND_CPU"


def test_parse_model_errors_maps_models_to_first_reason_from_triton_log_lines() -> None:
    log = "\n".join([
        'E1122 01:59:48.759973 4670 model_repository_manager.cc:1460] "Poll failed for model '
        "directory 'bad': dynamic batching preferred size must be <= max batch size for bad\"",
        'E1122 01:59:59.314067 4810 model_lifecycle.cc:642] "failed to load \'boom\' version 1: '
        'Internal: RuntimeError: kaboom\\n\\nAt:\\n  /r/boom/1/model.py(3): initialize\\n"',
        'I1122 01:59:59.314090 4810 model_lifecycle.cc:777] "failed to load \'boom\'"',
    ])
    assert parse_model_errors(log) == {
        "bad": "dynamic batching preferred size must be <= max batch size for bad",
        "boom": "Internal: RuntimeError: kaboom",
    }
