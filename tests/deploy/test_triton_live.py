"""The compose file's tritonserver command, run by the real Triton 2.51 binary.

One embedded server is started with exactly the flags of the ``triton`` service (the model
repository and ports replaced by a test repository and free loopback ports). The test
repository is written the way a GPU deployment would be (KIND_GPU, a TensorRT plan with its
ONNX source beside it) and adapted by ``python -m generator adapt``'s code path
(:func:`serving.write_adapted_repository`):

- ``--target cpu`` is what ``deploy/compose.cpu.yml`` serves on a full Triton. The embedded
  binary has only the python backend, so it cannot load the onnxruntime model of that copy;
  its configs are checked instead, and its ONNX file is run with onnxruntime;
- ``--target embedded`` (the same changes, ONNX models wrapped in python-backend models) is
  what the embedded binary serves with the compose flags, so the same models are loaded.
"""

from __future__ import annotations

import json
import re
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from google.protobuf import text_format
from onnx import TensorProto, helper, numpy_helper
from tritonclient.grpc import model_config_pb2
from tritonclient.utils import InferenceServerException

from serving import MARKER_NAME, AdaptTarget, TritonServer, write_adapted_repository

#: Metrics Triton exports only when it sees an NVIDIA GPU (absent on CPU-only hosts, CI).
GPU_ONLY_METRICS = frozenset({
    "nv_gpu_utilization",
    "nv_gpu_memory_total_bytes",
    "nv_gpu_memory_used_bytes",
    "nv_gpu_power_usage",
    "nv_gpu_power_limit",
    "nv_energy_consumption",
})
SERVER_OWNED_FLAGS = ("--model-repository", "--http-port", "--grpc-port", "--metrics-port")
MODELS = ["echo", "echo_trt"]
KIND_CPU = model_config_pb2.ModelInstanceGroup.KIND_CPU
METRIC_NAME = re.compile(r"\bnv_[a-z0-9_]+\b")
SAMPLE_NAME = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)", re.M)
FAMILY_TYPE = re.compile(r"^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$", re.M)

ECHO_MODEL = textwrap.dedent('''\
    import numpy as np
    import triton_python_backend_utils as pb_utils


    class TritonPythonModel:
        def execute(self, requests):
            responses = []
            for request in requests:
                x = pb_utils.get_input_tensor_by_name(request, "X").as_numpy()
                y = np.ascontiguousarray(x * 2.0, dtype=np.float32)
                responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("Y", y)]))
            return responses
''')
ECHO_CONFIG = textwrap.dedent('''\
    name: "echo"
    backend: "python"
    max_batch_size: 8
    input [ { name: "X" data_type: TYPE_FP32 dims: [ 4 ] } ]
    output [ { name: "Y" data_type: TYPE_FP32 dims: [ 4 ] } ]
    dynamic_batching { }
    instance_group [ { kind: KIND_GPU count: 1 gpus: [ 0 ] } ]
''')
PLAN_CONFIG = textwrap.dedent('''\
    name: "echo_trt"
    platform: "tensorrt_plan"
    max_batch_size: 8
    input [ { name: "X" data_type: TYPE_FP32 dims: [ 4 ] } ]
    output [ { name: "Y" data_type: TYPE_FP32 dims: [ 4 ] } ]
    instance_group [ { kind: KIND_GPU count: 1 } ]
''')


