"""A real Triton in explicit model-control mode serving a copy of ``recommendation``.

The copy (in a tmp folder) also holds version 3, a deliberately broken version: its
``model.onnx`` is not an ONNX file, its golden file is version 2's.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from serving import ADMIN_HEADER, TritonServer, start_server
from serving.release import ReleaseController, RepositoryApi, golden_path, load_golden, write_golden

MODEL = "recommendation"
BROKEN_VERSION = 3


@pytest.fixture(scope="session")
def release_repository(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``recommendation`` (versions 1 and 2) plus the broken version 3."""
    repository = tmp_path_factory.mktemp("release") / "repository"
    shutil.copytree(repo_root / "model_repository" / MODEL, repository / MODEL)
    broken = repository / MODEL / str(BROKEN_VERSION)
    broken.mkdir()
    (broken / "model.onnx").write_bytes(b"not an onnx model\n")
    golden = load_golden(golden_path(repository, MODEL, 2))
    write_golden(golden_path(repository, MODEL, BROKEN_VERSION),
                 type(golden)(MODEL, BROKEN_VERSION, golden.cases, golden.rtol, golden.atol))
    return repository


@pytest.fixture(scope="session")
def release_server(release_repository: Path) -> Iterator[TritonServer]:
    """The embedded Triton in explicit mode on :func:`release_repository`."""
    with start_server(release_repository, model_control_mode="explicit") as server:
        yield server


@pytest.fixture
def api(release_server: TritonServer) -> Iterator[RepositoryApi]:
    """The repository API of :func:`release_server`, with its admin key."""
    assert release_server.admin_key is not None
    with RepositoryApi(release_server.http_url,
                       {ADMIN_HEADER: release_server.admin_key}) as client:
        yield client


@pytest.fixture
def controller(api: RepositoryApi, release_repository: Path) -> ReleaseController:
    """A controller on :func:`release_server`, starting from version 1 serving alone."""
    ctl = ReleaseController(api, release_repository, ready_timeout_s=60.0)
    ctl.rollout(MODEL, 1)
    return ctl
