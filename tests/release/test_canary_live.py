"""The canary on two real Triton replicas behind a real HAProxy (explicit model control).

Weights set through HAProxy's runtime API show in each replica's own statistics; an
interrupted canary ends with the baseline alone on every replica and the weights
restored; a good version is promoted, with clients pinned to the baseline answered
until the promotion and clients pinned to the target answered by the canary only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from serving import ADMIN_HEADER
from serving.release import ReleaseController, RepositoryApi
from serving.release.canary import (
    BalancerWeights,
    CanaryController,
    CanaryDecision,
    CanaryReplica,
)
from serving.release.canary_metrics import read_version_counters
from serving.release.canary_verdict import CanaryThresholds
from serving.replicas import ReplicaSet
from tests.release.conftest import MODEL

LAX = CanaryThresholds(max_error_ratio=0.5, max_error_ratio_increase=0.5,
                       max_latency_ratio=50.0, latency_slack_ms=100.0, max_p99_ms=10000.0,
                       min_requests=3)
_MAX_CALLS = 5000


@pytest.fixture(scope="module")
def replica_set(release_repository: Path) -> Iterator[ReplicaSet]:
    """Two replicas serving only version 1 of ``recommendation``."""
    with ReplicaSet(release_repository, replicas=2, models=[MODEL],
                    model_control_mode="explicit") as replicas:
        for name in replicas.names:
            with _api(replicas, name) as api:
                ReleaseController(api, release_repository, ready_timeout_s=60).rollout(MODEL, 1)
        yield replicas


def _api(replicas: ReplicaSet, name: str) -> RepositoryApi:
    server = replicas.server(name)
    assert server.admin_key is not None
    return RepositoryApi(server.grpc_url, {ADMIN_HEADER: server.admin_key})


def served_count(metrics_url: str, model: str, version: int = 1) -> int:
    """Successful requests of one version of ``model`` on one replica (its /metrics)."""
    counters = read_version_counters(metrics_url, model).get(version)
    return 0 if counters is None else int(counters.success)


def _infer(client: httpclient.InferenceServerClient, version: str = "") -> str:
    request = httpclient.InferInput("user_id", [1, 1], "INT64")
    request.set_data_from_numpy(np.array([[7]], dtype=np.int64))
    result = client.infer(MODEL, [request], model_version=version)
    return str(result.get_response()["model_version"])


def _controller(replicas: ReplicaSet, repository: Path, apis: list[RepositoryApi],
                **options: object) -> CanaryController:
    infos = {info.name: info for info in replicas.info()}
    members = [CanaryReplica(name, api, infos[name].metrics_url)
               for name, api in zip(replicas.names, apis, strict=True)]
    return CanaryController(MODEL, 2, members, [replicas.names[0]],
                            BalancerWeights(replicas.balancer.api), repository,
                            ready_timeout_s=60.0, **options)  # type: ignore[arg-type]


def _serving_alone(replicas: ReplicaSet, name: str) -> list[int]:
    with _api(replicas, name) as api:
        return [row.version for row in api.versions(MODEL) if row.state == "READY"]


def test_weights_set_through_the_runtime_api_show_in_per_replica_statistics(
        replica_set: ReplicaSet) -> None:
    weights = BalancerWeights(replica_set.balancer.api)
    first, second = replica_set.names
    infos = {info.name: info for info in replica_set.info()}
    client = httpclient.InferenceServerClient(replica_set.balancer.http_url.split("://")[1])
    try:
        for canary_weight, expected_on_first in ((0, 0), (1, None)):
            weights.set_weight(first, canary_weight)
            assert weights.weights()[first] == canary_weight
            before = {n: served_count(infos[n].metrics_url, MODEL) for n in (first, second)}
            for _ in range(40):
                _infer(client)
            served = {n: served_count(infos[n].metrics_url, MODEL) - before[n]
                      for n in (first, second)}
            assert sum(served.values()) == 40
            if expected_on_first is not None:
                assert served[first] == expected_on_first
            else:
                assert served[first] > 0 and served[second] > 0
    finally:
        client.close()
        weights.set_weight(first, 1)


def test_interrupted_canary_restores_the_baseline_and_the_weights(
        replica_set: ReplicaSet, release_repository: Path) -> None:
    stop = threading.Event()

    def interrupt_at_first_step(decision: CanaryDecision) -> None:
        if decision.action == "weights" and decision.step_percent is not None:
            stop.set()

    apis = [_api(replica_set, n) for n in replica_set.names]
    try:
        report = _controller(replica_set, release_repository, apis, steps=(10, 100),
                             interval_s=30.0, thresholds=LAX, stop=stop,
                             on_decision=interrupt_at_first_step).run()
    finally:
        for api in apis:
            api.close()
    assert report.outcome == "interrupted"
    assert report.serving_version == 1
    assert [d.action for d in report.decisions][-1] == "rollback"
    for name in replica_set.names:
        assert _serving_alone(replica_set, name) == [1]
    assert BalancerWeights(replica_set.balancer.api).weights() == {n: 1
                                                                   for n in replica_set.names}


def test_canary_promotes_a_good_version_pinned_clients_as_documented(
        replica_set: ReplicaSet, release_repository: Path) -> None:
    stop_clients = threading.Event()
    seen: dict[str, list[str]] = {"unpinned": [], "pinned-1": [], "pinned-2": [],
                                  "pinned-1 errors": [], "pinned-2 errors": []}

    def clients() -> None:
        client = httpclient.InferenceServerClient(replica_set.balancer.http_url.split("://")[1])
        deadline = time.monotonic() + 120.0
        try:
            for _ in range(_MAX_CALLS):
                if stop_clients.is_set() or time.monotonic() > deadline:
                    return
                seen["unpinned"].append(_infer(client))
                for pinned in ("1", "2"):
                    try:
                        seen[f"pinned-{pinned}"].append(_infer(client, pinned))
                    except InferenceServerException as error:
                        seen[f"pinned-{pinned} errors"].append(str(error.status()))
        finally:
            client.close()

    thread = threading.Thread(target=clients, daemon=True)

    def before_promotion(decision: CanaryDecision) -> None:
        if decision.action == "analysis" and decision.step_percent == 100:
            stop_clients.set()
            thread.join(timeout=30.0)

    apis = [_api(replica_set, n) for n in replica_set.names]
    thread.start()
    try:
        report = _controller(replica_set, release_repository, apis, steps=(50, 100),
                             interval_s=2.0, thresholds=LAX,
                             on_decision=before_promotion).run()
    finally:
        stop_clients.set()
        thread.join(timeout=30.0)
        for api in apis:
            api.close()
        for name in replica_set.names:  # the next test module starts from version 1
            with _api(replica_set, name) as api:
                ReleaseController(api, release_repository, ready_timeout_s=60).rollout(MODEL, 1)
    assert report.outcome == "promoted", report.reason
    assert [d.action for d in report.decisions if d.action == "analysis"] == ["analysis"] * 2
    assert set(seen["unpinned"]) == {"1", "2"}
    assert seen["pinned-1 errors"] == [] and set(seen["pinned-1"]) == {"1"}
    assert set(seen["pinned-2"]) == {"2"} and seen["pinned-2 errors"]
