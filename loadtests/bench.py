"""Serving-efficiency benchmark, all measured in one run on this machine.

(a) in-process onnxruntime throughput of the image classifier at its best batch size;
(b) its throughput served by Triton (raw gRPC asyncio callers on the closed-loop driver,
    one generated input per request) at the best concurrency, giving the
    serving-efficiency ratio b / a;
(c) served throughput with the generated dynamic batching vs the same model with
    dynamic batching cleared, at equal concurrency;
(d) typed client vs raw tritonclient median latency at concurrency 1 (recommendation,
    gRPC and HTTP): the typed client should add at most 5 %;
(f) the steady-state tail of each reference model as shipped beside batching off
    (:mod:`loadtests.bench_tail`): p99 / p50 and calls over 100 ms at concurrency 8.

Every figure is the median of ``repeats`` runs; every run is bounded in time. The inputs
come from the models' input data (:func:`loadtests.datasource.served_input_data`,
generated from the served signature), not from hand-written tensors or id ranges.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from generator.errors import ConfigSyntaxError
from generator.layout import CONFIG_FILENAME, load_config, write_text_atomic
from loadtests.datasource import served_input_data
from loadtests.driver import Caller, LoopResult, closed_loop
from loadtests.errors import BenchmarkError
from loadtests.inputdata import InputData
from loadtests.models import CLASSIFIER, RECOMMENDATION

__all__ = [
    "CLASSIFIER",
    "TYPED_CLIENT_MAX_OVERHEAD",
    "BenchFigure",
    "BenchOptions",
    "BenchResult",
    "disable_dynamic_batching",
    "format_bench_table",
    "machine_info",
    "raw_closed_loop",
    "raw_grpc_caller",
    "recommendation_user_ids",
    "run_benchmark",
]


TYPED_CLIENT_MAX_OVERHEAD = 1.05
"""Highest acceptable typed/raw median latency ratio."""

_CALL_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class BenchOptions:
    """Settings of one benchmark.

    Attributes:
        repository: Model repository to serve.
        onnx_path: The classifier's ONNX file for the in-process baseline.
        repeats: Runs per figure (the median is reported).
        window_s: Length of each served-throughput measurement in seconds.
        batch_sizes: In-process batch sizes tried.
        concurrencies: Served concurrencies tried.
        latency_calls: Calls per latency measurement at concurrency 1.
        json_out: Also write the result as JSON here.
    """

    repository: Path = Path("model_repository")
    onnx_path: Path = Path("specs/assets/image_diagnosis_classifier.onnx")
    repeats: int = 3
    window_s: float = 3.0
    batch_sizes: Sequence[int] = (1, 8, 32)
    concurrencies: Sequence[int] = (4, 16)
    latency_calls: int = 1000
    json_out: Path | None = None

    def __post_init__(self) -> None:
        if self.repeats < 1:
            raise BenchmarkError(f"repeats: must be >= 1, got {self.repeats}")
        if self.window_s <= 0:
            raise BenchmarkError(f"window_s: must be > 0, got {self.window_s}")


@dataclass(frozen=True)
class BenchFigure:
    """One measured figure.

    Attributes:
        name: What was measured.
        value: Median over the runs.
        unit: Unit of ``value``.
        runs: Every run's value.
        setting: The condition for display, e.g. ``grpc, concurrency 1``.
        batch_size: Batch size of an in-process figure.
        concurrency: Calls in flight of a served figure.
        protocol: Protocol of a served figure.
    """

    name: str
    value: float
    unit: str
    runs: Sequence[float]
    setting: str = ""
    batch_size: int | None = None
    concurrency: int | None = None
    protocol: str | None = None


@dataclass
class BenchResult:
    """The benchmark's figures, ratios and machine description.

    Attributes:
        machine: CPU model, cores, Python, onnxruntime and Triton versions.
        figures: Every measured figure.
        ratios: Derived ratios by name.
        notes: Remarks (e.g. the typed-client verdict).
    """

    machine: dict[str, str]
    figures: list[BenchFigure] = field(default_factory=list)
    ratios: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"machine": self.machine, "figures": [asdict(f) for f in self.figures],
                "ratios": self.ratios, "notes": self.notes}


def machine_info(triton_version: str = "unknown") -> dict[str, str]:
    """Describe this machine: CPU model, cores, Python, onnxruntime and Triton."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import onnxruntime

    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "onnxruntime": str(onnxruntime.__version__),
        "triton": triton_version,
        "platform": platform.platform(),
    }


