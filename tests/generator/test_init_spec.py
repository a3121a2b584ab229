"""``python -m generator init``: a spec module from an ONNX file that ``build`` accepts."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper
from tritonclient.grpc import model_config_pb2 as mc

from generator.errors import OnnxModelError, SpecError
from generator.importer import import_module_source
from generator.init import DEFAULT_MAX_BATCH_SIZE, init_module_source
from generator.layout import load_config
from generator.loader import load_specs
from generator.writer import build_repository
from tests.generator.onnx_zoo import BUILDERS

REPO_ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "generator", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)


def _built_config(onnx_file: Path, tmp_path: Path) -> mc.ModelConfig:
    spec = tmp_path / "specs" / f"{onnx_file.stem}.py"
    spec.parent.mkdir(exist_ok=True)
    spec.write_text(init_module_source(onnx_file, out=spec))
    build_repository(load_specs(spec), tmp_path / "repo")
    return load_config(tmp_path / "repo" / onnx_file.stem / "config.pbtxt")


@pytest.mark.parametrize("model", sorted(BUILDERS))
def test_init_spec_of_each_model_builds_and_is_deterministic(model: str, tmp_path: Path) -> None:
    onnx_file = BUILDERS[model](tmp_path / "onnx")
    first = init_module_source(onnx_file, out=tmp_path / "specs" / "m.py")
    assert first == init_module_source(onnx_file, out=tmp_path / "specs" / "m.py")
    ast.parse(first)
    config = _built_config(onnx_file, tmp_path)
    assert config.name == model
    assert config.platform == "onnxruntime_onnx"


def test_init_of_dynamic_first_dims_batches_with_triton_default_and_dynamic_batching(
    tmp_path: Path,
) -> None:
    config = _built_config(BUILDERS["mixed-dtypes"](tmp_path / "onnx"), tmp_path)
    assert config.max_batch_size == DEFAULT_MAX_BATCH_SIZE == 4
    assert config.HasField("dynamic_batching")
    assert [(i.name, list(i.dims), i.data_type) for i in config.input] == [
        ("input-features", [4], mc.TYPE_FP32), ("scale", [1], mc.TYPE_INT64)]
    assert [o.name for o in config.output] == ["weighted", "row total"]


def test_init_of_fixed_first_dim_does_not_batch_and_keeps_full_dims(tmp_path: Path) -> None:
    config = _built_config(BUILDERS["resnet50"](tmp_path / "onnx"), tmp_path)
    assert config.max_batch_size == 0
    assert not config.HasField("dynamic_batching")
    assert list(config.input[0].dims) == [1, 3, 224, 224]
    assert config.input[0].name == "gpu_0/data_0"


def test_init_symbolic_non_batch_dim_becomes_minus_one_with_a_comment(tmp_path: Path) -> None:
    onnx_file = BUILDERS["sequence"](tmp_path / "onnx")
    source = init_module_source(onnx_file)
    assert "# 'tokens': ONNX INT32 [batch, seq] -> TYPE_INT32 dims [-1]" in source
    assert "'seq' symbolic: -1" in source
    assert list(_built_config(onnx_file, tmp_path).input[0].dims) == [-1]


def test_init_comments_every_inferred_choice(tmp_path: Path) -> None:
    source = init_module_source(BUILDERS["labels"](tmp_path / "onnx"))
    lines = source.splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith(("max_batch_size=", "dynamic_batching=", "Input(", "Output(")):
            assert lines[i - 1].strip().startswith("#"), line
    assert "default-max-batch-size" in source


def test_init_hostile_tensor_name_stays_a_literal(tmp_path: Path) -> None:
    name = 'x"""\nimport os  # \\'
    graph = helper.make_graph(
        [helper.make_node("Identity", [name], ["y"])], "g",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["n", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 2])])
    path = tmp_path / "hostile.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, str(path))
    tree = ast.parse(init_module_source(path))
    assert not any(isinstance(node, ast.Import) and node.names[0].name == "os"
                   for node in ast.walk(tree))
    assert name in [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]


def test_init_cli_writes_spec_that_build_check_accepts(tmp_path: Path) -> None:
    onnx_file = BUILDERS["labels"](tmp_path / "onnx")
    spec = tmp_path / "specs" / "labels.py"
    assert _cli("init", str(onnx_file), "-o", str(spec)).returncode == 0
    assert _cli("build", str(spec.parent), "--out", str(tmp_path / "repo"), "-q").returncode == 0
    check = _cli("build", str(spec.parent), "--out", str(tmp_path / "repo"), "--check")
    assert check.returncode == 0, check.stderr


def test_init_cli_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    onnx_file = BUILDERS["labels"](tmp_path / "onnx")
    spec = tmp_path / "labels.py"
    spec.write_text("# mine\n")
    result = _cli("init", str(onnx_file), "-o", str(spec))
    assert result.returncode == 2 and "--force" in result.stderr
    assert spec.read_text() == "# mine\n"


def test_init_cli_non_onnx_file_exits_2_naming_file_and_writes_nothing(tmp_path: Path) -> None:
    bogus = tmp_path / "model.onnx"
    bogus.write_bytes(b"this is not protobuf at all \xff\xfe")
    spec = tmp_path / "spec.py"
    result = _cli("init", str(bogus), "-o", str(spec))
    assert result.returncode == 2
    assert str(bogus) in result.stderr and "not a readable ONNX model" in result.stderr
    assert not spec.exists()


def test_init_model_without_inputs_names_the_file(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["y"], value=helper.make_tensor(
            "c", TensorProto.FLOAT, [1], [1.0]))], "g", [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    path = tmp_path / "constant.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    with pytest.raises(OnnxModelError, match=r"constant\.onnx: the graph has no inputs"):
        init_module_source(path)


def test_init_invalid_model_name_asks_for_name(tmp_path: Path) -> None:
    path = BUILDERS["labels"](tmp_path / "onnx")
    with pytest.raises(SpecError, match="pass --name"):
        init_module_source(path, name="a b")


def test_import_of_model_folder_without_config_gives_init_spec(tmp_path: Path) -> None:
    folder = tmp_path / "labels"
    (folder / "1").mkdir(parents=True)
    BUILDERS["labels"](tmp_path / "onnx").rename(folder / "1" / "model.onnx")
    out = tmp_path / "specs" / "labels.py"
    assert import_module_source(folder, out) == init_module_source(folder, out=out)
    result = _cli("import", str(folder), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert load_specs(out)[0].spec.name == "labels"