def _double_onnx() -> bytes:
    """X [N,4] -> Y = 2 X, the ONNX source of the echo_trt plan."""
    graph = helper.make_graph(
        [helper.make_node("Mul", ["X", "two"], ["Y"])],
        "double",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 4])],
        [numpy_helper.from_array(np.array(2.0, dtype=np.float32), "two")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _gpu_repository(root: Path) -> Path:
    (root / "echo" / "1").mkdir(parents=True)
    (root / "echo" / "config.pbtxt").write_text(ECHO_CONFIG, encoding="utf-8")
    (root / "echo" / "1" / "model.py").write_text(ECHO_MODEL, encoding="utf-8")
    (root / "echo_trt" / "1").mkdir(parents=True)
    (root / "echo_trt" / "config.pbtxt").write_text(PLAN_CONFIG, encoding="utf-8")
    (root / "echo_trt" / "1" / "model.plan").write_bytes(b"a GPU-specific engine")
    (root / "echo_trt" / "1" / "model.onnx").write_bytes(_double_onnx())
    return root


def _config(path: Path) -> model_config_pb2.ModelConfig:
    config = model_config_pb2.ModelConfig()
    text_format.Parse(path.read_text(encoding="utf-8"), config)
    return config


def _server_args(triton_command: list[str]) -> list[str]:
    assert triton_command[0] == "tritonserver"
    args = triton_command[1:]
    for flag in SERVER_OWNED_FLAGS:
        assert sum(a.startswith(flag + "=") for a in args) == 1, f"{flag}=VALUE expected once"
    return [a for a in args if not a.startswith(SERVER_OWNED_FLAGS)]


@pytest.fixture(scope="module")
def gpu_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _gpu_repository(tmp_path_factory.mktemp("deploy-gpu") / "model_repository")


@pytest.fixture(scope="module")
def adapted(gpu_repository: Path) -> dict[AdaptTarget, Path]:
    """``python -m generator adapt`` outputs for both targets, beside the source."""
    folders = {}
    for target in (AdaptTarget.CPU, AdaptTarget.EMBEDDED):
        folder = gpu_repository.parent / f"model_repository_{target.value}"
        write_adapted_repository(gpu_repository, folder, target=target)
        folders[target] = folder
    return folders


@pytest.fixture(scope="module")
def compose_server(
    adapted: dict[AdaptTarget, Path], triton_command: list[str],
) -> Iterator[TritonServer]:
    server = TritonServer(
        adapted[AdaptTarget.EMBEDDED],
        adapt=False,
        restrict_admin_apis=False,  # the compose flags below restrict them
        extra_args=_server_args(triton_command),
        ready_timeout_s=120.0,
    )
    with server:
        yield server


@pytest.fixture(scope="module")
def admin_header(triton_command: list[str]) -> dict[str, str]:
    (value,) = [a.split("=", 1)[1] for a in triton_command if a.startswith("--http-restricted")]
    key, secret = value.split(":", 1)[1].split("=", 1)
    return {key: secret}


def _status(url: str, *, method: str = "GET", headers: dict[str, str] | None = None) -> int:
    data = b"{}" if method == "POST" else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10.0) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _infer(server: TritonServer, count: int) -> None:
    client = httpclient.InferenceServerClient(server.http_address)
    try:
        for index in range(count):
            x = np.full((1, 4), index, dtype=np.float32)
            tensor = httpclient.InferInput("X", [1, 4], "FP32")
            tensor.set_data_from_numpy(x)
            for model in MODELS:
                result = client.infer(model, [tensor])
                np.testing.assert_array_equal(result.as_numpy("Y"), x * 2)
    finally:
        client.close()


def _exported_names(text: str) -> set[str]:
    names = set(SAMPLE_NAME.findall(text))
    for family, kind in FAMILY_TYPE.findall(text):
        names.add(family)
        if kind in ("summary", "histogram"):
            names |= {family + suffix for suffix in ("_sum", "_count", "_bucket")}
    return names


def _dashboard_metrics(deploy_root: Path) -> set[str]:
    path = deploy_root / "deploy" / "grafana" / "dashboards" / "triton.json"
    dashboard: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    queries += [v["definition"] for v in dashboard["templating"]["list"]]
    return {name for query in queries for name in METRIC_NAME.findall(query)}


def _wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            return False
        pause.wait(0.2)
    return True


