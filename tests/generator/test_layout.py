"""generator.layout: one name rule for every tool, config loading, all-or-nothing writes."""

from __future__ import annotations

import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from tritonclient.grpc import model_config_pb2 as mc

from generator import SpecError, build_repository, load_specs
from generator.errors import ConfigSyntaxError
from generator.layout import (
    load_config,
    model_name_problem,
    replace_folder,
    swap_folder,
    write_text_atomic,
)
from generator.presets import python_model
from generator.spec import DataType, Input, Output, Text
from generator.validation import ModelArtifacts, validate_model, validate_repository
from serving import (
    AdaptationError,
    AdaptTarget,
    ServerStartError,
    TritonServer,
    start_server,
    validate_model_name,
)
from serving import write_adapted_repository as adapt

ACCEPTED = ["_x", "-x", ".x", "v1.2-beta", "Model_01"]
REFUSED = [" ", "a/b", "../m", "a..b", ".", "modèle", "a b", "it's", "a\\b"]

IDENTITY_PY = """\
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        return [pb_utils.InferenceResponse([pb_utils.Tensor(
            "Y", pb_utils.get_input_tensor_by_name(r, "X").as_numpy())]) for r in requests]
"""

SPECS = """\
from generator.presets import python_model
from generator.spec import DataType, Input, Output, Text

MODELS = [
    python_model(name, source=Text({source!r}), max_batch_size=4,
                 inputs=[Input("X", DataType.FP32, [2])],
                 outputs=[Output("Y", DataType.FP32, [2])])
    for name in {names!r}
]
"""


def _spec_verdict(name: str) -> bool:
    try:
        python_model(name, source=Text("# model\n"), max_batch_size=0,
                     inputs=[Input("X", DataType.FP32, [2])],
                     outputs=[Output("Y", DataType.FP32, [2])])
    except SpecError:
        return False
    return True


def _validate_verdict(name: str) -> bool:
    artifacts = ModelArtifacts(config=mc.ModelConfig(name=name, backend="python"),
                               directory_name=name, files={}, versions=(1,))
    return not any(i.code == "invalid-model-name" for i in validate_model(artifacts))


def _adapt_verdict(name: str) -> bool:
    try:
        validate_model_name(name)
    except AdaptationError:
        return False
    return True


@pytest.mark.parametrize("name", ACCEPTED)
def test_model_name_rule_accepts_names_triton_accepts_in_build_validate_and_adapt(
    name: str,
) -> None:
    assert model_name_problem(name) is None
    assert (_spec_verdict(name), _validate_verdict(name), _adapt_verdict(name)) == (
        True, True, True)


@pytest.mark.parametrize("name", REFUSED)
def test_model_name_rule_refuses_names_triton_refuses_in_build_validate_and_adapt(
    name: str,
) -> None:
    assert model_name_problem(name)
    assert (_spec_verdict(name), _validate_verdict(name), _adapt_verdict(name)) == (
        False, False, False)


def test_model_name_rule_refuses_the_empty_name() -> None:
    assert model_name_problem("") == "is empty"
    assert not _adapt_verdict("")


def test_load_config_names_file_and_line_when_config_does_not_parse(tmp_path: Path) -> None:
    path = tmp_path / "config.pbtxt"
    path.write_text('name: "m"\nmax_batch_size: "eight"\n')
    with pytest.raises(ConfigSyntaxError) as failure:
        load_config(path)
    assert (failure.value.path, failure.value.line) == (path, 2)
    assert str(failure.value).startswith(f"{path}:2:")


def test_replace_folder_swaps_the_new_tree_in_when_the_block_succeeds(tmp_path: Path) -> None:
    target = tmp_path / "repo"
    (target / "old").mkdir(parents=True)
    with replace_folder(target) as staged:
        write_text_atomic(staged / "new" / "file.txt", "new\n")
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) == [
        "new", "new/file.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["repo"]


def test_replace_folder_leaves_target_untouched_when_the_block_fails(tmp_path: Path) -> None:
    target = tmp_path / "repo"
    write_text_atomic(target / "keep.txt", "old\n")
    with pytest.raises(RuntimeError, match="half way"), replace_folder(target) as staged:
        write_text_atomic(staged / "partial.txt", "new\n")
        raise RuntimeError("half way")
    assert (target / "keep.txt").read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["keep.txt", "repo"]


def test_swap_folder_puts_the_old_folder_back_when_the_new_one_cannot_be_moved_in(
    tmp_path: Path,
) -> None:
    target = tmp_path / "repo"
    write_text_atomic(target / "keep.txt", "old\n")
    with pytest.raises(FileNotFoundError):
        swap_folder(tmp_path / "vanished", target)
    assert (target / "keep.txt").read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["repo"]


def test_valid_odd_names_are_built_validated_adapted_and_served_alike(tmp_path: Path) -> None:
    names = ["_x", "-x"]
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "odd_names.py").write_text(SPECS.format(source=IDENTITY_PY, names=names),
                                        encoding="utf-8")
    repo = tmp_path / "repo"
    build_repository(load_specs([specs]), repo)
    assert sorted(p.name for p in repo.iterdir() if p.is_dir()) == sorted(names)
    assert [i for i in validate_repository(repo) if i.is_error] == []
    adapt(repo, tmp_path / "adapted", target=AdaptTarget.CPU)
    assert sorted(p.name for p in (tmp_path / "adapted").iterdir() if p.is_dir()) == sorted(names)
    with start_server(repo, ready_timeout_s=90.0) as server:
        for name in names:
            url = f"{server.http_url}/v2/models/{urllib.parse.quote(name)}/ready"
            with urllib.request.urlopen(url, timeout=10) as response:
                assert response.status == 200, name


def test_non_ascii_name_is_refused_by_serve_before_start_and_by_triton_itself(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    (repo / "modèle" / "1").mkdir(parents=True)
    (repo / "modèle" / "config.pbtxt").write_text(
        'backend: "python"\nmax_batch_size: 4\n'
        'input [ { name: "X" data_type: TYPE_FP32 dims: [ 2 ] } ]\n'
        'output [ { name: "Y" data_type: TYPE_FP32 dims: [ 2 ] } ]\n', encoding="utf-8")
    (repo / "modèle" / "1" / "model.py").write_text(IDENTITY_PY, encoding="utf-8")
    issues = [i for i in validate_repository(repo) if i.code == "invalid-model-name"]
    assert len(issues) == 1 and "'è'" in str(issues[0])
    server = TritonServer(repo, ready_timeout_s=90.0)
    with pytest.raises(AdaptationError, match="invalid model name"):
        server.start()
    assert not server.is_running
    # The reason for the rule: Triton's python backend cannot load the model.
    unadapted = TritonServer(repo, adapt=False, ready_timeout_s=90.0)
    with pytest.raises(ServerStartError) as failure:
        unadapted.start()
    assert "UnicodeEncodeError" in failure.value.model_errors["modèle"]
