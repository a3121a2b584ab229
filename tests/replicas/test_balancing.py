"""Per-request (L7) balancing: one client's calls reach every replica, over gRPC and HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clients import RecommendationClient, RetryPolicy
from serving.replicas import ReplicaSet

from .conftest import served_counts

CALLS = 40


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_one_client_connection_reaches_both_replicas(replicas: ReplicaSet,
                                                     protocol: str) -> None:
    url = replicas.balancer.grpc_url if protocol == "grpc" else replicas.balancer.http_url
    before = served_counts(replicas)

    # One client, hence one long-lived HTTP/2 (or keep-alive) connection to the balancer.
    with RecommendationClient(url, retry=RetryPolicy.disabled()) as client:
        for user_id in range(CALLS):
            assert len(client.recommend(user_id=user_id, k=5)) == 5

    after = served_counts(replicas)
    served = {name: after[name] - before[name] for name in after}
    assert sum(served.values()) == CALLS
    assert all(count > 0 for count in served.values()), served


def test_state_document_names_balancer_and_every_replica(replicas: ReplicaSet,
                                                         tmp_path: Path) -> None:
    path = tmp_path / "state.json"

    replicas.write_state(path)

    state = json.loads(path.read_text())
    assert state["lb"]["grpc_url"] == replicas.balancer.grpc_url
    assert {"http_url", "grpc_url", "stats_url"} <= set(state["lb"])
    assert [r["name"] for r in state["replicas"]] == ["replica-1", "replica-2"]
    for entry, server in zip(state["replicas"], (replicas.server("replica-1"),
                                                 replicas.server("replica-2")), strict=True):
        assert entry["pid"] == server.pid
        assert entry["grpc_url"] == server.grpc_url
        assert entry["metrics_url"] == server.metrics_url
    assert not list(tmp_path.glob(".state.json.*"))  # no temporary sibling left behind
