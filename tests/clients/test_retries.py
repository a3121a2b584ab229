"""Retries within a bounded budget, counted per client: refused connections and a real
Triton shedding load from a full queue (HTTP 503 / gRPC UNAVAILABLE)."""

from __future__ import annotations

import asyncio
import textwrap
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

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

# One instance, batches of one, one request waiting at most: a burst of CALLS requests
# overflows the queue at once, and Triton sheds the excess instead of queueing it.
SHEDDING_CONFIG = """
name: "recommendation"
backend: "python"
max_batch_size: 1
input [ { name: "user_id" data_type: TYPE_INT64 dims: [ 1 ] } ]
output [
  { name: "item_ids" data_type: TYPE_INT64 dims: [ 20 ] },
  { name: "scores" data_type: TYPE_FP32 dims: [ 20 ] }
]
dynamic_batching { default_queue_policy { max_queue_size: 1 } }
instance_group [ { kind: KIND_CPU count: 1 } ]
"""

# Each request costs the server 0.1 s of (simulated) work.
SLOW_MODEL = """
import time

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            time.sleep(0.1)
            user = pb_utils.get_input_tensor_by_name(request, "user_id").as_numpy()
            ids = (np.arange(20, dtype=np.int64) + user).reshape(1, 20)
            scores = np.linspace(1.0, 0.0, 20, dtype=np.float32).reshape(1, 20)
            responses.append(pb_utils.InferenceResponse(
                [pb_utils.Tensor("item_ids", ids), pb_utils.Tensor("scores", scores)]))
        return responses
"""


@pytest.fixture(scope="module")
def shedding_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    """A real Triton whose only model sheds every request beyond one running, one queued."""
    model = tmp_path_factory.mktemp("shedding") / "repo" / "recommendation"
    (model / "1").mkdir(parents=True)
    (model / "config.pbtxt").write_text(textwrap.dedent(SHEDDING_CONFIG))
    (model / "1" / "model.py").write_text(textwrap.dedent(SLOW_MODEL))
    with TritonServer(model.parent) as server:
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
