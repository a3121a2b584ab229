"""``python -m loadtests tune``: the sub-command's arguments and its entry point."""

from __future__ import annotations

import argparse
from pathlib import Path

from loadtests.calls import DataOptions
from loadtests.options import add_options
from loadtests.tune.runner import (
    PROTOCOLS,
    TuneOptions,
    parse_int_list,
    parse_queue_policy,
    parse_switches,
    run_tune,
)
from loadtests.tune.search import SEARCH_STRATEGIES
from loadtests.tune.sweep import DEFAULT_CONCURRENCIES

__all__ = ["add_tune_parser", "run_tune_command"]

_EPILOG = """\
exit codes: 0 a winner was found and its final run met every target, 1 no config met
the target or the final run missed one, 2 the session could not run, 130 Ctrl-C.
Whatever happens, the model ends in the config it had before tuning.

examples:
  python -m loadtests tune --model recommendation --p99-ms 10 --report-dir .reports/tune
  python -m loadtests tune --model image_diagnosis_classifier --p99-ms 60 \\
      --compare-brute-force --report-dir .reports/tune-classifier
  python -m loadtests tune --model my_model --p99-ms 50 --shape tokens:16 --batch-size 4 \\
      --repository my_repository --report-dir .reports/tune-my-model
  python -m loadtests tune --model recommendation --p99-ms 10 --search brute \\
      --instance-counts 1,2 --dynamic-batching on --max-queue-delays-us 0,500 \\
      --write-spec-patch specs/recommendation.py --report-dir .reports/tune
  TRITON_ADMIN_KEY=... python -m loadtests tune --model recommendation --p99-ms 10 \\
      --host grpc://127.0.0.1:8001 --stats-url http://127.0.0.1:8000 --report-dir DIR
"""


