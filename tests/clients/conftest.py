"""Fixtures for the client tests: a real embedded Triton server and sample images."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from reference.data import HELD_OUT_SEED, encode_png, make_images
from serving import TritonServer

ROOT = Path(__file__).resolve().parents[2]


def _built_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = ROOT / "model_repository"
    if any(repo.glob("*/config.pbtxt")):
        return repo
    out = tmp_path_factory.mktemp("model_repository") / "repo"
    subprocess.run(
        [sys.executable, "-m", "generator", "build", str(ROOT / "specs"), "--out", str(out)],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="session")
def reference_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The suite's model repository (built from specs into a temp dir if empty)."""
    return _built_repository(tmp_path_factory)


@pytest.fixture(scope="session")
def server(request: pytest.FixtureRequest, reference_repository: Path) -> Iterator[Any]:
    """The shared session server (root ``triton_server`` fixture when available)."""
    try:
        shared = request.getfixturevalue("triton_server")
    except pytest.FixtureLookupError:
        shared = None
    if shared is not None:
        yield shared
        return
    with TritonServer(reference_repository) as own:
        yield own


@pytest.fixture(params=["http", "grpc"])
def url(request: pytest.FixtureRequest, server: Any) -> str:
    """The server URL for each protocol."""
    return str(server.http_url if request.param == "http" else server.grpc_url)


@pytest.fixture(scope="session")
def samples() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Eight held-out images [8, 256, 256] uint8 and their labels."""
    return make_images(8, HELD_OUT_SEED)


@pytest.fixture(scope="session")
def sample_pngs(samples: tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]) -> list[bytes]:
    """The held-out images encoded as PNG."""
    return [encode_png(img) for img in samples[0]]


@pytest.fixture
def closed_port_urls() -> dict[str, str]:
    """URLs on a loopback port nobody listens on (any request would be refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return {"http": f"http://127.0.0.1:{port}", "grpc": f"grpc://127.0.0.1:{port}"}


@pytest.fixture
def recommendation_only_repository(reference_repository: Path, tmp_path: Path) -> Path:
    """A repository with just the ``recommendation`` model (fast to start)."""
    repo = tmp_path / "repo"
    shutil.copytree(reference_repository / "recommendation", repo / "recommendation")
    return repo


STAND_IN_MODEL = """
import json
import time

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        scores = pb_utils.get_output_config_by_name(config, "scores")
        self.scores_dtype = pb_utils.triton_string_to_numpy(scores["data_type"])
        self.work_s = float(config["parameters"]["work_s"]["string_value"])

    def execute(self, requests):
        responses = []
        for request in requests:
            time.sleep(self.work_s)  # the server-side cost of one request
            users = pb_utils.get_input_tensor_by_name(request, "user_id").as_numpy()
            ids = np.arange(20, dtype=np.int64) + users
            scores = np.tile(np.linspace(1.0, 0.0, 20), (len(users), 1))
            responses.append(pb_utils.InferenceResponse([
                pb_utils.Tensor("item_ids", ids),
                pb_utils.Tensor("scores", scores.astype(self.scores_dtype)),
            ]))
        return responses
"""

StandIn = Callable[..., Path]


@pytest.fixture(scope="session")
def stand_in_recommendation(tmp_path_factory: pytest.TempPathFactory) -> StandIn:
    """Writes a python-backend ``recommendation`` into a new repository; returns the repository.

    Keyword arguments: ``scores`` (the scores output's data type, default ``TYPE_FP32``),
    ``max_batch_size`` (64), ``max_queue_size`` (a dynamic-batching queue limit, default
    none) and ``work_s`` (server-side time each request costs, default 0). Item ids are
    ``user_id + 0..19``, scores fall from 1 to 0.
    """

    def write(
        *,
        scores: str = "TYPE_FP32",
        max_batch_size: int = 64,
        max_queue_size: int | None = None,
        work_s: float = 0.0,
    ) -> Path:
        repo = tmp_path_factory.mktemp("stand_in") / "repo"
        config = mc.ModelConfig(name="recommendation", backend="python")
        config.max_batch_size = max_batch_size
        config.input.add(name="user_id", data_type=mc.TYPE_INT64, dims=[1])
        config.output.add(name="item_ids", data_type=mc.TYPE_INT64, dims=[20])
        config.output.add(name="scores", data_type=mc.DataType.Value(scores), dims=[20])
        config.instance_group.add(kind=mc.ModelInstanceGroup.KIND_CPU, count=1)
        if max_queue_size is not None:
            config.dynamic_batching.default_queue_policy.max_queue_size = max_queue_size
        config.parameters["work_s"].string_value = repr(work_s)
        (repo / "recommendation" / "1").mkdir(parents=True)
        (repo / "recommendation" / "config.pbtxt").write_text(text_format.MessageToString(config))
        (repo / "recommendation" / "1" / "model.py").write_text(STAND_IN_MODEL.lstrip())
        return repo

    return write