def _median_figure(name: str, unit: str, runs: Sequence[float], *,
                   batch_size: int | None = None, concurrency: int | None = None,
                   protocol: str | None = None) -> BenchFigure:
    parts = [protocol] if protocol else []
    if batch_size is not None:
        parts.append(f"batch {batch_size}")
    if concurrency is not None:
        parts.append(f"concurrency {concurrency}")
    return BenchFigure(name, float(statistics.median(runs)), unit, [float(r) for r in runs],
                       ", ".join(parts), batch_size, concurrency, protocol)


def _pixels(batch: int) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(0)
    return rng.uniform(-1.0, 1.0, size=(batch, 1, 224, 224)).astype(np.float32)


def _in_process_images_per_s(session: Any, batch: int, window_s: float) -> float:
    feed = {"pixels": _pixels(batch)}
    session.run(None, feed)  # warm-up
    done = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < window_s:
        session.run(None, feed)
        done += batch
    return done / elapsed


def _progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _measure_in_process(options: BenchOptions) -> list[BenchFigure]:
    import onnxruntime as ort

    if not options.onnx_path.is_file():
        raise BenchmarkError(f"onnx_path: {options.onnx_path} does not exist")
    session = ort.InferenceSession(str(options.onnx_path), providers=["CPUExecutionProvider"])
    window = min(options.window_s, 2.0)
    return [
        _median_figure("in-process onnxruntime", "images/s",
                       [_in_process_images_per_s(session, batch, window)
                        for _ in range(options.repeats)], batch_size=batch)
        for batch in options.batch_sizes
    ]


def raw_grpc_caller(client: Any, model: str, data: InputData,
                    timeout_s: float | None = None) -> Caller:
    """Raw ``tritonclient.grpc.aio`` calls of ``data``'s entries, round-robin.

    The requests are built once, so a call costs what tritonclient costs and nothing
    of the typed clients' layer: the served figures measure the server.

    Args:
        client: A ``tritonclient.grpc.aio.InferenceServerClient``.
        model: The model called.
        data: Its input data.
        timeout_s: Limit of each call (``client_timeout``).
    """
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import np_to_triton_dtype

    requests = []
    for index in range(len(data.entries)):
        tensors = []
        for name, array in data.request(index).items():
            tensor = grpcclient.InferInput(name, list(array.shape),
                                           np_to_triton_dtype(array.dtype))
            tensor.set_data_from_numpy(array)
            tensors.append(tensor)
        requests.append(tensors)
    order = itertools.cycle(requests)

    async def call() -> object:
        return await client.infer(model, next(order), client_timeout=timeout_s)

    return call


def raw_closed_loop(url: str, model: str, data: InputData, concurrency: int, window_s: float,
                    failures: tuple[type[Exception], ...] = ()) -> LoopResult:
    """:func:`raw_grpc_caller` calls on the closed-loop driver, after one untimed call each.

    Args:
        url: The server's ``grpc://`` URL.
        model: The model called.
        data: Its input data.
        concurrency: Callers.
        window_s: Length of the measured window.
        failures: What a failed call raises (counted); anything else is raised.
    """
    import tritonclient.grpc.aio as aioclient

    async def drive() -> LoopResult:
        client = aioclient.InferenceServerClient(url.split("://", 1)[1])
        try:
            call = raw_grpc_caller(client, model, data, _CALL_TIMEOUT_S)
            await asyncio.gather(*(call() for _ in range(concurrency)))
            return await closed_loop(call, concurrency, window_s, timeout_s=_CALL_TIMEOUT_S,
                                     failures=failures)
        finally:
            await client.close()

    return asyncio.run(drive())


def _measure_served(url: str, options: BenchOptions, concurrencies: Sequence[int],
                    label: str) -> list[BenchFigure]:
    figures = []
    data = served_input_data(CLASSIFIER, url)
    for concurrency in concurrencies:
        _progress(f"served throughput, {label}, concurrency {concurrency} "
                  f"({options.repeats} x {options.window_s:g} s)")
        try:
            runs = [raw_closed_loop(url, CLASSIFIER, data, concurrency, options.window_s).rps
                    for _ in range(options.repeats)]
        except Exception as exc:
            raise BenchmarkError(f"{CLASSIFIER}: served throughput ({label}, concurrency "
                                 f"{concurrency}) failed: {exc}") from exc
        figures.append(_median_figure(f"served via Triton gRPC ({label})", "images/s", runs,
                                      concurrency=concurrency))
    return figures


def disable_dynamic_batching(config_path: Path) -> None:
    """Rewrite a ``config.pbtxt`` in place with ``dynamic_batching`` cleared.

    Raises:
        BenchmarkError: The file is not a valid model configuration.
    """
    from google.protobuf import text_format

    try:
        config = load_config(config_path)
    except ConfigSyntaxError as exc:
        raise BenchmarkError(f"cannot parse model config: {exc}") from exc
    config.ClearField("dynamic_batching")
    write_text_atomic(config_path, text_format.MessageToString(config))


