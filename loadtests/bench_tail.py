"""Bench step (f): the steady-state tail of each reference model, batching as shipped vs off.

Two servers run side by side: the repository as shipped and a copy with
``dynamic_batching`` cleared on every measured model. Each round drives each model on
each server in turn with :data:`TAIL_CONCURRENCY` raw ``tritonclient.grpc.aio`` callers on
the closed-loop driver (:mod:`loadtests.driver`), the inputs generated from each model's
served signature, so machine load hits both variants alike. Reported per model and variant:
p99 / p50 and the count of calls over :data:`SLOW_CALL_MS`; for the shipped variant also
its throughput over the batching-off one. A Triton queue policy shows up here as calls
of ~500 ms (docs/stall.md).
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from generator.layout import CONFIG_FILENAME
from loadtests.errors import BenchmarkError
from loadtests.models import CLASSIFIER, RECOMMENDATION

__all__ = ["SLOW_CALL_MS", "TAIL_CONCURRENCY", "TAIL_P99_OVER_P50_GOAL", "measure_steady_tail"]

TAIL_CONCURRENCY = 8
"""Closed-loop callers of every tail measurement."""
SLOW_CALL_MS = 100.0
"""A call slower than this counts as slow."""
TAIL_P99_OVER_P50_GOAL = 4.0
"""Goal for p99 / p50 with batching as shipped."""

def _without_batching(repository: Path, destination: Path, models: tuple[str, ...]) -> Path:
    from loadtests.bench import disable_dynamic_batching

    shutil.copytree(repository, destination)
    for model in models:
        disable_dynamic_batching(destination / model / CONFIG_FILENAME)
    return destination


def measure_steady_tail(options: Any, result: Any,
                        progress: Callable[[str], None] | None = None) -> None:
    """Add the tail figures and ratios of step (f) to ``result``.

    Args:
        options: The :class:`loadtests.bench.BenchOptions` (repository, repeats, window_s).
        result: The :class:`loadtests.bench.BenchResult` to extend.
        progress: Where progress lines go.

    Raises:
        BenchmarkError: A server did not start or a model answered no call.
    """
    from tritonclient.utils import InferenceServerException

    from loadtests.bench import _median_figure, raw_closed_loop
    from loadtests.datasource import served_input_data
    from serving import ServingError, TritonServer

    models = tuple(m for m in (RECOMMENDATION, CLASSIFIER)
                   if (options.repository / m / CONFIG_FILENAME).is_file())
    samples: dict[tuple[str, str], dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-tail-") as tmp:
        off = _without_batching(options.repository, Path(tmp) / "repository", models)
        try:
            with TritonServer(options.repository) as shipped, TritonServer(off) as unbatched:
                servers = {"as shipped": shipped.grpc_url,
                           "batching off": unbatched.grpc_url}
                inputs = {m: served_input_data(m, shipped.grpc_url) for m in models}
                for round_ in range(options.repeats):
                    for model in models:
                        for variant, url in servers.items():
                            if progress is not None:
                                progress(f"steady tail, {model} {variant}, round {round_ + 1}"
                                         f" ({TAIL_CONCURRENCY} callers, {options.window_s:g} s)")
                            raw_closed_loop(url, model, inputs[model], TAIL_CONCURRENCY, 0.5,
                                            (InferenceServerException,))  # warm-up
                            load = raw_closed_loop(url, model, inputs[model], TAIL_CONCURRENCY,
                                                   options.window_s, (InferenceServerException,))
                            p50, p99 = load.percentile_ms(50), load.percentile_ms(99)
                            if p50 is None or p99 is None:
                                raise BenchmarkError(f"{model}: no call answered ({variant})")
                            runs = samples.setdefault((model, variant), {
                                "p99_over_p50": [], "slow": [], "rps": [], "p99": []})
                            runs["p99_over_p50"].append(p99 / p50)
                            runs["p99"].append(p99)
                            runs["slow"].append(float(sum(ms > SLOW_CALL_MS
                                                          for ms in load.latencies_ms)))
                            runs["rps"].append(load.rps)
        except ServingError as exc:
            raise BenchmarkError(f"steady tail: {exc}") from exc
    for (model, variant), runs in samples.items():
        label = f"{model} {variant}"
        result.figures += [
            _median_figure(f"steady p99 / p50 ({label})", "ratio", runs["p99_over_p50"],
                           protocol="grpc", concurrency=TAIL_CONCURRENCY),
            _median_figure(f"steady p99 ({label})", "ms", runs["p99"],
                           protocol="grpc", concurrency=TAIL_CONCURRENCY),
            _median_figure(f"calls over {SLOW_CALL_MS:g} ms ({label})", "calls",
                           runs["slow"], protocol="grpc", concurrency=TAIL_CONCURRENCY),
            _median_figure(f"steady throughput ({label})", "calls/s", runs["rps"],
                           protocol="grpc", concurrency=TAIL_CONCURRENCY),
        ]
    for model in models:
        shipped_runs, off_runs = samples[(model, "as shipped")], samples[(model, "batching off")]
        ratio = statistics.median(shipped_runs["p99_over_p50"])
        result.ratios[f"tail_p99_over_p50_{model}"] = ratio
        result.ratios[f"tail_p99_over_p50_{model}_batching_off"] = statistics.median(
            off_runs["p99_over_p50"])
        result.ratios[f"steady_throughput_shipped_vs_off_{model}"] = (
            statistics.median(shipped_runs["rps"]) / statistics.median(off_runs["rps"]))
        verdict = "PASS" if ratio <= TAIL_P99_OVER_P50_GOAL else "FAIL"
        result.notes.append(
            f"{model} steady tail as shipped: p99/p50 {ratio:.2f} (goal <= "
            f"{TAIL_P99_OVER_P50_GOAL:g}) {verdict}; "
            f"{statistics.median(shipped_runs['slow']):.0f} calls over {SLOW_CALL_MS:g} ms "
            f"(batching off: {statistics.median(off_runs['slow']):.0f})")
