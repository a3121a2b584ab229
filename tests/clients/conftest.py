"""Fixtures for the client tests: a real embedded Triton server and sample images."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

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
