"""Locust load tests with latency targets, Triton's server-side view, and a benchmark.

Importing this package does not import locust (whose import monkey-patches the
process with gevent); the locust users, shape and listeners live in
:mod:`loadtests.users`, :mod:`loadtests.shapes` and :mod:`loadtests.plugin`, loaded by
``loadtests/locustfile.py``. Drills live in :mod:`loadtests.drills`. See
``docs/loadtests.md``.
"""

from loadtests.bench import (
    BenchFigure,
    BenchOptions,
    BenchResult,
    disable_dynamic_batching,
    format_bench_table,
    run_benchmark,
)
from loadtests.driver import LoopResult, closed_loop, model_caller, run_closed_loop
from loadtests.errors import (
    BenchmarkError,
    DrillError,
    InputDataError,
    LoadTestError,
    PlotSkipped,
    RunnerError,
    ServerStatsError,
    TargetsError,
)
from loadtests.locust_process import EXIT_WALL_CLOCK, LOCUSTFILE
from loadtests.models import (
    CLASSIFIER,
    IMAGE_DIAGNOSIS,
    PROTOCOLS,
    RECOMMENDATION,
    REFERENCE_MODELS,
)
from loadtests.options import OPTIONS, Option, add_options, locust_arguments, parse_duration_s
from loadtests.promtext import (
    MetricSample,
    PrometheusParseError,
    parse_prometheus_text,
    sum_samples,
)
from loadtests.records import Outcome, RecordWriter, RequestRecord, classify, read_records
from loadtests.report import (
    ClientStats,
    RunReport,
    TimePoint,
    read_report,
    render_markdown,
    write_report,
    write_report_files,
)
from loadtests.runner import Endpoints, RunOptions, locust_command, run_load_test
from loadtests.samples import SamplePool, image_pool, random_user_id
from loadtests.scenarios import SCENARIOS, Stage, scenario_stages, stage_at
from loadtests.server_stats import (
    LatencyBreakdown,
    ModelCounters,
    ModelDelta,
    ServerSnapshot,
    StatsAccumulator,
    composing_models,
    diff_snapshots,
    fetch_snapshot,
    latency_breakdown,
    model_counters,
    read_model_stats,
)
from loadtests.targets import (
    TARGET_NAMES,
    Measured,
    Targets,
    TargetVerdict,
    all_passed,
    default_targets_path,
    evaluate_targets,
    format_verdict_table,
    load_targets,
    parse_targets,
    targets_for,
)

__all__ = [
    "CLASSIFIER",
    "EXIT_WALL_CLOCK",
    "IMAGE_DIAGNOSIS",
    "LOCUSTFILE",
    "OPTIONS",
    "PROTOCOLS",
    "RECOMMENDATION",
    "REFERENCE_MODELS",
    "SCENARIOS",
    "TARGET_NAMES",
    "BenchFigure",
    "BenchOptions",
    "BenchResult",
    "BenchmarkError",
    "ClientStats",
    "DrillError",
    "Endpoints",
    "InputDataError",
    "LatencyBreakdown",
    "LoadTestError",
    "LoopResult",
    "Measured",
    "MetricSample",
    "ModelCounters",
    "ModelDelta",
    "Option",
    "Outcome",
    "PlotSkipped",
    "PrometheusParseError",
    "RecordWriter",
    "RequestRecord",
    "RunOptions",
    "RunReport",
    "RunnerError",
    "SamplePool",
    "ServerSnapshot",
    "ServerStatsError",
    "Stage",
    "StatsAccumulator",
    "TargetVerdict",
    "Targets",
    "TargetsError",
    "TimePoint",
    "add_options",
    "all_passed",
    "classify",
    "closed_loop",
    "composing_models",
    "default_targets_path",
    "diff_snapshots",
    "disable_dynamic_batching",
    "evaluate_targets",
    "fetch_snapshot",
    "format_bench_table",
    "format_verdict_table",
    "image_pool",
    "latency_breakdown",
    "load_targets",
    "locust_arguments",
    "locust_command",
    "model_caller",
    "model_counters",
    "parse_duration_s",
    "parse_prometheus_text",
    "parse_targets",
    "random_user_id",
    "read_model_stats",
    "read_records",
    "read_report",
    "render_markdown",
    "run_benchmark",
    "run_closed_loop",
    "run_load_test",
    "scenario_stages",
    "stage_at",
    "sum_samples",
    "targets_for",
    "write_report",
    "write_report_files",
]
