"""complete_from_onnx and the automatic ONNX cross-check in validate_model."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper
from tritonclient.grpc import model_config_pb2 as mc

from generator.errors import OnnxModelError
from generator.validation import Issue, complete_from_onnx, parse_config

CheckFn = Callable[..., list[Issue]]


def _relu_model(
    path: Path,
    shape: Sequence[int | str] = ("N", 3, 4, 4),
    input_name: str = "pixels",
    elem_type: int = TensorProto.FLOAT,
) -> Path:
    node = helper.make_node("Relu", [input_name], ["probs"])
    graph = helper.make_graph(
        [node],
        "tiny",
        [helper.make_tensor_value_info(input_name, elem_type, list(shape))],
        [helper.make_tensor_value_info("probs", elem_type, list(shape))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, str(path))
    return path


def _config(text: str = "") -> mc.ModelConfig:
    return parse_config('name: "m" platform: "onnxruntime_onnx" max_batch_size: 8\n' + text)


def _codes(issues: list[Issue]) -> list[str]:
    return [i.code for i in issues]


def test_complete_from_onnx_fills_inputs_without_batch_dim_when_batching(tmp_path: Path) -> None:
    config = _config()
    completed, issues = complete_from_onnx(config, _relu_model(tmp_path / "m.onnx"))
    assert issues == []
    assert [(i.name, i.data_type, list(i.dims)) for i in completed.input] == [
        ("pixels", mc.TYPE_FP32, [3, 4, 4])
    ]
    assert [(o.name, list(o.dims)) for o in completed.output] == [("probs", [3, 4, 4])]
    assert len(config.input) == 0, "the given config must not be modified"


def test_complete_from_onnx_keeps_symbolic_first_dim_as_wildcard_when_not_batching(
    tmp_path: Path,
) -> None:
    config = _config()
    config.max_batch_size = 0
    completed, issues = complete_from_onnx(config, _relu_model(tmp_path / "m.onnx"))
    assert issues == []
    assert list(completed.input[0].dims) == [-1, 3, 4, 4]


def test_complete_from_onnx_errors_when_first_dim_is_fixed_above_one_and_batching(
    tmp_path: Path,
) -> None:
    _, issues = complete_from_onnx(_config(), _relu_model(tmp_path / "m.onnx", (2, 3)))
    fixed = [i for i in issues if i.code == "onnx-batch-dim-fixed"]
    assert fixed and fixed[0].is_error and fixed[0].field == "input[0]"
    assert "fixed first dimension 2" in fixed[0].message and "max_batch_size is 8" in (
        fixed[0].message
    )


def test_complete_from_onnx_rejects_input_name_naming_both_when_name_is_wrong(
    tmp_path: Path,
) -> None:
    config = _config('input [ { name: "image" data_type: TYPE_FP32 dims: [ 3, 4, 4 ] } ]')
    _, issues = complete_from_onnx(config, _relu_model(tmp_path / "m.onnx"))
    unknown = [i for i in issues if i.code == "onnx-unknown-input"]
    assert len(unknown) == 1 and unknown[0].field == "input[0].name"
    assert unknown[0].message == "input 'image' is not in the ONNX model; it has: 'pixels'"
    assert "onnx-input-not-in-config" in _codes(issues)


def test_complete_from_onnx_names_both_shapes_when_dims_differ(tmp_path: Path) -> None:
    config = _config('input [ { name: "pixels" data_type: TYPE_FP32 dims: [ 3, 8, 8 ] } ]')
    _, issues = complete_from_onnx(config, _relu_model(tmp_path / "m.onnx"))
    assert _codes(issues) == ["onnx-dims-mismatch"]
    assert "[3, 8, 8]" in issues[0].message and "[N, 3, 4, 4]" in issues[0].message
    assert issues[0].field == "input[0].dims"


def test_complete_from_onnx_says_batch_dim_is_kept_when_dims_include_it(tmp_path: Path) -> None:
    config = _config('input [ { name: "pixels" data_type: TYPE_FP32 dims: [ -1, 3, 4, 4 ] } ]')
    _, issues = complete_from_onnx(config, _relu_model(tmp_path / "m.onnx"))
    assert _codes(issues) == ["onnx-dims-include-batch"]
    assert "keep the batch dimension" in issues[0].message and "[3, 4, 4]" in issues[0].message


def test_complete_from_onnx_names_both_types_when_data_type_differs(tmp_path: Path) -> None:
    config = _config('input [ { name: "pixels" data_type: TYPE_INT64 dims: [ 3, 4, 4 ] } ]')
    _, issues = complete_from_onnx(config, _relu_model(tmp_path / "m.onnx"))
    assert _codes(issues) == ["onnx-data-type-mismatch"]
    assert "TYPE_INT64" in issues[0].message and "FLOAT (TYPE_FP32)" in issues[0].message


def test_complete_from_onnx_compares_reshape_when_config_has_one(tmp_path: Path) -> None:
    config = _config('input [ { name: "pixels" data_type: TYPE_FP32 dims: [ 48 ] '
                     "reshape { shape: [ 3, 4, 4 ] } } ]")
    _, issues = complete_from_onnx(config, _relu_model(tmp_path / "m.onnx"))
    assert issues == []


def test_complete_from_onnx_raises_naming_path_when_file_is_not_onnx(tmp_path: Path) -> None:
    bad = tmp_path / "m.onnx"
    bad.write_bytes(b"this is not a protobuf \xff\xfe")
    with pytest.raises(OnnxModelError, match=r"m\.onnx"):
        complete_from_onnx(_config(), bad)


def test_validate_model_cross_checks_onnx_file_when_backend_is_onnxruntime(
    check: CheckFn, tmp_path: Path
) -> None:
    onnx_bytes = _relu_model(tmp_path / "src.onnx").read_bytes()
    good = ('name: "m" platform: "onnxruntime_onnx" max_batch_size: 8\n'
            'input [ { name: "pixels" data_type: TYPE_FP32 dims: [ 3, 4, 4 ] } ]\n'
            'output [ { name: "probs" data_type: TYPE_FP32 dims: [ 3, 4, 4 ] } ]\n'
            "instance_group [ { kind: KIND_CPU } ]\n")
    assert check(good, files={"1/model.onnx": onnx_bytes}) == []
    issues = check(good.replace('"pixels"', '"image"'), files={"1/model.onnx": onnx_bytes})
    assert "onnx-unknown-input" in _codes(issues)
    assert issues[0].path is not None and issues[0].path.name == "model.onnx"


def test_validate_model_reports_unreadable_onnx_as_error_with_path(check: CheckFn) -> None:
    text = 'name: "m" platform: "onnxruntime_onnx" max_batch_size: 0\n'
    issues = check(text, files={"1/model.onnx": b"garbage\xff"})
    unreadable = [i for i in issues if i.code == "onnx-unreadable"]
    assert unreadable and unreadable[0].is_error
    assert unreadable[0].path is not None and unreadable[0].path.name == "model.onnx"


INFERRED = """
name: "m"
max_batch_size: 8
input [ { name: "%s" data_type: TYPE_FP32 dims: [ 3, 4, 4 ] } ]
output [ { name: "probs" data_type: TYPE_FP32 dims: [ 3, 4, 4 ] } ]
instance_group [ { kind: KIND_CPU } ]
"""


@pytest.mark.parametrize("platform_line", ["", 'backend: "onnxruntime"'])
def test_validate_model_cross_checks_onnx_file_when_platform_is_inferred_or_only_backend_set(
    check: CheckFn, tmp_path: Path, platform_line: str
) -> None:
    onnx_bytes = _relu_model(tmp_path / "m.onnx").read_bytes()
    bad = check(platform_line + INFERRED % "image", files={"1/model.onnx": onnx_bytes})
    unknown = [i for i in bad if i.code == "onnx-unknown-input"]
    assert [(i.severity.value, i.field) for i in unknown] == [("error", "input[0].name")]
    assert "'image' is not in the ONNX model; it has: 'pixels'" in unknown[0].message
    good = check(platform_line + INFERRED % "pixels", files={"1/model.onnx": onnx_bytes})
    assert not [i for i in good if i.is_error], [str(i) for i in good]
    detected = [i.code for i in good if i.code == "backend-auto-detected"]
    assert detected == (["backend-auto-detected"] if not platform_line else [])


def test_validate_cli_rejects_onnx_input_name_mismatch_when_platform_is_inferred(
    tmp_path: Path,
) -> None:
    model_dir = tmp_path / "repo" / "m"
    (model_dir / "1").mkdir(parents=True)
    _relu_model(model_dir / "1" / "model.onnx")
    (model_dir / "config.pbtxt").write_text(INFERRED % "image", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "generator", "validate", str(model_dir.parent)],
                            capture_output=True, text=True, check=False, timeout=120,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 1
    assert "error: m.input[0].name: input 'image' is not in the ONNX model" in result.stderr
    assert "[backend-auto-detected]" in result.stderr
