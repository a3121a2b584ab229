"""Version 2's cold-start behaviour and warm-up, on the real server."""

from __future__ import annotations

import copy

import pytest
import tritonclient.http

from clients import RecommendationClient
from clients.errors import ClientError
from reference.data import TRAIN_SEED, make_interactions
from reference.recsys import popularity_ranking
from serving import TritonServer
from serving.release import ReleaseController, RepositoryApi
from tests.release.conftest import MODEL

UNKNOWN_USER = 10**12


@pytest.fixture
def both_versions(controller: ReleaseController, api: RepositoryApi) -> None:
    """Versions 1 and 2 both READY (the spec's own version policy)."""
    config = api.config(MODEL)
    config["version_policy"] = {"specific": {"versions": [1, 2]}}
    api.load(MODEL, config)


@pytest.mark.usefixtures("both_versions")
def test_version_2_answers_an_unknown_user_with_the_popularity_top_k(
    release_server: TritonServer,
) -> None:
    with RecommendationClient(release_server.grpc_url, model_version="2") as client:
        recommendations = client.recommend(user_id=UNKNOWN_USER, k=10)

    expected = popularity_ranking(make_interactions(TRAIN_SEED), 10)
    assert [r.item_id for r in recommendations] == expected.tolist()
    assert {r.model_version for r in recommendations} == {"2"}


@pytest.mark.usefixtures("both_versions")
def test_version_1_fails_an_unknown_user_which_version_2_fixes(
    release_server: TritonServer,
) -> None:
    with RecommendationClient(release_server.http_url, model_version="1") as client, \
            pytest.raises(ClientError, match="out of data bounds"):
        client.recommend(user_id=UNKNOWN_USER, k=10)


@pytest.mark.usefixtures("both_versions")
def test_versions_1_and_2_recommend_the_same_items_to_a_known_user(
    release_server: TritonServer,
) -> None:
    answers = {}
    for version in ("1", "2"):
        with RecommendationClient(release_server.grpc_url, model_version=version) as client:
            answers[version] = [r.item_id for r in client.recommend(user_id=42, k=20)]

    assert answers["1"] == answers["2"]


def test_served_config_carries_the_specs_warmup(api: RepositoryApi,
                                                controller: ReleaseController) -> None:
    warmups = api.config(MODEL).get("model_warmup", [])

    assert [w["name"] for w in warmups] == ["known_user_batch_1", "known_user_batch_32"]


RANDOM_USERS_WARMUP = [{
    "name": "random_users", "batch_size": 4, "count": 1,
    "inputs": {"user_id": {"data_type": "TYPE_INT64", "dims": [1], "random_data": True}},
}]


def _success_count(server: TritonServer, version: int) -> int:
    with tritonclient.http.InferenceServerClient(server.http_address) as client:
        stats = client.get_inference_statistics(MODEL, str(version))["model_stats"]
    return sum(int(s["inference_stats"]["success"]["count"]) for s in stats)


@pytest.mark.parametrize(("warm", "expected"), [(True, 34), (False, 0)])
def test_version_2_has_run_its_warmup_when_it_becomes_ready(
    api: RepositoryApi, controller: ReleaseController, release_server: TritonServer,
    warm: bool, expected: int,
) -> None:
    original = api.config(MODEL)
    config = copy.deepcopy(original)
    config["version_policy"] = {"specific": {"versions": [1, 2]}}
    if not warm:
        config.pop("model_warmup")
    try:
        api.load(MODEL, config)

        assert api.is_ready(MODEL, 2)
        # No client has called version 2 yet: Triton counts its warm-up samples
        # (2 requests of batch 1 and one of batch 32) before it reports READY.
        assert _success_count(release_server, 2) == expected
    finally:
        original["version_policy"] = {"specific": {"versions": [1]}}
        api.load(MODEL, original)


def test_warmup_with_random_unknown_users_passes_on_version_2(
    api: RepositoryApi, controller: ReleaseController
) -> None:
    controller.rollout(MODEL, 2)
    original = api.config(MODEL)
    config = copy.deepcopy(original)
    config["version_policy"] = {"specific": {"versions": [2]}}
    config["model_warmup"] = RANDOM_USERS_WARMUP
    try:
        api.load(MODEL, config)

        assert api.is_ready(MODEL, 2)
        assert api.config(MODEL)["model_warmup"][0]["name"] == "random_users"
    finally:
        original["version_policy"] = {"specific": {"versions": [1]}}
        api.load(MODEL, original)
