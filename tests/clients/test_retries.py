"""Retries within a bounded budget, counted per client: refused connections and a real
Triton shedding load from a full queue (HTTP 503 / gRPC UNAVAILABLE)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from clients import (
    AsyncRecommendationClient,
    QueueFullError,
    RecommendationClient,
    RetryPolicy,
    ServerUnavailableError,
)
from serving import TritonServer

QUICK_RETRY = RetryPolicy(max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.02)
CALLS = 8
PATIENT = RetryPolicy(max_attempts=100, max_total_s=30.0, initial_backoff_s=0.05, max_backoff_s=0.2)



@pytest.fixture(scope="module")
def shedding_server(stand_in_recommendation: Callable[..., Path]) -> Iterator[TritonServer]:
    """A real Triton that sheds every request beyond one running and one queued.

    One instance, batches of one, a queue of one and 0.1 s of server-side work per
    request: a burst of CALLS requests overflows the queue at once, and Triton rejects
    the excess instead of queueing it.
    """
    repo = stand_in_recommendation(max_batch_size=1, max_queue_size=1, work_s=0.1)
    with TritonServer(repo) as server:
        yield server


def _burst(url: str, retry: RetryPolicy) -> tuple[list[object], int]:
    """CALLS concurrent recommend calls, one blocking client each: (results or errors, retries).

    Each thread opens its own client (the blocking HTTP client belongs to the thread
    that made it) and makes a first call alone, then all call together.
    """
    barrier = threading.Barrier(CALLS, timeout=30.0)
    one_at_a_time = threading.Lock()

    def call(user_id: int) -> tuple[object, int]:
        with RecommendationClient(url, retry=retry) as client:
            client.wait_until_ready(10.0)
            with one_at_a_time:  # metadata fetched, so the burst only infers
                client.recommend(0, k=1)
            barrier.wait()
            try:
                outcome: object = client.recommend(user_id, k=3)
            except ServerUnavailableError as exc:
                outcome = exc
            return outcome, client.retries

    with ThreadPoolExecutor(CALLS) as pool:
        results = list(pool.map(call, range(CALLS)))
    return [outcome for outcome, _ in results], sum(retries for _, retries in results)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_clients_complete_every_call_when_server_sheds_a_burst_and_retries_are_allowed(
    shedding_server: TritonServer, protocol: str
) -> None:
    url = shedding_server.http_url if protocol == "http" else shedding_server.grpc_url
    outcomes, retries = _burst(url, PATIENT)
    assert all(isinstance(o, list) and len(o) == 3 for o in outcomes), outcomes
    assert [o[0].item_id for o in outcomes if isinstance(o, list)] == list(range(CALLS))
    assert retries >= 1  # the burst overflowed the queue, so some calls were shed once


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_clients_raise_shed_error_without_retrying_when_retries_are_disabled(
    shedding_server: TritonServer, protocol: str
) -> None:
    url = shedding_server.http_url if protocol == "http" else shedding_server.grpc_url
    outcomes, retries = _burst(url, RetryPolicy.disabled())
    shed = [o for o in outcomes if isinstance(o, ServerUnavailableError)]
    assert shed, "a burst of 8 against one slot and a queue of one must be shed"
    assert retries == 0
    if protocol == "http":  # gRPC reports a full queue as UNAVAILABLE, like a down server
        assert all(isinstance(o, QueueFullError) for o in shed)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_client_counts_each_retry_when_nothing_listens(
    closed_port_urls: dict[str, str], protocol: str
) -> None:
    with RecommendationClient(closed_port_urls[protocol], retry=QUICK_RETRY) as client:
        for calls in (1, 2):
            with pytest.raises(ServerUnavailableError):
                client.recommend(1)
            assert client.retries == 2 * calls  # max_attempts 3: two retries per call


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_async_client_counts_each_retry_when_nothing_listens(
    closed_port_urls: dict[str, str], protocol: str
) -> None:
    async def run() -> int:
        async with AsyncRecommendationClient(
            closed_port_urls[protocol], retry=QUICK_RETRY
        ) as client:
            with pytest.raises(ServerUnavailableError):
                await client.recommend(1)
            return client.retries

    assert asyncio.run(run()) == 2


def test_client_stops_retrying_when_time_budget_is_shorter_than_the_backoff(
    closed_port_urls: dict[str, str],
) -> None:
    policy = RetryPolicy(max_attempts=50, max_total_s=0.001, initial_backoff_s=0.05)
    with RecommendationClient(closed_port_urls["grpc"], retry=policy) as client:
        with pytest.raises(ServerUnavailableError):
            client.recommend(1)
        assert client.retries == 0
