"""Clients facing a server that stops and comes back, and a model with the wrong signature."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from clients import (
    AsyncRecommendationClient,
    MetadataMismatchError,
    RecommendationClient,
    RetryPolicy,
    ServerUnavailableError,
)
from serving import TritonServer, free_ports

FAST_RETRY = RetryPolicy(max_attempts=2, initial_backoff_s=0.01, max_backoff_s=0.05)


def test_clients_raise_server_unavailable_when_server_stops_then_recover_on_restart(
    recommendation_only_repository: Path,
) -> None:
    http_port, grpc_port, metrics_port = free_ports(3)
    repo = recommendation_only_repository
    loop = asyncio.new_event_loop()  # one loop: async clients bind to it across phases
    first = TritonServer(repo, http_port=http_port, grpc_port=grpc_port, metrics_port=metrics_port)
    first.start()
    try:
        clients = [
            RecommendationClient(first.http_url, retry=FAST_RETRY),
            RecommendationClient(first.grpc_url, retry=FAST_RETRY),
        ]
        async_clients = [
            AsyncRecommendationClient(first.http_url, retry=FAST_RETRY),
            AsyncRecommendationClient(first.grpc_url, retry=FAST_RETRY),
        ]
        before = [c.recommend(42, k=3) for c in clients]
        before += [loop.run_until_complete(c.recommend(42, k=3)) for c in async_clients]
        assert all(b == before[0] for b in before)
    finally:
        first.stop()

    for client in clients:
        with pytest.raises(ServerUnavailableError) as info:
            client.recommend(42, k=3)
        assert info.value.__cause__ is not None
    for async_client in async_clients:
        with pytest.raises(ServerUnavailableError):
            loop.run_until_complete(async_client.recommend(42, k=3))

    second = TritonServer(
        repo, http_port=http_port, grpc_port=grpc_port, metrics_port=metrics_port
    )
    with second:
        assert (second.http_port, second.grpc_port) == (http_port, grpc_port)
        for client in clients:
            client.wait_until_ready(30.0)
            assert client.recommend(42, k=3) == before[0]
            client.close()

        async def recover(client: AsyncRecommendationClient) -> None:
            await client.wait_until_ready(30.0)
            assert await client.recommend(42, k=3) == before[0]
            await client.close()

        for async_client in async_clients:
            loop.run_until_complete(recover(async_client))
    loop.close()


def test_wait_until_ready_raises_server_unavailable_when_nothing_listens(
    closed_port_urls: dict[str, str],
) -> None:
    for url in closed_port_urls.values():
        with RecommendationClient(url) as client, pytest.raises(ServerUnavailableError):
            client.wait_until_ready(0.3)


def test_recommendation_clients_raise_metadata_mismatch_when_scores_are_fp16(
    stand_in_recommendation: Callable[..., Path],
) -> None:
    expected = "output 'scores' has datatype FP16, expected FP32"
    with TritonServer(stand_in_recommendation(scores="TYPE_FP16")) as server:
        for url in (server.http_url, server.grpc_url):
            client = RecommendationClient(url)
            with client, pytest.raises(MetadataMismatchError, match=expected):
                client.recommend(1)

            async def run(url: str = url) -> None:
                async with AsyncRecommendationClient(url) as client:
                    with pytest.raises(MetadataMismatchError, match=expected):
                        await client.recommend(1)

            asyncio.run(run())
