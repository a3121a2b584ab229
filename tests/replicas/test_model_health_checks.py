"""In explicit model-control mode the balancer checks each model a replica must serve.

Strict readiness is off in that mode, so ``/v2/health/ready`` stays 200 whatever is
loaded; a replica whose model was unloaded must still leave the balancer, and come back
once the model is loaded again. The test measures both times, as the failover drill does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import tritonclient.http as httpclient

from serving.replicas import ReplicaSet
from serving.server import ADMIN_HEADER

from .conftest import FAST_CHECKS, MODEL, REPOSITORY

# Fall 2 and rise 2 at a 200 ms interval, each check one request per model: a change is
# seen within about a second; the bound leaves room for a loaded machine.
_BOUND_S = 15.0


@pytest.fixture(scope="module")
def explicit_replicas(haproxy: Path) -> Iterator[ReplicaSet]:
    with ReplicaSet(REPOSITORY, replicas=2, models=[MODEL], model_control_mode="explicit",
                    balancer_options={"haproxy": haproxy, **FAST_CHECKS}) as replica_set:
        yield replica_set


def _repository_call(replicas: ReplicaSet, name: str, action: str) -> None:
    server = replicas.server(name)
    assert server.admin_key is not None
    client = httpclient.InferenceServerClient(server.http_url.split("://", 1)[1])
    try:
        getattr(client, action)(MODEL, headers={ADMIN_HEADER: server.admin_key})
    finally:
        client.close()


@pytest.mark.timeout(240)
def test_replica_leaves_the_balancer_when_its_model_is_unloaded_and_returns_when_loaded(
        explicit_replicas: ReplicaSet, capsys: pytest.CaptureFixture[str]) -> None:
    balancer = explicit_replicas.balancer
    assert f"uri /v2/models/{MODEL}/ready" in balancer.config_path.read_text()
    balancer.wait_up("replica-1", _BOUND_S)

    _repository_call(explicit_replicas, "replica-1", "unload_model")
    out_s = balancer.wait_down("replica-1", _BOUND_S)
    assert all(s.is_up for s in balancer.replica_stats("replica-2"))

    _repository_call(explicit_replicas, "replica-1", "load_model")
    back_s = balancer.wait_up("replica-1", _BOUND_S)
    with capsys.disabled():
        print(f"\n[model health check] out {out_s:.2f} s after unload, back {back_s:.2f} s "
              "after load")
