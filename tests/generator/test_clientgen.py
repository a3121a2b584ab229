"""``python -m generator clients``: naming rules, determinism, drift check, refusals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from generator.clientgen import class_prefix, client_files, field_name, module_name
from generator.errors import SpecError
from generator.init import init_module_source
from generator.loader import load_specs
from tests.generator.onnx_zoo import BUILDERS

REPO_ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "generator", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)


def _specs(tmp_path: Path, *models: str) -> Path:
    folder = tmp_path / "specs"
    folder.mkdir(exist_ok=True)
    for model in models:
        path = BUILDERS[model](tmp_path / "onnx")
        spec = folder / f"{model}.py"
        spec.write_text(init_module_source(path, out=spec))
    return folder


@pytest.mark.parametrize(("tensor", "field"), [
    ("gpu_0/data_0", "gpu_0_data_0"), ("row total", "row_total"), ("0pixels", "t_0pixels"),
    ("_hidden", "t_hidden"), ("class", "class_"), ("INPUT__0", "INPUT__0"), ("modèle", "mod_le"),
])
def test_field_name_rule(tensor: str, field: str) -> None:
    assert field_name(tensor) == field


@pytest.mark.parametrize(("model", "prefix", "module"), [
    ("my-model", "MyModel", "my_model"), ("image_diagnosis", "ImageDiagnosis", "image_diagnosis"),
    ("resnet50.v2", "Resnet50V2", "resnet50_v2"), ("3d-unet", "Model3dUnet", "model_3d_unet"),
])
def test_model_name_rules(model: str, prefix: str, module: str) -> None:
    assert class_prefix(model) == prefix
    assert module_name(model) == module


def test_clients_cli_writes_deterministic_package_and_check_catches_drift(tmp_path: Path) -> None:
    specs = _specs(tmp_path, "labels", "sequence")
    out = tmp_path / "lib" / "my_clients"
    assert _cli("clients", str(specs), "--out", str(out)).returncode == 0
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {"__init__.py", "py.typed", "labels.py", "sequence.py"} <= set(first)
    assert client_files(load_specs(specs), "my_clients") == {
        k: v for k, v in first.items() if not k.startswith(".")}
    assert _cli("clients", str(specs), "--out", str(out), "--check").returncode == 0
    (out / "labels.py").write_text("# edited\n")
    drift = _cli("clients", str(specs), "--out", str(out), "--check")
    assert drift.returncode == 1 and "changed: labels.py" in drift.stderr


def _onnx_with_inputs(path: Path, names: list[str]) -> Path:
    graph = helper.make_graph(
        [helper.make_node("Concat", names, ["y"], axis=1)], "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", 1]) for n in names],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", len(names)])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def test_clients_tensor_names_colliding_after_rule_exit_2_and_write_nothing(
    tmp_path: Path,
) -> None:
    path = _onnx_with_inputs(tmp_path / "clash.onnx", ["a-b", "a_b"])
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "clash.py").write_text(init_module_source(path, out=specs / "clash.py"))
    out = tmp_path / "clash_clients"
    result = _cli("clients", str(specs), "--out", str(out))
    assert result.returncode == 2
    assert "clash.input[1]" in result.stderr and "'a-b' and 'a_b'" in result.stderr
    assert not out.exists()


def test_clients_models_colliding_after_rule_are_refused(tmp_path: Path) -> None:
    specs = _specs(tmp_path, "labels")
    (specs / "other.py").write_text(
        (specs / "labels.py").read_text().replace("'labels',", "'Labels',", 1))
    with pytest.raises(SpecError, match=r"'labels' and 'Labels' both become"):
        client_files(load_specs(specs), "pkg")


def test_clients_output_folder_must_be_an_identifier(tmp_path: Path) -> None:
    specs = _specs(tmp_path, "labels")
    result = _cli("clients", str(specs), "--out", str(tmp_path / "my-clients"))
    assert result.returncode == 2 and "identifier" in result.stderr
    assert not (tmp_path / "my-clients").exists()