def _raw_recommend(url: str) -> tuple[Callable[[int], object], Callable[[], None]]:
    """The same call as ``RecommendationClient.recommend(user_id, k=10)``, in raw tritonclient."""
    if url.startswith("grpc://"):
        import tritonclient.grpc as client_module
    else:
        import tritonclient.http as client_module
    client = client_module.InferenceServerClient(url.split("://", 1)[1])
    outputs = [client_module.InferRequestedOutput("item_ids"),
               client_module.InferRequestedOutput("scores")]

    def call(user_id: int) -> object:
        request = client_module.InferInput("user_id", [1, 1], "INT64")
        request.set_data_from_numpy(np.array([[user_id]], dtype=np.int64))
        result = client.infer(RECOMMENDATION, [request], outputs=outputs)
        ids, scores = result.as_numpy("item_ids")[0], result.as_numpy("scores")[0]
        return [(int(i), float(s)) for i, s in zip(ids[:10], scores[:10], strict=True)]

    return call, client.close


def recommendation_user_ids(url: str) -> list[int]:
    """The user ids of the recommendation model's input data, generated from its signature."""
    data = served_input_data(RECOMMENDATION, url)
    return [int(data.request(index)["user_id"].ravel()[0])
            for index in range(len(data.entries))]


def _paired_latency_ms(first: Callable[[int], object], second: Callable[[int], object],
                       calls: int, user_ids: Sequence[int]) -> tuple[float, float]:
    """Median latency of two calls timed in alternation, so machine drift hits both alike.

    Call ``i`` of each asks for ``user_ids[i % len(user_ids)]``.
    """
    for i in range(min(20, calls)):
        first(user_ids[i % len(user_ids)])
        second(user_ids[i % len(user_ids)])
    a_samples: list[float] = []
    b_samples: list[float] = []
    for i in range(calls):
        user_id = user_ids[i % len(user_ids)]
        pair = ((first, a_samples), (second, b_samples))
        for call, samples in pair if i % 2 == 0 else pair[::-1]:
            started = time.perf_counter()
            call(user_id)
            samples.append((time.perf_counter() - started) * 1000.0)
    return float(statistics.median(a_samples)), float(statistics.median(b_samples))


def _measure_client_overhead(urls: dict[str, str], options: BenchOptions,
                             result: BenchResult) -> None:
    from clients import RecommendationClient, RetryPolicy

    for protocol, url in urls.items():
        _progress(f"typed vs raw client latency over {protocol} "
                  f"({options.repeats} x {options.latency_calls} alternating call pairs)")
        user_ids = recommendation_user_ids(url)
        typed = RecommendationClient(url, retry=RetryPolicy(max_attempts=1))
        raw_call, raw_close = _raw_recommend(url)
        try:
            typed_runs, raw_runs = [], []
            for _ in range(options.repeats):
                raw_ms, typed_ms = _paired_latency_ms(
                    raw_call, functools.partial(typed.recommend, k=10), options.latency_calls,
                    user_ids)
                raw_runs.append(raw_ms)
                typed_runs.append(typed_ms)
        finally:
            typed.close()
            raw_close()
        raw = _median_figure("raw tritonclient recommend", "ms (median)", raw_runs,
                             protocol=protocol, concurrency=1)
        typed_fig = _median_figure("typed client recommend", "ms (median)", typed_runs,
                                   protocol=protocol, concurrency=1)
        result.figures += [raw, typed_fig]
        ratio = typed_fig.value / raw.value
        result.ratios[f"typed_vs_raw_latency_{protocol}"] = ratio
        verdict = "PASS" if ratio <= TYPED_CLIENT_MAX_OVERHEAD else "FAIL"
        result.notes.append(f"typed client over {protocol}: {ratio:.3f}x raw tritonclient "
                            f"(limit {TYPED_CLIENT_MAX_OVERHEAD:.2f}x) {verdict}")
        _measure_generated_client(protocol, url, options, result)


def _measure_generated_client(protocol: str, url: str, options: BenchOptions,
                              result: BenchResult) -> None:
    """Step (d'): the client ``python -m generator clients`` writes, against raw tritonclient."""
    from loadtests.bench_generated import generated_recommend

    _progress(f"generated vs raw client latency over {protocol}")
    user_ids = recommendation_user_ids(url)
    generated_call, generated_close = generated_recommend(url)
    raw_call, raw_close = _raw_recommend(url)
    try:
        pairs = [_paired_latency_ms(raw_call, generated_call, options.latency_calls, user_ids)
                 for _ in range(options.repeats)]
    finally:
        generated_close()
        raw_close()
    raw = _median_figure("raw tritonclient recommend (paired with generated)", "ms (median)",
                         [r for r, _ in pairs], protocol=protocol, concurrency=1)
    generated = _median_figure("generated client recommend", "ms (median)",
                               [g for _, g in pairs], protocol=protocol, concurrency=1)
    result.figures += [raw, generated]
    ratio = generated.value / raw.value
    result.ratios[f"generated_vs_raw_latency_{protocol}"] = ratio
    verdict = "PASS" if ratio <= TYPED_CLIENT_MAX_OVERHEAD else "FAIL"
    result.notes.append(f"generated client over {protocol}: {ratio:.3f}x raw tritonclient "
                        f"(limit {TYPED_CLIENT_MAX_OVERHEAD:.2f}x) {verdict}")


