"""Triton's own view of a run: statistics extension and Prometheus metrics.

The one reader of Triton's statistics extension: :func:`read_model_stats` returns a
model's counters per version (``GET /v2/models/NAME/stats``). On it:

* take a :class:`ServerSnapshot` before and after a run, then :func:`diff_snapshots`
  turns the cumulative counters into per-request figures (queue, compute input,
  compute infer, compute output in milliseconds, mean batch size formed, success and
  failure counts); :func:`latency_breakdown` splits the client's mean latency into
  server queueing, server compute and the rest (transport plus client overhead);
* :func:`model_counters` sums one model's versions (the failover drill's "does this
  replica answer yet");
* :class:`StatsAccumulator` keeps counting across version switches, which reset a
  version's counters (the rollout drill).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from loadtests.errors import ServerStatsError
from loadtests.promtext import PrometheusParseError, parse_prometheus_text, sum_samples
from serving.ports import loopback_opener

__all__ = [
    "TRITON_METRICS",
    "LatencyBreakdown",
    "ModelCounters",
    "ModelDelta",
    "ServerSnapshot",
    "StatsAccumulator",
    "composing_models",
    "diff_snapshots",
    "fetch_snapshot",
    "latency_breakdown",
    "model_counters",
    "read_model_stats",
]

TRITON_METRICS: tuple[str, ...] = (
    "nv_inference_request_success",
    "nv_inference_request_failure",
    "nv_inference_count",
    "nv_inference_exec_count",
    "nv_inference_request_duration_us",
    "nv_inference_queue_duration_us",
    "nv_inference_compute_input_duration_us",
    "nv_inference_compute_infer_duration_us",
    "nv_inference_compute_output_duration_us",
)
"""Per-model Prometheus counters kept in a snapshot."""

_DURATIONS = ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output")


@dataclass(frozen=True)
class ModelCounters:
    """Cumulative counters of one model from the statistics extension.

    Attributes:
        name: Model name.
        inference_count: Inferences performed (batch rows).
        execution_count: Model executions (batches formed).
        counts: Request count per duration kind (success, fail, queue, compute_*).
        ns: Cumulative nanoseconds per duration kind.
        version: The version counted (empty for counters summed over versions).
    """

    name: str
    inference_count: int
    execution_count: int
    counts: Mapping[str, int]
    ns: Mapping[str, int]
    version: str = ""


@dataclass(frozen=True)
class ServerSnapshot:
    """Everything read from the server at one moment.

    Attributes:
        taken_at_s: Wall-clock time of the snapshot (seconds since the epoch).
        models: Statistics-extension counters per model name.
        metrics: Prometheus counters per model name (empty without a metrics URL).
        metrics_error: Why metrics are missing, when they are.
        composing: Composing model names per ensemble model.
    """

    taken_at_s: float
    models: Mapping[str, ModelCounters]
    metrics: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    metrics_error: str | None = None
    composing: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelDelta:
    """What one model did on the server between two snapshots.

    Attributes:
        model: Model name.
        success_count: Successful requests.
        failure_count: Failed requests.
        inference_count: Inferences performed (batch rows).
        execution_count: Executions (batches formed).
        mean_batch_size: inference_count / execution_count (None without executions).
        queue_ms: Mean queueing time per request, milliseconds.
        compute_input_ms: Mean input-copy time per request, milliseconds.
        compute_infer_ms: Mean model-execution time per request, milliseconds.
        compute_output_ms: Mean output-copy time per request, milliseconds.
        request_ms: Mean end-to-end server time per successful request, milliseconds.
        metrics: Prometheus counter deltas by metric name (empty when unavailable).
        composing: Composing models of an ensemble (empty otherwise).
    """

    model: str
    success_count: int
    failure_count: int
    inference_count: int
    execution_count: int
    mean_batch_size: float | None
    queue_ms: float | None
    compute_input_ms: float | None
    compute_infer_ms: float | None
    compute_output_ms: float | None
    request_ms: float | None
    metrics: Mapping[str, float] = field(default_factory=dict)
    composing: Sequence[str] = ()

    @property
    def compute_ms(self) -> float | None:
        """Mean compute time per request: input + infer + output, milliseconds."""
        parts = (self.compute_input_ms, self.compute_infer_ms, self.compute_output_ms)
        if any(p is None for p in parts):
            return None
        return sum(p for p in parts if p is not None)

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict, including ``compute_ms``."""
        data = asdict(self)
        data["metrics"] = dict(self.metrics)
        data["composing"] = list(self.composing)
        data["compute_ms"] = self.compute_ms
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelDelta:
        """Build a delta back from :meth:`as_dict`'s output (``compute_ms`` is derived)."""
        fields = {k: v for k, v in data.items() if k != "compute_ms"}
        fields["metrics"] = dict(fields.get("metrics", {}))
        fields["composing"] = tuple(fields.get("composing", ()))
        return cls(**fields)


