"""Per-version figures of a model from the replicas' own ``/metrics`` pages.

Triton labels its per-model counters with ``model`` and ``version``, so the canary
version and the baseline version are told apart by that label even on a replica that
serves both (a canary replica keeps the baseline loaded for pinned clients).
:func:`read_version_counters` scrapes one page (parsed by
:mod:`loadtests.promtext`); :func:`window_metrics` turns two readings of every replica
into the :class:`~serving.release.canary_verdict.WindowMetrics` of one version.
"""

from __future__ import annotations

import urllib.error
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from loadtests.promtext import PrometheusParseError, parse_prometheus_text
from serving.ports import loopback_opener
from serving.release.canary_verdict import WindowMetrics
from serving.release.errors import RepositoryApiError

__all__ = ["VersionCounters", "read_version_counters", "window_metrics"]

_COUNTERS = {
    "nv_inference_request_success": "success",
    "nv_inference_request_failure": "failure",
    "nv_inference_queue_duration_us": "queue_us",
    "nv_inference_compute_input_duration_us": "compute_input_us",
    "nv_inference_compute_infer_duration_us": "compute_infer_us",
    "nv_inference_compute_output_duration_us": "compute_output_us",
}
_P99 = "nv_inference_request_summary_us"


@dataclass(frozen=True)
class VersionCounters:
    """Cumulative counters of one model version on one replica.

    Attributes:
        success: Successful requests.
        failure: Failed requests (every reason).
        queue_us: Queue time, microseconds.
        compute_input_us: Input copy time, microseconds.
        compute_infer_us: Execution time, microseconds.
        compute_output_us: Output copy time, microseconds.
        p99_us: The p99 of Triton's latency summary (``summary_latencies=true`` only).
    """

    success: float = 0.0
    failure: float = 0.0
    queue_us: float = 0.0
    compute_input_us: float = 0.0
    compute_infer_us: float = 0.0
    compute_output_us: float = 0.0
    p99_us: float | None = None


def read_version_counters(metrics_url: str, model: str,
                          timeout_s: float = 2.0) -> dict[int, VersionCounters]:
    """Scrape a replica's ``/metrics`` and return ``model``'s counters per version.

    Raises:
        RepositoryApiError: The page cannot be read or parsed.
    """
    try:
        with loopback_opener().open(metrics_url, timeout=timeout_s) as response:
            text = response.read().decode("utf-8", errors="replace")
        samples = parse_prometheus_text(text)
    except (urllib.error.URLError, OSError) as error:
        raise RepositoryApiError(f"metrics of {metrics_url}", "", str(error)) from error
    except PrometheusParseError as error:
        raise RepositoryApiError(f"metrics of {metrics_url}", "", str(error)) from error
    values: dict[int, dict[str, float]] = {}
    p99: dict[int, float] = {}
    for sample in samples:
        version = sample.labels.get("version", "")
        if sample.labels.get("model") != model or not version.isdigit():
            continue
        key = _COUNTERS.get(sample.name)
        if key is not None:
            row = values.setdefault(int(version), {})
            row[key] = row.get(key, 0.0) + sample.value
        elif sample.name == _P99 and sample.labels.get("quantile") == "0.99" \
                and sample.value == sample.value:
            p99[int(version)] = max(p99.get(int(version), 0.0), sample.value)
    return {version: VersionCounters(**row, p99_us=p99.get(version))
            for version, row in values.items()}


def window_metrics(before: Sequence[Mapping[int, VersionCounters]],
                   after: Sequence[Mapping[int, VersionCounters]], version: int,
                   replicas: Sequence[int] | None = None) -> WindowMetrics:
    """What ``version`` answered between two readings, summed over replicas.

    Args:
        before: One reading per replica at the window's start.
        after: One reading per replica at its end (same order).
        version: The model version.
        replicas: Indexes of the replicas to sum (default: all).

    Returns:
        Requests, failures, queue + compute per successful request, and the highest
        p99 any replica's summary gave (None without summaries).
    """
    chosen = range(len(after)) if replicas is None else replicas
    total = dict.fromkeys(("success", "failure", "queue_us", "compute_input_us",
                           "compute_infer_us", "compute_output_us"), 0.0)
    p99s: list[float] = []
    for index in chosen:
        new = after[index].get(version)
        if new is None:
            continue
        old = before[index].get(version, VersionCounters())
        if new.success < old.success or new.failure < old.failure:
            old = VersionCounters()  # the version was reloaded: its counters restarted
        for key in total:
            total[key] += max(0.0, getattr(new, key) - getattr(old, key))
        if new.p99_us is not None:
            p99s.append(new.p99_us)
    success, failure = int(total["success"]), int(total["failure"])
    server_us = (total["queue_us"] + total["compute_input_us"] + total["compute_infer_us"]
                 + total["compute_output_us"])
    return WindowMetrics(
        requests=success + failure, failures=failure,
        latency_ms=server_us / success / 1000.0 if success > 0 else None,
        p99_ms=max(p99s) / 1000.0 if p99s else None)