def test_cpu_adaptation_runs_every_model_on_cpu_with_onnxruntime_for_the_plan(
    gpu_repository: Path, adapted: dict[AdaptTarget, Path],
) -> None:
    cpu = adapted[AdaptTarget.CPU]
    echo = _config(gpu_repository / "echo" / "config.pbtxt")
    echo.instance_group[0].kind = KIND_CPU
    del echo.instance_group[0].gpus[:]
    assert _config(cpu / "echo" / "config.pbtxt") == echo
    plan = _config(gpu_repository / "echo_trt" / "config.pbtxt")
    plan.platform = "onnxruntime_onnx"
    plan.instance_group[0].kind = KIND_CPU
    assert _config(cpu / "echo_trt" / "config.pbtxt") == plan
    assert sorted(p.name for p in cpu.iterdir() if p.is_dir()) == MODELS
    assert json.loads((cpu / MARKER_NAME).read_text(encoding="utf-8")) == {
        "source": str(gpu_repository.resolve()), "target": "cpu"}
    # What the full image's onnxruntime backend loads computes what the plan did.
    session = ort.InferenceSession(str(cpu / "echo_trt" / "1" / "model.onnx"),
                                   providers=["CPUExecutionProvider"])
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.testing.assert_array_equal(session.run(["Y"], {"X": x})[0], x * 2)


def test_compose_triton_command_serves_adapted_repository_when_run_by_triton_2_51(
    compose_server: TritonServer, admin_header: dict[str, str],
    adapted: dict[AdaptTarget, Path],
) -> None:
    assert _status(f"{compose_server.http_url}/v2/health/ready") == 200
    request = urllib.request.Request(
        f"{compose_server.http_url}/v2/repository/index", data=b"{}", method="POST",
        headers=admin_header,
    )
    with urllib.request.urlopen(request, timeout=10.0) as response:
        index = json.loads(response.read())
    # Every model of the CPU copy loads (the .adapted-from marker file is ignored).
    cpu_models = sorted(p.name for p in adapted[AdaptTarget.CPU].iterdir() if p.is_dir())
    assert [(m["name"], m["state"]) for m in index] == [(m, "READY") for m in cpu_models]
    _infer(compose_server, 2)


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v2/repository/index"), ("GET", "/v2/logging"), ("GET", "/v2/trace/setting"),
     ("GET", "/v2/systemsharedmemory/status"), ("POST", "/v2/repository/models/echo/unload")],
)
def test_compose_triton_refuses_admin_http_api_without_header_when_calling(
    compose_server: TritonServer, admin_header: dict[str, str], method: str, path: str,
) -> None:
    assert _status(f"{compose_server.http_url}{path}", method=method) == 403
    if path != "/v2/repository/models/echo/unload":
        assert _status(f"{compose_server.http_url}{path}", method=method,
                       headers=admin_header) == 200


def test_compose_triton_refuses_grpc_repository_index_without_header(
    compose_server: TritonServer, admin_header: dict[str, str],
) -> None:
    client = grpcclient.InferenceServerClient(compose_server.grpc_address)
    try:
        with pytest.raises(InferenceServerException, match="restricted"):
            client.get_model_repository_index()
        # Triton 2.51 reads gRPC restriction keys with a fixed prefix (see docs/deployment.md).
        grpc_header = {f"triton-grpc-protocol-{k}": v for k, v in admin_header.items()}
        with pytest.raises(InferenceServerException, match="restricted"):
            client.get_model_repository_index(headers=admin_header)
        index = client.get_model_repository_index(headers=grpc_header, as_json=True)
        assert [m["name"] for m in index["models"]] == MODELS
        assert client.is_model_ready("echo")
    finally:
        client.close()


def test_dashboard_queries_only_metrics_that_triton_exports_after_inferences(
    compose_server: TritonServer, deploy_root: Path,
) -> None:
    wanted = _dashboard_metrics(deploy_root)
    assert {"nv_inference_request_summary_us", "nv_inference_count"} <= wanted
    _infer(compose_server, 5)
    exported: set[str] = set()

    def all_present() -> bool:
        with urllib.request.urlopen(compose_server.metrics_url, timeout=10.0) as response:
            exported.update(_exported_names(response.read().decode("utf-8")))
        return not (wanted - GPU_ONLY_METRICS - exported)

    assert _wait_for(all_present, timeout_s=30.0), sorted(wanted - GPU_ONLY_METRICS - exported)
    assert wanted & GPU_ONLY_METRICS, "the dashboard should show GPU utilisation"
