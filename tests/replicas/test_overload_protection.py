"""Overload protection seen by users: shed work answers at once, oversized images are refused.

A model with a one-slot queue and a slow instance stands in for an overloaded replica;
the preprocessing model of the reference ensemble refuses images over its pixel limit.
"""

from __future__ import annotations

import shutil
import textwrap
import threading
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from PIL import Image
from tritonclient.utils import InferenceServerException

from serving import TritonServer
from serving.lb import ServerStat
from serving.replicas import ReplicaSet

from .conftest import FAST_CHECKS, REPOSITORY

SLOW_MODEL_PY = textwrap.dedent("""
    import time

    import triton_python_backend_utils as pb_utils


    class TritonPythonModel:
        def execute(self, requests):
            time.sleep(0.2 * len(requests))
            return [pb_utils.InferenceResponse([pb_utils.Tensor(
                "Y", pb_utils.get_input_tensor_by_name(r, "X").as_numpy())]) for r in requests]
""")

SLOW_CONFIG = textwrap.dedent("""
    name: "slow"
    backend: "python"
    max_batch_size: 1
    input [ { name: "X" data_type: TYPE_FP32 dims: [ 1 ] } ]
    output [ { name: "Y" data_type: TYPE_FP32 dims: [ 1 ] } ]
    instance_group [ { kind: KIND_CPU count: 1 } ]
    dynamic_batching { default_queue_policy { max_queue_size: 1 } }
""")

CALLERS = 8
CALLS_PER_CALLER = 3
CLIENT_TIMEOUT_S = 20.0


@pytest.fixture(scope="module")
def slow_replicas(haproxy: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicaSet]:
    repository = tmp_path_factory.mktemp("slow-repo")
    (repository / "slow" / "1").mkdir(parents=True)
    (repository / "slow" / "config.pbtxt").write_text(SLOW_CONFIG)
    (repository / "slow" / "1" / "model.py").write_text(SLOW_MODEL_PY)
    with ReplicaSet(repository, replicas=2,
                    balancer_options={"haproxy": haproxy, **FAST_CHECKS}) as replica_set:
        yield replica_set


def _flood(protocol: str, address: str) -> tuple[int, list[str]]:
    """CALLERS threads, each with its own client, send CALLS_PER_CALLER calls each."""
    module = grpcclient if protocol == "grpc" else httpclient
    ok: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()

    def caller() -> None:
        client = module.InferenceServerClient(address, network_timeout=CLIENT_TIMEOUT_S) \
            if protocol == "http" else module.InferenceServerClient(address)
        try:
            for _ in range(CALLS_PER_CALLER):
                tensor = module.InferInput("X", [1, 1], "FP32")
                tensor.set_data_from_numpy(np.ones((1, 1), dtype=np.float32))
                try:
                    if protocol == "grpc":
                        client.infer("slow", [tensor], client_timeout=CLIENT_TIMEOUT_S)
                    else:
                        client.infer("slow", [tensor])
                except InferenceServerException as error:
                    with lock:
                        errors.append(f"{error.status()} {error.message()}")
                else:
                    with lock:
                        ok.append(1)
        finally:
            client.close()

    threads = [threading.Thread(target=caller) for _ in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(CLIENT_TIMEOUT_S * CALLS_PER_CALLER + 10)
    return len(ok), errors


def _retries(stats: list[ServerStat]) -> int:
    return sum(s.retries + s.redispatches for s in stats)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_full_queues_shed_excess_calls_with_unavailable_through_the_balancer(
        slow_replicas: ReplicaSet, protocol: str) -> None:
    balancer = slow_replicas.balancer
    url = balancer.grpc_url if protocol == "grpc" else balancer.http_url
    retries_before = _retries(balancer.server_stats())

    ok, errors = _flood(protocol, url.split("://", 1)[1])

    assert ok + len(errors) == CALLERS * CALLS_PER_CALLER  # every call got an answer
    assert ok > 0
    assert errors, "24 calls on two one-slot queues: some must be shed"
    expected_status = "StatusCode.UNAVAILABLE" if protocol == "grpc" else "503"
    assert all(e.startswith(expected_status) and "queue" in e.lower() for e in errors), errors
    # Shedding is an answer, not a failure: nothing retried, no replica taken out.
    assert _retries(balancer.server_stats()) == retries_before
    assert all(s.is_up for s in balancer.server_stats())


def _png(width: int, height: int) -> npt.NDArray[np.uint8]:
    buffer = BytesIO()
    Image.new("L", (width, height), color=128).save(buffer, format="PNG")
    return np.frombuffer(buffer.getvalue(), dtype=np.uint8).reshape(1, -1)


def test_preprocessing_refuses_oversized_image_with_invalid_arg_naming_the_limit(
        tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    repository.mkdir()
    model = "image_diagnosis_preprocess"
    shutil.copytree(REPOSITORY / model, repository / model)
    with TritonServer(repository) as server:
        client = httpclient.InferenceServerClient(server.http_address)
        try:
            oversized = _png(5000, 4000)  # 20 M pixels, over the 4096 x 4096 limit
            tensor = httpclient.InferInput("IMAGE", list(oversized.shape), "UINT8")
            tensor.set_data_from_numpy(oversized)
            with pytest.raises(InferenceServerException) as caught:
                client.infer(model, [tensor])

            fine = _png(640, 480)
            ok_tensor = httpclient.InferInput("IMAGE", list(fine.shape), "UINT8")
            ok_tensor.set_data_from_numpy(fine)
            pixels = client.infer(model, [ok_tensor]).as_numpy("pixels")
        finally:
            client.close()

    assert caught.value.status() == "400"
    assert "5000x4000" in caught.value.message()
    assert "MAX_IMAGE_PIXELS = 16777216" in caught.value.message()
    assert pixels is not None and pixels.shape == (1, 1, 224, 224)
