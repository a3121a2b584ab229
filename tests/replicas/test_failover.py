"""Failover and draining under load: the user sees no failed request.

The users call the balancer with retries switched off, so every recovery seen here is
the balancer's own (health checks, retry-on, redispatch, drain).
"""

from __future__ import annotations

import threading

import pytest

from serving.replicas import ReplicaSet

from .conftest import served_count, steady_load, wait_for

USERS = 4
TIMEOUT_S = 60.0


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_killed_replica_costs_no_request_and_takes_traffic_after_restart(
        replicas: ReplicaSet, protocol: str) -> None:
    url = replicas.balancer.grpc_url if protocol == "grpc" else replicas.balancer.http_url
    stop = threading.Event()
    load, threads = steady_load(url, USERS, stop)
    try:
        wait_for(lambda: load.ok >= 200, TIMEOUT_S, "200 calls before the kill")
        replicas.kill("replica-1")

        replicas.balancer.wait_down("replica-1", TIMEOUT_S)
        after_kill = load.ok
        wait_for(lambda: load.ok >= after_kill + 200, TIMEOUT_S, "200 calls on one replica")
        replicas.restart("replica-1")
        restarted_url = replicas.server("replica-1").http_url
        wait_for(lambda: served_count(restarted_url) > 0, TIMEOUT_S,
                 "the restarted replica serving a call")
    finally:
        stop.set()
        for thread in threads:
            thread.join(TIMEOUT_S)

    assert load.errors == []
    assert load.ok > 400


def test_drained_replica_gets_no_new_request_and_stops_without_losing_one(
        replicas: ReplicaSet) -> None:
    stop = threading.Event()
    load, threads = steady_load(replicas.balancer.grpc_url, USERS, stop)
    try:
        wait_for(lambda: load.ok >= 200, TIMEOUT_S, "200 calls before draining")
        replicas.drain("replica-2")
        drained_url = replicas.server("replica-2").http_url
        served_when_drained = served_count(drained_url)
        before = load.ok
        wait_for(lambda: load.ok >= before + 300, TIMEOUT_S, "300 calls while drained")
        served_while_drained = served_count(drained_url) - served_when_drained

        replicas.stop_replica("replica-2")  # drain (already), then SIGTERM
        stopped_at = load.ok
        wait_for(lambda: load.ok >= stopped_at + 200, TIMEOUT_S, "200 calls after the stop")
        replicas.restart("replica-2")
        wait_for(lambda: served_count(replicas.server("replica-2").http_url) > 0, TIMEOUT_S,
                 "the restarted replica serving a call")
    finally:
        stop.set()
        for thread in threads:
            thread.join(TIMEOUT_S)

    assert served_while_drained == 0
    assert load.errors == []
