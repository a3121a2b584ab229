"""Command line: ``python -m loadtests run|drill|bench ...``.

The ``run`` and ``drill`` options come from :data:`loadtests.options.OPTIONS`, the same
definition locust's parser is built from.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from loadtests.errors import LoadTestError
from loadtests.options import add_options, parse_duration_s
from loadtests.runner import RunOptions, run_load_test
from loadtests.targets import TARGET_NAMES
from loadtests.tune.cli import add_tune_parser, run_tune_command

__all__ = ["build_parser", "main"]

_RUN_EPILOG = """\
exit codes: 0 every target held, 1 a target failed, 2 aborted (server or model not
ready, bad targets), 3 the run did not end by itself: stopped by its watchdog
(--stop-grace-s past the stop timeout; the report names the calls in flight) or killed
at its wall-clock bound (duration + grace).

examples:
  python -m loadtests run --model recommendation --protocol grpc --scenario steady \\
      --users 4 --spawn-rate 4 --duration 30s
  python -m loadtests run --model image_diagnosis --protocol http --scenario spike \\
      --users 8 --duration 1m --host http://127.0.0.1:8000 \\
      --metrics-url http://127.0.0.1:8002/metrics --p95-ms 800
"""

_DRILL_EPILOG = """\
exit codes: 0 the drill passed, 1 a check failed (report.md names it), 2 the drill
could not start (bad option, server not started), 3 the load did not end by itself
(stopped by its watchdog, or killed at its wall-clock bound).
"""


def _duration(text: str) -> float:
    try:
        return parse_duration_s(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _add_drill_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from loadtests.drills import add_drill_arguments, drills

    drill = commands.add_parser(
        "drill", help="play a scripted event under load and judge it (see `drill --help`)",
        description="Play a drill: scripted events (rollout, failover, overload, ...) "
                    "while locust drives the typed clients, then write report.json, "
                    "report.md and drill.png to --report-dir. Without --host the "
                    "embedded Triton server is started.",
        epilog=_DRILL_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    names = drill.add_subparsers(dest="drill", required=True, metavar="NAME")
    for name, drill_class in drills().items():
        sub = names.add_parser(name, help=drill_class.summary,
                               description=drill_class.description or drill_class.summary,
                               epilog=_DRILL_EPILOG,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        add_drill_arguments(sub, drill_class)
        drill_class().add_arguments(sub)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``python -m loadtests``."""
    parser = argparse.ArgumentParser(
        prog="python -m loadtests",
        description="Locust load tests with latency targets against Triton, drills, and a "
                    "serving benchmark.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run", help="run one load test and check its latency targets",
        description="Run one headless locust load test (as a subprocess) and check the "
                    "latency targets. Without --host the embedded Triton server is started "
                    "on model_repository/ for the run.",
        epilog=_RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(run, "run")
    _add_drill_parsers(commands)
    add_tune_parser(commands)

    bench = commands.add_parser(
        "bench", help="serving-efficiency benchmark (prints a table of ratios)",
        description="Measure, in one run on this machine: in-process onnxruntime vs served "
                    "throughput of the image classifier, dynamic batching on vs off, and "
                    "typed client vs raw tritonclient latency. Each figure is the median of "
                    "--repeats runs.",
    )
    bench.add_argument("--json", type=Path, default=None, dest="json_out",
                       help="also write the results as JSON here")
    bench.add_argument("--repeats", type=int, default=3, help="runs per figure (3)")
    bench.add_argument("--repository", type=Path, default=Path("model_repository"),
                       help="model repository to serve")
    bench.add_argument("--onnx", type=Path,
                       default=Path("specs/assets/image_diagnosis_classifier.onnx"),
                       help="the classifier's ONNX file for the in-process baseline")
    bench.add_argument("--window", type=_duration, default=3.0, metavar="DURATION",
                       help="length of each throughput measurement (3s)")
    return parser


def _run(args: argparse.Namespace) -> int:
    fields = set(RunOptions.__dataclass_fields__) - {"overrides"}
    values = {name: getattr(args, name) for name in fields if hasattr(args, name)}
    values["overrides"] = {name: getattr(args, name) for name in TARGET_NAMES}
    return run_load_test(RunOptions(**values))


def _drill(args: argparse.Namespace) -> int:
    from loadtests.drills import get_drill, run_drill

    return run_drill(get_drill(args.drill), args)


def _bench(args: argparse.Namespace) -> int:
    from loadtests.bench import BenchOptions, format_bench_table, run_benchmark

    result = run_benchmark(BenchOptions(
        repository=args.repository,
        onnx_path=args.onnx,
        repeats=args.repeats,
        window_s=args.window,
        json_out=args.json_out,
    ))
    print(format_bench_table(result))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m loadtests``; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "drill":
            return _drill(args)
        if args.command == "tune":
            return run_tune_command(args)
        return _bench(args)
    except LoadTestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
