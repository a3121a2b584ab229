"""The release controller against the real embedded Triton in explicit mode."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from clients import RecommendationClient, RetryPolicy
from clients.errors import ServerUnavailableError
from serving import ADMIN_HEADER, TritonServer
from serving.release import (
    ReleaseController,
    ReleaseInputError,
    RepositoryApi,
    RolloutRefusedError,
    golden_path,
)
from tests.release.conftest import BROKEN_VERSION, MODEL


def _answering_version(server: TritonServer) -> str:
    with RecommendationClient(server.grpc_url) as client:
        client.wait_until_ready(timeout_s=30)
        return client.recommend(user_id=7, k=5)[0].model_version


def test_rollout_to_version_2_serves_unpinned_calls_and_unloads_version_1(
    controller: ReleaseController, release_server: TritonServer
) -> None:
    result = controller.rollout(MODEL, 2)

    rows, serving = controller.status(MODEL)
    assert result.ok and (result.from_version, result.to_version) == (1, 2)
    assert [s.name for s in result.steps] == ["load", "ready", "smoke", "switch", "unload"]
    assert serving == 2
    assert {r.version: r.state for r in rows}[1] == "UNAVAILABLE"
    assert _answering_version(release_server) == "2"


def test_rollback_without_version_returns_to_the_previous_version(
    controller: ReleaseController, release_server: TritonServer
) -> None:
    controller.rollout(MODEL, 2)

    result = controller.rollback(MODEL)

    assert result.ok and (result.from_version, result.to_version) == (2, 1)
    assert controller.status(MODEL)[1] == 1
    assert _answering_version(release_server) == "1"


def test_rollout_to_broken_version_is_refused_and_the_serving_version_restored(
    controller: ReleaseController, release_server: TritonServer
) -> None:
    with pytest.raises(RolloutRefusedError) as refused:
        controller.rollout(MODEL, BROKEN_VERSION)

    rows, serving = controller.status(MODEL)
    assert refused.value.step == "load"
    assert "INVALID_PROTOBUF" in refused.value.reason
    assert refused.value.restored_version == 1
    assert refused.value.result is not None
    assert refused.value.result.steps[-1].name == "restore" and refused.value.result.steps[-1].ok
    assert serving == 1
    assert {r.version: r.state for r in rows}[BROKEN_VERSION] == "UNAVAILABLE"
    assert _answering_version(release_server) == "1"  # the server still reports ready


def test_rollout_is_refused_at_smoke_when_outputs_differ_from_the_golden_file(
    api: RepositoryApi, controller: ReleaseController, release_server: TritonServer,
    release_repository: Path, tmp_path: Path,
) -> None:
    tampered = tmp_path / "repository"
    shutil.copytree(release_repository, tampered)
    path = golden_path(tampered, MODEL, 2)
    payload = json.loads(path.read_text())
    payload["cases"][0]["outputs"]["item_ids"]["data"][0] += 1
    path.write_text(json.dumps(payload))

    with pytest.raises(RolloutRefusedError) as refused:
        ReleaseController(api, tampered).rollout(MODEL, 2)

    assert refused.value.step == "smoke"
    assert "case 'known user 0' output 'item_ids'" in refused.value.reason
    assert refused.value.restored_version == 1
    assert controller.status(MODEL)[1] == 1
    assert _answering_version(release_server) == "1"


def test_rollout_refuses_a_version_without_golden_file_before_calling_the_server(
    api: RepositoryApi, controller: ReleaseController, tmp_path: Path
) -> None:
    with pytest.raises(ReleaseInputError, match="golden") as error:
        ReleaseController(api, tmp_path).rollout(MODEL, 2)

    assert "no golden file" in str(error.value)
    assert controller.status(MODEL)[1] == 1


@pytest.mark.parametrize("scheme", ["http", "grpc"])
def test_client_pinned_to_the_old_version_gets_unavailable_after_the_switch(
    controller: ReleaseController, release_server: TritonServer, scheme: str
) -> None:
    controller.rollout(MODEL, 2)
    url = release_server.http_url if scheme == "http" else release_server.grpc_url

    with RecommendationClient(url, model_version="1",
                              retry=RetryPolicy.disabled()) as client, \
            pytest.raises(ServerUnavailableError, match="version 1 is not at ready state"):
        client.recommend(user_id=7, k=5)


def test_controller_over_grpc_rolls_out_and_refuses_the_broken_version(
    controller: ReleaseController, release_server: TritonServer, release_repository: Path,
) -> None:
    assert release_server.admin_key is not None
    with RepositoryApi(release_server.grpc_url,
                       {ADMIN_HEADER: release_server.admin_key}) as grpc_api:
        over_grpc = ReleaseController(grpc_api, release_repository)
        result = over_grpc.rollout(MODEL, 2)
        with pytest.raises(RolloutRefusedError) as refused:
            over_grpc.rollout(MODEL, BROKEN_VERSION)

    assert result.ok and controller.status(MODEL)[1] == 2
    assert refused.value.step == "load" and refused.value.restored_version == 2
    assert _answering_version(release_server) == "2"
