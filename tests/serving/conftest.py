"""Tiny model repositories built in tmp folders, and a server shared by a test module."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from serving import TritonServer, start_server

WEIGHTS = np.arange(12, dtype=np.float32).reshape(4, 3) / 10.0

ADD_MODEL_PY = textwrap.dedent("""
    import numpy as np
    import triton_python_backend_utils as pb_utils


    class TritonPythonModel:
        def execute(self, requests):
            responses = []
            for request in requests:
                a = pb_utils.get_input_tensor_by_name(request, "INPUT0").as_numpy()
                b = pb_utils.get_input_tensor_by_name(request, "INPUT1").as_numpy()
                responses.append(pb_utils.InferenceResponse([
                    pb_utils.Tensor("SUM", (a + b).astype(np.float32)),
                    pb_utils.Tensor("DIFF", (a - b).astype(np.float32)),
                ]))
            return responses
""")

ADD_CONFIG = textwrap.dedent("""
    name: "add"
    backend: "python"
    max_batch_size: 8
    input [
      { name: "INPUT0" data_type: TYPE_FP32 dims: [ 4 ] },
      { name: "INPUT1" data_type: TYPE_FP32 dims: [ 4 ] }
    ]
    output [
      { name: "SUM" data_type: TYPE_FP32 dims: [ 4 ] },
      { name: "DIFF" data_type: TYPE_FP32 dims: [ 4 ] }
    ]
    instance_group [ { kind: KIND_CPU count: 1 } ]
""")

SOFTMAX_CONFIG = textwrap.dedent("""
    name: "softmax"
    platform: "onnxruntime_onnx"
    max_batch_size: 8
    input [ { name: "x" data_type: TYPE_FP32 dims: [ 4 ] } ]
    output [ { name: "y" data_type: TYPE_FP32 dims: [ 3 ] } ]
    instance_group [ { kind: KIND_GPU count: 1 gpus: [ 0 ] } ]
    dynamic_batching { max_queue_delay_microseconds: 50000 }
    optimization { execution_accelerators {
      gpu_execution_accelerator [ { name: "tensorrt" } ]
    } }
""")

PLAN_CONFIG = textwrap.dedent("""
    name: "softmax_trt"
    platform: "tensorrt_plan"
    max_batch_size: 8
    input [ { name: "x" data_type: TYPE_FP32 dims: [ 4 ] } ]
    output [ { name: "y" data_type: TYPE_FP32 dims: [ 3 ] } ]
    instance_group [ { kind: KIND_GPU count: 1 } ]
    parameters { key: "onnx_source" value: { string_value: "source/model.onnx" } }
""")


def softmax_onnx() -> onnx.ModelProto:
    """x [N,4] -> softmax(x @ WEIGHTS) [N,3], batch dimension dynamic."""
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["y"], axis=-1),
        ],
        "softmax",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(WEIGHTS, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def processes_mentioning(text: str) -> list[int]:
    """Process ids whose command line contains ``text`` (e.g. a server's private folder)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if text.encode() in cmdline:
            pids.append(int(entry.name))
    return pids


def processes_left(text: str, timeout_s: float = 10.0) -> list[int]:
    """Processes still mentioning ``text`` once they had ``timeout_s`` to finish exiting.

    A process killed with SIGKILL disappears a moment after the signal is sent, so the
    check waits on that condition (bounded) rather than reading /proc once.
    """
    deadline = time.monotonic() + timeout_s
    while (pids := processes_mentioning(text)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pids


def write_model(repo: Path, name: str, config: str, files: dict[str, bytes | str]) -> Path:
    """Write ``repo/name/config.pbtxt`` and ``files`` (paths relative to the model folder)."""
    folder = repo / name
    folder.mkdir(parents=True)
    (folder / "config.pbtxt").write_text(config)
    for relative, content in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_bytes(content)
    return folder


def build_good_repository(repo: Path) -> Path:
    """A python add model, ONNX softmaxes (KIND_GPU; auto-complete) and a TensorRT plan."""
    onnx_bytes = softmax_onnx().SerializeToString()
    write_model(repo, "add", ADD_CONFIG, {"1/model.py": ADD_MODEL_PY})
    write_model(repo, "softmax", SOFTMAX_CONFIG, {"1/model.onnx": onnx_bytes})
    # Inputs and outputs left to auto-complete, as a full Triton's onnxruntime backend does.
    write_model(repo, "softmax_auto", 'platform: "onnxruntime_onnx"\nmax_batch_size: 8\n',
                {"1/model.onnx": onnx_bytes})
    write_model(repo, "softmax_trt", PLAN_CONFIG, {
        "1/model.plan": b"not a real engine",
        "source/model.onnx": onnx_bytes,
    })
    return repo


@pytest.fixture(scope="module")
def good_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh good repository for the module."""
    return build_good_repository(tmp_path_factory.mktemp("serving") / "repo")


@pytest.fixture(scope="module")
def served(good_repository: Path) -> Iterator[TritonServer]:
    """The embedded Triton serving ``good_repository`` (adapted), shared by a module."""
    with start_server(good_repository, ready_timeout_s=90.0) as server:
        yield server
