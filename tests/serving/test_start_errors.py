"""TritonServer start failures name the models at fault, with Triton's own reasons."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from generator import GeneratorError
from serving import ServerStartError, ServingError, TritonServer

from .conftest import processes_left, processes_mentioning

BAD_BATCH_CONFIG = textwrap.dedent("""
    name: "bad_batch"
    backend: "python"
    max_batch_size: 4
    dynamic_batching { preferred_batch_size: [ 16 ] }
    input [ { name: "X" data_type: TYPE_FP32 dims: [ 2 ] } ]
    output [ { name: "Y" data_type: TYPE_FP32 dims: [ 2 ] } ]
""")

CRASHING_CONFIG = textwrap.dedent("""
    name: "crashing"
    backend: "python"
    max_batch_size: 4
    input [ { name: "X" data_type: TYPE_FP32 dims: [ 2 ] } ]
    output [ { name: "Y" data_type: TYPE_FP32 dims: [ 2 ] } ]
""")

CRASHING_MODEL_PY = textwrap.dedent("""
    class TritonPythonModel:
        def initialize(self, args):
            raise RuntimeError("weights file is corrupt")
""")


def _write(repo: Path, name: str, config: str, model_py: str) -> None:
    (repo / name / "1").mkdir(parents=True)
    (repo / name / "config.pbtxt").write_text(config)
    (repo / name / "1" / "model.py").write_text(model_py)


def test_triton_server_raises_server_start_error_naming_each_model_when_models_fail_to_load(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    _write(repo, "bad_batch", BAD_BATCH_CONFIG, CRASHING_MODEL_PY)
    _write(repo, "crashing", CRASHING_CONFIG, CRASHING_MODEL_PY)
    server = TritonServer(repo, ready_timeout_s=90.0)
    with pytest.raises(ServerStartError) as failure:
        server.start()
    errors = failure.value.model_errors
    assert set(errors) == {"bad_batch", "crashing"}
    assert "preferred size must be <= max batch size" in errors["bad_batch"]
    assert "weights file is corrupt" in errors["crashing"]
    assert "bad_batch" in str(failure.value) and "crashing" in str(failure.value)
    # The runtime's own error root: caught as ServingError, never as a generator error.
    assert isinstance(failure.value, ServingError)
    assert not isinstance(failure.value, GeneratorError)
    # Nothing is left behind: no process, no private folder.
    assert not server.is_running
    assert failure.value.log_path is not None
    assert not failure.value.log_path.parent.exists()


def test_triton_server_raises_server_start_error_when_repository_is_missing(
    tmp_path: Path,
) -> None:
    with pytest.raises((ServerStartError, FileNotFoundError)):
        TritonServer(tmp_path / "missing").start()


def test_triton_server_stop_leaves_no_process_when_called_after_a_clean_start(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    _write(repo, "echo", CRASHING_CONFIG.replace('"crashing"', '"echo"'), textwrap.dedent("""
        import triton_python_backend_utils as pb_utils


        class TritonPythonModel:
            def execute(self, requests):
                return [pb_utils.InferenceResponse([pb_utils.Tensor(
                    "Y", pb_utils.get_input_tensor_by_name(r, "X").as_numpy())])
                    for r in requests]
    """))
    server = TritonServer(repo)
    with server:
        assert server.log_path is not None
        workdir = str(server.log_path.parent)
        # the server and its python backend stub both run from the private folder
        assert len(processes_mentioning(workdir)) >= 2
    assert not server.is_running
    assert processes_left(workdir) == []
    assert not Path(workdir).exists()