@dataclass(frozen=True)
class LatencyBreakdown:
    """The client's mean latency split into where the time went.

    Attributes:
        client_mean_ms: Mean latency the client measured, milliseconds.
        queue_ms: Server queueing per request (summed over composing models).
        compute_ms: Server compute per request (summed over composing models).
        other_ms: The rest: transport, (de)serialisation, client overhead.
    """

    client_mean_ms: float
    queue_ms: float
    compute_ms: float
    other_ms: float

    def as_dict(self) -> dict[str, float]:
        """Return a JSON-ready dict."""
        return asdict(self)


def _get_json(stats_url: str, path: str, what: str, timeout_s: float) -> Any:
    parts = urlsplit(stats_url if "://" in stats_url else f"http://{stats_url}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ServerStatsError(
            f"statistics URL {stats_url!r} must be http://host:port or https://host:port"
        )
    url = f"{parts.scheme}://{parts.netloc}{path}"
    try:
        with loopback_opener().open(url, timeout=timeout_s) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise ServerStatsError(f"cannot read {what} from {stats_url}: HTTP {exc.code}: "
                               f"{exc.read()[:300].decode(errors='replace')}") from exc
    except (OSError, ValueError) as exc:
        raise ServerStatsError(f"cannot read {what} from {stats_url}: {exc}") from exc


def _counters(raw: Mapping[str, Any]) -> ModelCounters:
    stats = raw.get("inference_stats", {})
    counts = {k: int(stats.get(k, {}).get("count", 0)) for k in _DURATIONS}
    ns = {k: int(stats.get(k, {}).get("ns", 0)) for k in _DURATIONS}
    return ModelCounters(
        name=str(raw["name"]),
        inference_count=int(raw.get("inference_count", 0)),
        execution_count=int(raw.get("execution_count", 0)),
        counts=counts,
        ns=ns,
        version=str(raw.get("version", "")),
    )


def read_model_stats(stats_url: str, model: str,
                     timeout_s: float = 5.0) -> tuple[ModelCounters, ...]:
    """Read a model's counters from Triton's statistics extension, one per version entry.

    A version may be listed twice while it reloads; an unloaded version is not listed
    (Triton drops its counters).

    Args:
        stats_url: Triton's HTTP endpoint, ``http://host:port``.
        model: Model name.
        timeout_s: Limit of the read, seconds.

    Raises:
        ServerStatsError: The statistics could not be read, naming the model.
    """
    raw = _get_json(stats_url, f"/v2/models/{quote(model, safe='')}/stats",
                    f"statistics of model {model!r}", timeout_s)
    return tuple(_counters(entry) for entry in raw.get("model_stats", []))


def model_counters(stats_url: str, model: str, timeout_s: float = 5.0) -> ModelCounters:
    """A model's counters summed over its versions (:func:`read_model_stats`).

    Raises:
        ServerStatsError: The statistics could not be read, or the server has none for
            the model.
    """
    versions = read_model_stats(stats_url, model, timeout_s)
    if not versions:
        raise ServerStatsError(f"server has no statistics for model {model!r}")
    return _merge(model, versions)


def composing_models(stats_url: str, model: str, timeout_s: float = 5.0) -> list[str]:
    """Return the step models of an ensemble (empty for any other model).

    Raises:
        ServerStatsError: The model configuration could not be read.
    """
    config = _get_json(stats_url, f"/v2/models/{quote(model, safe='')}/config",
                       f"the config of model {model!r}", timeout_s)
    steps = config.get("ensemble_scheduling", {}).get("step", [])
    return [str(step["model_name"]) for step in steps]