def add_tune_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add the ``tune`` sub-command to ``python -m loadtests``."""
    tune = commands.add_parser(
        "tune", help="auto-tune dynamic batching and instance counts to a p99 target",
        description="Load candidate configs into a running Triton (explicit model control, "
                    "config override), sweep client concurrency on each through the same "
                    "calls and input data as `run`, and report the best throughput whose "
                    "p99 meets the target. "
                    "Without --host the embedded server is started in explicit mode.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tune.add_argument("--model", required=True, metavar="NAME",
                      help="any non-ensemble model the server serves")
    tune.add_argument("--p99-ms", type=float, required=True, dest="p99_ms",
                      help="p99 latency target in milliseconds")
    tune.add_argument("--protocol", choices=PROTOCOLS, default="grpc",
                      help="client protocol of the load (grpc)")
    tune.add_argument("--search", choices=SEARCH_STRATEGIES, default="quick",
                      help="quick: coordinate descent (default); brute: the whole grid")
    tune.add_argument("--max-trials", type=int, default=None,
                      help="trial budget (default: half the grid for quick, all for brute)")
    tune.add_argument("--compare-brute-force", action="store_true",
                      help="also run the other strategy and report both")
    tune.add_argument("--report-dir", type=Path, required=True,
                      help="folder for report.md, report.json and trials.png")
    tune.add_argument("--write-spec-patch", type=Path, default=None, metavar="FILE",
                      help="apply the winner's DynamicBatching/instance-group settings to "
                           "this spec file (atomically, only when verified)")
    tune.add_argument("--host", default=None,
                      help="server URL (http(s):// or grpc(s)://host:port); default: start "
                           "the embedded server in explicit model-control mode")
    tune.add_argument("--stats-url", default=None,
                      help="Triton HTTP URL for statistics and model control (default: "
                           "--host when it is http)")
    tune.add_argument("--admin-key-file", type=Path, default=None,
                      help="file holding a remote server's admin key (else "
                           "$TRITON_ADMIN_KEY_FILE or $TRITON_ADMIN_KEY)")
    tune.add_argument("--gpus", type=int, default=None,
                      help="GPUs of a remote serving host (default: detected here)")
    tune.add_argument("--repository", type=Path, default=Path("model_repository"),
                      help="model repository for the embedded server and the validator")
    tune.add_argument("--targets", type=Path, default=None,
                      help="latency targets TOML for the final run (default: "
                           "loadtests/targets.toml; p99 is always --p99-ms)")
    space = tune.add_argument_group("search space (each option narrows one dimension)")
    space.add_argument("--instance-counts", default=None, metavar="N,N",
                       help="instance counts (default: 1 to the host's cores, or 2 per GPU)")
    space.add_argument("--dynamic-batching", action="append", default=None,
                       metavar="on|off", help="batching on and/or off (default: both)")
    space.add_argument("--max-queue-delays-us", default=None, metavar="US,US",
                       help="queue delays in microseconds (default: 0,500,2000 and the "
                            "spec's)")
    space.add_argument("--preferred-batch-sizes", action="append", default=None,
                       metavar="none|N,N",
                       help="a preferred-size set, repeatable; 'none' for no preference "
                            "(default: none and the spec's set)")
    space.add_argument("--max-batch-sizes", default=None, metavar="N,N",
                       help="max_batch_size caps, at most the spec's (default: the spec's "
                            "and a quarter of it)")
    space.add_argument("--queue-policies", action="append", default=None,
                       metavar="none|KEY=VALUE,...",
                       help="a batcher queue policy, repeatable: 'none', or keys "
                            "max_queue_size, default_timeout_us, allow_timeout_override, "
                            "timeout_action (default: none, and the spec's if it has one; "
                            "most policies stall Triton 2.51's batcher: docs/stall.md)")
    load = tune.add_argument_group("measurement")
    load.add_argument("--concurrency", default=None, metavar="N,N",
                      help="client concurrencies swept per trial, rising (default: "
                           f"{','.join(map(str, DEFAULT_CONCURRENCIES))})")
    load.add_argument("--step-s", type=float, default=1.5,
                      help="seconds per concurrency step (1.5)")
    load.add_argument("--warmup-s", type=float, default=1.0,
                      help="seconds of unmeasured load after each load (1)")
    load.add_argument("--verify-s", type=float, default=10.0,
                      help="seconds of the winner's final run (10)")
    add_options(tune.add_argument_group("inputs (as for run; default: the reference models' "
                                        "own calls, else generated from the metadata)"),
                "tune")
    return tune


def _options(args: argparse.Namespace) -> TuneOptions:
    def ints(text: str | None, name: str) -> tuple[int, ...] | None:
        return None if text is None else parse_int_list(text, name)

    preferred = None
    if args.preferred_batch_sizes is not None:
        preferred = tuple(parse_int_list(text, "preferred_batch_sizes")
                          for text in args.preferred_batch_sizes)
    return TuneOptions(
        model=args.model, p99_ms=args.p99_ms, report_dir=args.report_dir,
        protocol=args.protocol, search=args.search, max_trials=args.max_trials,
        compare_brute_force=args.compare_brute_force, write_spec_patch=args.write_spec_patch,
        host=args.host, stats_url=args.stats_url, repository=args.repository,
        admin_key_file=args.admin_key_file, gpus=args.gpus,
        concurrencies=ints(args.concurrency, "concurrency") or DEFAULT_CONCURRENCIES,
        step_s=args.step_s, warmup_s=args.warmup_s, verify_s=args.verify_s,
        targets=args.targets,
        instance_counts=ints(args.instance_counts, "instance_counts"),
        dynamic_batching=None if args.dynamic_batching is None
        else parse_switches(args.dynamic_batching),
        max_queue_delays_us=ints(args.max_queue_delays_us, "max_queue_delays_us"),
        preferred_batch_sizes=preferred,
        max_batch_sizes=ints(args.max_batch_sizes, "max_batch_sizes"),
        queue_policies=None if args.queue_policies is None
        else tuple(parse_queue_policy(text) for text in args.queue_policies),
        data=DataOptions.from_values(vars(args)), export_input_data=args.export_input_data,
    )


def run_tune_command(args: argparse.Namespace) -> int:
    """Run ``tune`` from parsed arguments; prints the outcome and returns the exit code.

    Raises:
        TuneError: The options are invalid or the session cannot run.
    """
    code, report = run_tune(_options(args))
    winner = report.winner
    if winner is None:
        print(f"{report.model}: no configuration met p99 <= {report.p99_target_ms:g} ms")
    else:
        verdict = "PASS" if report.verified else "FAIL"
        print(f"{report.model}: winner {winner.candidate.label} ({report.winner_source}): "
              f"{winner.throughput_rps:.0f} rps at p99 {winner.p99_ms or 0.0:.2f} ms; "
              f"baseline {report.baseline.throughput_rps:.0f} rps; verification {verdict}")
    versus = report.quick_vs_brute()
    if versus is not None and versus["throughput_ratio"] is not None:
        print(f"quick / brute best throughput {versus['throughput_ratio']:.3f} with "
              f"{versus['quick_trials']} / {versus['brute_trials']} trials")
    if report.spec_patch:
        print(report.spec_patch, end="")
    print(f"original config restored: {'yes' if report.restored else 'NO'}")
    print(f"report: {args.report_dir / 'report.md'}")
    return code
