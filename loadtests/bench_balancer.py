"""Benchmark figure (e): the load balancer's latency overhead.

One embedded Triton replica behind HAProxy (``serving.ReplicaSet``); the typed
recommendation client calls it directly and through the balancer, in alternation, at
concurrency 1, over gRPC and HTTP. The ratio of the medians (through HAProxy / direct)
should be at most :data:`BALANCER_MAX_OVERHEAD`.
"""

from __future__ import annotations

import functools
import shutil

from loadtests.bench import (
    BenchOptions,
    BenchResult,
    _median_figure,
    _paired_latency_ms,
    _progress,
    recommendation_user_ids,
)
from loadtests.errors import BenchmarkError
from loadtests.models import RECOMMENDATION

__all__ = ["BALANCER_MAX_OVERHEAD", "measure_balancer_overhead"]

BALANCER_MAX_OVERHEAD = 1.10
"""Highest acceptable median latency ratio through HAProxy / direct."""


def measure_balancer_overhead(options: BenchOptions, result: BenchResult) -> None:
    """Add the direct and balanced latency figures and their ratios to ``result``.

    Skipped with a note when HAProxy is not installed.

    Raises:
        BenchmarkError: The replica or the balancer did not start.
    """
    from clients import RecommendationClient, RetryPolicy
    from serving import ReplicaSet, ServingError
    from serving.lb import INSTALL_HINT

    if shutil.which("haproxy") is None and shutil.which(
            "haproxy", path="/usr/sbin:/usr/local/sbin") is None:
        result.notes.append(f"balancer overhead skipped: haproxy is not installed; "
                            f"{INSTALL_HINT}")
        return
    _progress("one replica behind HAProxy: through the balancer vs direct")
    try:
        replicas = ReplicaSet(options.repository, replicas=1, models=[RECOMMENDATION])
        replicas.start()
    except ServingError as exc:
        raise BenchmarkError(f"balancer overhead: {exc}") from exc
    try:
        (replica,) = replicas.info()
        balancer = replicas.balancer
        pairs = {"grpc": (replica.grpc_url, balancer.grpc_url),
                 "http": (replica.http_url, balancer.http_url)}
        for protocol, (direct_url, balanced_url) in pairs.items():
            _progress(f"balancer vs direct latency over {protocol} "
                      f"({options.repeats} x {options.latency_calls} alternating call pairs)")
            user_ids = recommendation_user_ids(direct_url)
            direct = RecommendationClient(direct_url, retry=RetryPolicy.disabled())
            balanced = RecommendationClient(balanced_url, retry=RetryPolicy.disabled())
            try:
                direct_runs, balanced_runs = [], []
                for _ in range(options.repeats):
                    direct_ms, balanced_ms = _paired_latency_ms(
                        functools.partial(direct.recommend, k=10),
                        functools.partial(balanced.recommend, k=10), options.latency_calls,
                        user_ids)
                    direct_runs.append(direct_ms)
                    balanced_runs.append(balanced_ms)
            finally:
                direct.close()
                balanced.close()
            direct_fig = _median_figure("recommend, direct to the replica", "ms (median)",
                                        direct_runs, protocol=protocol, concurrency=1)
            balanced_fig = _median_figure("recommend, through HAProxy", "ms (median)",
                                          balanced_runs, protocol=protocol, concurrency=1)
            result.figures += [direct_fig, balanced_fig]
            ratio = balanced_fig.value / direct_fig.value
            result.ratios[f"balancer_vs_direct_latency_{protocol}"] = ratio
            verdict = "PASS" if ratio <= BALANCER_MAX_OVERHEAD else "FAIL"
            result.notes.append(f"HAProxy over {protocol}: {ratio:.3f}x direct "
                                f"(limit {BALANCER_MAX_OVERHEAD:.2f}x) {verdict}")
    finally:
        replicas.stop()