def _read_metrics(
    metrics_url: str, models: Sequence[str], timeout_s: float
) -> dict[str, dict[str, float]]:
    try:
        with urllib.request.urlopen(metrics_url, timeout=timeout_s) as response:
            text = response.read().decode("utf-8", errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        raise ServerStatsError(f"cannot scrape metrics from {metrics_url}: {exc}") from exc
    try:
        samples = parse_prometheus_text(text)
    except PrometheusParseError as exc:
        raise ServerStatsError(f"metrics page of {metrics_url} is malformed: {exc}") from exc
    return {
        model: {name: sum_samples(samples, name, model=model) for name in TRITON_METRICS}
        for model in models
    }


def fetch_snapshot(
    stats_url: str,
    models: Sequence[str],
    metrics_url: str | None = None,
    timeout_s: float = 5.0,
) -> ServerSnapshot:
    """Read statistics (and metrics, when a URL is given) for ``models``.

    Ensemble models bring their composing models into the snapshot.

    Args:
        stats_url: Triton HTTP endpoint, ``http://host:port``.
        models: Model names to read.
        metrics_url: Prometheus endpoint, ``http://host:port/metrics``; optional.
        timeout_s: Per-call timeout in seconds.

    Returns:
        The snapshot. A metrics failure is recorded in ``metrics_error``, not raised.

    Raises:
        ServerStatsError: The statistics extension could not be read.
    """
    composing = {m: composing_models(stats_url, m, timeout_s) for m in models}
    names = list(dict.fromkeys([*models, *(c for cs in composing.values() for c in cs)]))
    counters = {name: model_counters(stats_url, name, timeout_s) for name in names}
    metrics: dict[str, dict[str, float]] = {}
    metrics_error: str | None = None
    if metrics_url:
        try:
            metrics = _read_metrics(metrics_url, names, timeout_s)
        except ServerStatsError as exc:
            metrics_error = str(exc)
    else:
        metrics_error = "no metrics URL given"
    return ServerSnapshot(time.time(), counters, metrics, metrics_error, composing)


def _merge(name: str, versions: Sequence[ModelCounters]) -> ModelCounters:
    """Sum counters over every version of a model."""
    return ModelCounters(
        name=name,
        inference_count=sum(v.inference_count for v in versions),
        execution_count=sum(v.execution_count for v in versions),
        counts={k: sum(v.counts.get(k, 0) for v in versions) for k in _DURATIONS},
        ns={k: sum(v.ns.get(k, 0) for v in versions) for k in _DURATIONS},
    )


def _per_request_ms(ns: int, count: int) -> float | None:
    return ns / count / 1e6 if count > 0 else None


def diff_snapshots(before: ServerSnapshot, after: ServerSnapshot) -> dict[str, ModelDelta]:
    """Turn two snapshots into per-model deltas (models present in both).

    Args:
        before: Snapshot taken before the run.
        after: Snapshot taken after the run.

    Returns:
        A :class:`ModelDelta` per model name.
    """
    deltas: dict[str, ModelDelta] = {}
    for name, post in after.models.items():
        pre = before.models.get(name)
        if pre is None:
            continue
        count = {k: post.counts.get(k, 0) - pre.counts.get(k, 0) for k in _DURATIONS}
        ns = {k: post.ns.get(k, 0) - pre.ns.get(k, 0) for k in _DURATIONS}
        inferences = post.inference_count - pre.inference_count
        executions = post.execution_count - pre.execution_count
        metric_delta: dict[str, float] = {}
        if name in after.metrics and name in before.metrics:
            metric_delta = {
                k: after.metrics[name].get(k, 0.0) - before.metrics[name].get(k, 0.0)
                for k in after.metrics[name]
            }
        deltas[name] = ModelDelta(
            model=name,
            success_count=count["success"],
            failure_count=count["fail"],
            inference_count=inferences,
            execution_count=executions,
            mean_batch_size=inferences / executions if executions > 0 else None,
            queue_ms=_per_request_ms(ns["queue"], count["queue"]),
            compute_input_ms=_per_request_ms(ns["compute_input"], count["compute_input"]),
            compute_infer_ms=_per_request_ms(ns["compute_infer"], count["compute_infer"]),
            compute_output_ms=_per_request_ms(ns["compute_output"], count["compute_output"]),
            request_ms=_per_request_ms(ns["success"], count["success"]),
            metrics=metric_delta,
            composing=tuple(after.composing.get(name, ())),
        )
    return deltas


def latency_breakdown(
    client_mean_ms: float, model: str, deltas: Mapping[str, ModelDelta]
) -> LatencyBreakdown | None:
    """Split the client's mean latency into server queue, server compute and the rest.

    For an ensemble the queue and compute times of its composing models are summed
    (each step queues and computes once per request).

    Args:
        client_mean_ms: Mean latency the client measured, milliseconds.
        model: The model the client called.
        deltas: Deltas from :func:`diff_snapshots`.

    Returns:
        The breakdown, or None when the server reported no timed requests.
    """
    delta = deltas.get(model)
    if delta is None:
        return None
    parts = [deltas[c] for c in delta.composing if c in deltas] if delta.composing else [delta]
    if not parts:
        parts = [delta]
    queue = [p.queue_ms for p in parts]
    compute = [p.compute_ms for p in parts]
    if any(q is None for q in queue) or any(c is None for c in compute):
        return None
    queue_ms = sum(q for q in queue if q is not None)
    compute_ms = sum(c for c in compute if c is not None)
    return LatencyBreakdown(
        client_mean_ms=client_mean_ms,
        queue_ms=queue_ms,
        compute_ms=compute_ms,
        other_ms=client_mean_ms - queue_ms - compute_ms,
    )


_POLL_S = 0.1
_RESET_POLLS = 3


class StatsAccumulator:
    """A model's counters summed over every version, kept across version switches.

    Triton drops a version's statistics when it unloads it and restarts them when it
    loads it again, so a before/after difference is wrong across a switch. This polls
    :func:`read_model_stats` every 0.1 s in the background and adds each version's
    increase; the counts of a version may miss the requests it served within one poll
    of its unloading, and they include Triton's warm-up samples and the release
    controller's smoke calls.

    Args:
        stats_url: Triton's HTTP URL.
        model: Model name.
    """

    def __init__(self, stats_url: str, model: str) -> None:
        self.stats_url = stats_url
        self.model = model
        self._last: dict[str, tuple[int, int, int, int]] = {}
        self._low: dict[str, int] = {}
        self.totals = [0, 0, 0, 0]  # success, fail, inferences, executions
        self.polls_failed = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="stats-accumulator",
                                        daemon=True)

    def start(self) -> None:
        """Start polling in the background."""
        self.poll()
        self._thread.start()

    def stop(self) -> None:
        """Stop polling (bounded wait)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)

    def _loop(self) -> None:
        while not self._stop.wait(_POLL_S):
            self.poll()

    def poll(self) -> None:
        """Read the statistics once and add each version's increase."""
        try:
            versions = read_model_stats(self.stats_url, self.model, timeout_s=2.0)
        except ServerStatsError:
            with self._lock:
                self.polls_failed += 1
            return
        latest: dict[str, tuple[int, int, int, int]] = {}
        for counters in versions:
            now = (counters.counts["success"], counters.counts["fail"],
                   counters.inference_count, counters.execution_count)
            # A version can be listed twice (while it reloads in the background, or the
            # same instance twice): follow the larger, older counter.
            latest[counters.version] = max(latest.get(counters.version, now), now)
        with self._lock:
            for version, now in latest.items():
                before = self._last.get(version, (0, 0, 0, 0))
                if now[0] < before[0]:
                    # Smaller: a new instance that restarted at 0, or a passing glitch
                    # while Triton reloads; believe it once it lasts _RESET_POLLS polls.
                    self._low[version] = self._low.get(version, 0) + 1
                    if self._low[version] < _RESET_POLLS:
                        continue
                    before = (0, 0, 0, 0)
                self._low[version] = 0
                for index, (new, old) in enumerate(zip(now, before, strict=True)):
                    self.totals[index] += max(0, new - old)
                self._last[version] = now

    def snapshot(self) -> ServerSnapshot:
        """Poll now and return the running totals as a snapshot of the model."""
        self.poll()
        with self._lock:
            success, fail, inferences, executions = self.totals
        counters = ModelCounters(self.model, inferences, executions,
                                 {"success": success, "fail": fail}, {})
        return ServerSnapshot(time.time(), {self.model: counters})
