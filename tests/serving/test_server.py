"""A real embedded Triton serving a tiny adapted repository."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from serving import ADMIN_HEADER, TritonServer

from .conftest import softmax_onnx

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _reference(x: np.ndarray, repo: Path) -> np.ndarray:
    session = ort.InferenceSession(
        str(repo / "softmax" / "1" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    result: np.ndarray = session.run(["y"], {"x": x})[0]
    return result


def test_server_context_manager_is_live_and_ready_on_loopback_when_started(
    served: TritonServer,
) -> None:
    client = httpclient.InferenceServerClient(served.http_address)
    try:
        assert client.is_server_live()
        assert client.is_server_ready()
        for name in ("add", "softmax", "softmax_trt"):
            assert client.is_model_ready(name), name
    finally:
        client.close()
    for url in (served.http_url, served.grpc_url, served.metrics_url):
        assert "://127.0.0.1:" in url
    with OPENER.open(served.metrics_url, timeout=5.0) as response:
        assert b"nv_inference_request_success" in response.read()


def test_python_model_returns_sum_and_difference_when_called_over_http(
    served: TritonServer,
) -> None:
    a = np.arange(8, dtype=np.float32).reshape(2, 4)
    b = np.full((2, 4), 0.5, dtype=np.float32)
    client = httpclient.InferenceServerClient(served.http_address)
    try:
        inputs = [httpclient.InferInput("INPUT0", [2, 4], "FP32"),
                  httpclient.InferInput("INPUT1", [2, 4], "FP32")]
        inputs[0].set_data_from_numpy(a)
        inputs[1].set_data_from_numpy(b)
        result = client.infer("add", inputs)
    finally:
        client.close()
    np.testing.assert_array_equal(result.as_numpy("SUM"), a + b)
    np.testing.assert_array_equal(result.as_numpy("DIFF"), a - b)


def test_python_model_returns_sum_and_difference_when_called_over_grpc(
    served: TritonServer,
) -> None:
    a = np.ones((3, 4), dtype=np.float32)
    b = np.arange(12, dtype=np.float32).reshape(3, 4)
    client = grpcclient.InferenceServerClient(served.grpc_address)
    try:
        inputs = [grpcclient.InferInput("INPUT0", [3, 4], "FP32"),
                  grpcclient.InferInput("INPUT1", [3, 4], "FP32")]
        inputs[0].set_data_from_numpy(a)
        inputs[1].set_data_from_numpy(b)
        result = client.infer("add", inputs)
    finally:
        client.close()
    np.testing.assert_array_equal(result.as_numpy("SUM"), a + b)
    np.testing.assert_array_equal(result.as_numpy("DIFF"), a - b)


@pytest.mark.parametrize("model", ["softmax", "softmax_trt"])
def test_adapted_onnx_model_matches_inprocess_onnxruntime_within_1e5_over_grpc(
    served: TritonServer, good_repository: Path, model: str,
) -> None:
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    client = grpcclient.InferenceServerClient(served.grpc_address)
    try:
        tensor = grpcclient.InferInput("x", [5, 4], "FP32")
        tensor.set_data_from_numpy(x)
        served_y = client.infer(model, [tensor]).as_numpy("y")
    finally:
        client.close()
    expected = _reference(x, good_repository)
    assert served_y.shape == (5, 3)
    np.testing.assert_allclose(served_y, expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(served_y.sum(axis=1), 1.0, atol=1e-5)


def test_adapted_onnx_model_without_inputs_in_config_is_completed_from_the_file_and_served(
    served: TritonServer,
) -> None:
    x = np.arange(8, dtype=np.float32).reshape(2, 4) / 8
    expected = ort.InferenceSession(softmax_onnx().SerializeToString()).run(["y"], {"x": x})[0]
    client = grpcclient.InferenceServerClient(served.grpc_address)
    try:
        config = client.get_model_config("softmax_auto", as_json=True)["config"]
        tensor = grpcclient.InferInput("x", [2, 4], "FP32")
        tensor.set_data_from_numpy(x)
        result = client.infer("softmax_auto", [tensor]).as_numpy("y")
    finally:
        client.close()
    assert [(t["name"], t["dims"]) for t in config["input"]] == [("x", ["4"])]
    assert [(t["name"], t["dims"]) for t in config["output"]] == [("y", ["3"])]
    np.testing.assert_allclose(result, expected, atol=1e-5)


def test_adapted_onnx_model_batches_concurrent_requests_and_splits_results_back(
    served: TritonServer, good_repository: Path,
) -> None:
    rows = np.random.default_rng(1).normal(size=(16, 4)).astype(np.float32)
    client = httpclient.InferenceServerClient(served.http_address, concurrency=16)
    try:
        before = client.get_inference_statistics("softmax")["model_stats"][0]
        pending = []
        for row in rows:
            tensor = httpclient.InferInput("x", [1, 4], "FP32")
            tensor.set_data_from_numpy(row[None, :])
            pending.append(client.async_infer("softmax", [tensor]))
        results = [p.get_result().as_numpy("y") for p in pending]
        after = client.get_inference_statistics("softmax")["model_stats"][0]
    finally:
        client.close()
    expected = _reference(rows, good_repository)
    for index, result in enumerate(results):
        np.testing.assert_allclose(result[0], expected[index], atol=1e-5, rtol=0)
    inferences = after["inference_count"] - before["inference_count"]
    executions = after["execution_count"] - before["execution_count"]
    assert inferences == 16
    assert executions < inferences, "dynamic batching should merge concurrent requests"


def test_adapted_models_report_kind_cpu_and_python_backend_when_source_said_kind_gpu(
    served: TritonServer,
) -> None:
    client = httpclient.InferenceServerClient(served.http_address)
    try:
        config = client.get_model_config("softmax")
    finally:
        client.close()
    assert config["backend"] == "python"
    assert config["max_batch_size"] == 8
    assert [g["kind"] for g in config["instance_group"]] == ["KIND_CPU"]
    assert config["instance_group"][0]["count"] == 1
    records = {(s.model, s.what): s for s in served.substitutions}
    assert records[("softmax", "instance_group[0].kind")].to == "KIND_CPU"
    assert "onnxruntime_onnx" in records[("softmax", "platform")].from_
    assert "tensorrt_plan" in records[("softmax_trt", "platform")].from_
    assert "source/model.onnx" in records[("softmax_trt", "platform")].to
    assert ("add", "platform") not in records


def test_repository_admin_api_is_forbidden_when_the_admin_key_header_is_missing(
    served: TritonServer,
) -> None:
    url = f"{served.http_url}/v2/repository/index"
    with pytest.raises(urllib.error.HTTPError) as denied:
        OPENER.open(urllib.request.Request(url, data=b"{}", method="POST"), timeout=5.0)
    assert denied.value.code == 403
    assert served.admin_key is not None
    names = {entry["name"] for entry in served.repository_index()}
    assert names == {"add", "softmax", "softmax_auto", "softmax_trt"}
    assert ADMIN_HEADER


@pytest.mark.parametrize("path", ["/v2/systemsharedmemory/status", "/v2/cudasharedmemory/status",
                                  "/v2/logging", "/v2/trace/setting"])
def test_admin_apis_answer_403_without_the_admin_key_header(served: TritonServer,
                                                            path: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as denied:
        OPENER.open(urllib.request.Request(f"{served.http_url}{path}"), timeout=5.0)
    assert denied.value.code == 403
    allowed = urllib.request.Request(f"{served.http_url}{path}",
                                     headers={ADMIN_HEADER: str(served.admin_key)})
    with OPENER.open(allowed, timeout=5.0) as response:
        assert response.status == 200