def _triton_version(http_url: str) -> str:
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(http_url.split("://", 1)[1])
    try:
        return str(client.get_server_metadata().get("version", "unknown"))
    finally:
        client.close()


def run_benchmark(options: BenchOptions) -> BenchResult:
    """Run every benchmark step and return figures and ratios (see module docs).

    Raises:
        BenchmarkError: A step failed; the message names the model and the step.
    """
    from serving import TritonServer

    if not (options.repository / CLASSIFIER / CONFIG_FILENAME).is_file():
        raise BenchmarkError(f"repository: {options.repository} has no {CLASSIFIER} model")
    _progress(f"in-process onnxruntime, batch sizes {list(options.batch_sizes)}")
    in_process = _measure_in_process(options)
    _progress(f"starting Triton on {options.repository}")
    with TritonServer(options.repository) as server:
        result = BenchResult(machine_info(_triton_version(server.http_url)))
        result.figures += in_process
        served = _measure_served(server.grpc_url, options, options.concurrencies,
                                 "dynamic batching")
        result.figures += served
        _measure_client_overhead({"grpc": server.grpc_url, "http": server.http_url},
                                 options, result)
    best_local = max(in_process, key=lambda f: f.value)
    best_served = max(served, key=lambda f: f.value)
    concurrency = best_served.concurrency or options.concurrencies[-1]
    with tempfile.TemporaryDirectory(prefix="bench-repo-") as tmp:
        variant = Path(tmp) / "model_repository"
        shutil.copytree(options.repository, variant)
        disable_dynamic_batching(variant / CLASSIFIER / CONFIG_FILENAME)
        _progress("starting Triton on a copy with dynamic batching switched off")
        with TritonServer(variant) as server:
            (unbatched,) = _measure_served(server.grpc_url, options, [concurrency],
                                           "dynamic batching off")
    result.figures.append(unbatched)
    from loadtests.bench_balancer import measure_balancer_overhead

    measure_balancer_overhead(options, result)
    from loadtests.bench_tail import measure_steady_tail

    measure_steady_tail(options, result, _progress)
    result.ratios["serving_efficiency"] = best_served.value / best_local.value
    result.ratios["dynamic_batching_speedup"] = best_served.value / unbatched.value
    result.notes.insert(0, f"best in-process: {best_local.setting}; best served: "
                           f"{best_served.setting}")
    if options.json_out is not None:
        write_text_atomic(options.json_out, json.dumps(result.as_dict(), indent=2) + "\n")
    return result


_RATIO_LABELS = {
    "serving_efficiency": "served / in-process throughput (b / a)",
    "dynamic_batching_speedup": "dynamic batching on / off throughput (c)",
    "typed_vs_raw_latency_grpc": "typed / raw client median latency, gRPC (d)",
    "typed_vs_raw_latency_http": "typed / raw client median latency, HTTP (d)",
    "generated_vs_raw_latency_grpc": "generated / raw client median latency, gRPC (d')",
    "generated_vs_raw_latency_http": "generated / raw client median latency, HTTP (d')",
    "balancer_vs_direct_latency_grpc": "through HAProxy / direct median latency, gRPC (e)",
    "balancer_vs_direct_latency_http": "through HAProxy / direct median latency, HTTP (e)",
}


def format_bench_table(result: BenchResult) -> str:
    """Render machine info, figures and ratios as plain-text tables."""
    lines = ["Machine"] + [f"  {k:<12} {v}" for k, v in result.machine.items()]
    lines += ["", f"{'figure':<44} {'setting':<24} {'median':>10}  unit  (runs)", "-" * 96]
    for f in result.figures:
        runs = ", ".join(f"{r:.3g}" for r in f.runs)
        lines.append(f"{f.name:<44} {f.setting:<24} {f.value:>10.3f}  {f.unit}  ({runs})")
    lines += ["", f"{'ratio':<52} {'value':>8}", "-" * 61]
    for name, value in result.ratios.items():
        lines.append(f"{_RATIO_LABELS.get(name, name):<52} {value:>8.3f}")
    lines += [""] + [f"note: {n}" for n in result.notes]
    return "\n".join(lines)
