"""``python -m serving.release canary``: a canary release on ``serve --replicas N``.

::

    python -m generator serve model_repository --replicas 2 --model-control explicit \\
        --state-file replicas.json &
    python -m serving.release canary --model recommendation --to-version 2 \\
        --state-file replicas.json --steps 10,25,50,100 --interval 30s --report canary.json

The state file gives the balancer's runtime-API socket and every replica's URLs and
admin key file. Thresholds: ``--targets`` (``loadtests/targets.toml``: the model's
``max_error_ratio`` and ``p99_ms``), then the options. Exit codes: 0 promoted; 1
rolled back (a check failed, or Ctrl-C/SIGTERM: the baseline serves); 2 bad input,
nothing changed; 3 the rollback failed: the replicas need attention.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from generator.layout import write_text_atomic
from loadtests.options import parse_duration_s
from serving.errors import ServingError
from serving.lb import RuntimeApi
from serving.release.api import RepositoryApi
from serving.release.canary import (
    BalancerWeights,
    CanaryController,
    CanaryDecision,
    CanaryReplica,
    parse_steps,
    validation_set,
)
from serving.release.canary_verdict import CanaryThresholds
from serving.release.errors import ReleaseError, ReleaseInputError
from serving.release.keys import admin_headers
from serving.signals import StopSignals

__all__ = ["add_canary_parser", "run_canary"]

EXIT_PROMOTED, EXIT_ROLLED_BACK, EXIT_INPUT, EXIT_RESTORE_FAILED = 0, 1, 2, 3


def add_canary_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``canary`` command to the release CLI's subparsers."""
    canary = sub.add_parser("canary", parents=[common], allow_abbrev=False,
                            help="a share of the traffic to a new version, judged, then "
                            "promoted or rolled back")
    canary.add_argument("--model", required=True)
    canary.add_argument("--to-version", type=int, required=True)
    canary.add_argument("--state-file", type=Path, required=True,
                        help="the state file of `serve --replicas N --state-file FILE`")
    canary.add_argument("--canary-replicas", default=None, metavar="NAMES",
                        help="comma-separated replicas that serve the new version (default: "
                        "the first)")
    canary.add_argument("--steps", default="10,25,50,100", help="traffic percentages, "
                        "ending at 100 (default 10,25,50,100)")
    canary.add_argument("--interval", default="30s", help="analysis window per step "
                        "(default 30s)")
    canary.add_argument("--targets", type=Path, default=None,
                        help="targets TOML (default loadtests/targets.toml): max_error_ratio "
                        "and p99_ms of the model")
    canary.add_argument("--max-error-ratio", type=float, default=None)
    canary.add_argument("--max-error-ratio-increase", type=float, default=0.005)
    canary.add_argument("--max-latency-ratio", type=float, default=1.5,
                        help="canary / baseline queue+compute per request (default 1.5)")
    canary.add_argument("--latency-slack-ms", type=float, default=2.0)
    canary.add_argument("--p99-ms", type=float, default=None)
    canary.add_argument("--min-requests", type=int, default=20)
    canary.add_argument("--max-extensions", type=int, default=2)
    canary.add_argument("--input-data", type=Path, default=None,
                        help="perf_analyzer JSON whose validation_data the canary's outputs "
                        "must match at every step")
    canary.add_argument("--report", type=Path, default=None,
                        help="write the JSON report here (atomically)")


def _thresholds(args: argparse.Namespace) -> CanaryThresholds:
    from loadtests.errors import TargetsError
    from loadtests.targets import load_targets, targets_for

    try:
        targets = targets_for(load_targets(args.targets), args.model)
    except TargetsError as error:
        raise ReleaseInputError("targets", str(error)) from error
    return CanaryThresholds(
        max_error_ratio=targets.max_error_ratio if args.max_error_ratio is None
        else args.max_error_ratio,
        max_error_ratio_increase=args.max_error_ratio_increase,
        max_latency_ratio=args.max_latency_ratio, latency_slack_ms=args.latency_slack_ms,
        max_p99_ms=targets.p99_ms if args.p99_ms is None else args.p99_ms,
        min_requests=args.min_requests)


def _state(path: Path) -> dict[str, Any]:
    try:
        state = json.loads(Path(path).read_text(encoding="utf-8"))
        _ = state["lb"]["runtime_api"], [r["name"] for r in state["replicas"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ReleaseInputError("state_file", f"{path}: not a `serve --replicas` state file "
                                f"({error})") from error
    return dict(state)


def _validation(args: argparse.Namespace, http_url: str) -> Any:
    if args.input_data is None:
        return None
    from loadtests.calls import DataOptions
    from loadtests.datasource import served_input_data
    from loadtests.errors import LoadTestError

    try:
        data = served_input_data(args.model, http_url, DataOptions(str(args.input_data)))
    except LoadTestError as error:
        raise ReleaseInputError("input_data", str(error)) from error
    if not data.validates:
        raise ReleaseInputError("input_data", f"{args.input_data} has no validation_data")
    return validation_set(args.model, args.to_version,
                          [(e.inputs, e.expected) for e in data.entries],
                          data.tensors.batched)


def _show(out: TextIO) -> Any:
    def show(decision: CanaryDecision) -> None:
        step = "" if decision.step_percent is None else f" {decision.step_percent:>3} %"
        print(f"[{decision.at_s:7.1f} s] {decision.action:<9}{step}  {decision.detail}",
              file=out, flush=True)
    return show


def run_canary(args: argparse.Namespace, out: TextIO = sys.stdout,
               err: TextIO = sys.stderr) -> int:
    """Run ``canary`` from parsed arguments; returns the exit code."""
    apis: list[RepositoryApi] = []
    try:
        steps = parse_steps(args.steps)
        try:
            interval_s = parse_duration_s(args.interval)
        except ValueError as error:
            raise ReleaseInputError("interval", str(error)) from error
        thresholds = _thresholds(args)
        state = _state(args.state_file)
        members = []
        for row in state["replicas"]:
            key_file = row.get("admin_key_file")
            headers = admin_headers(os.environ, Path(key_file) if key_file
                                    else args.admin_key_file)
            api = RepositoryApi(row["grpc_url"], headers)
            apis.append(api)
            members.append(CanaryReplica(row["name"], api, row["metrics_url"]))
        canary = (args.canary_replicas.split(",") if args.canary_replicas
                  else [members[0].name])
        validation = _validation(args, state["replicas"][0]["http_url"])
        with StopSignals() as signals:
            signals.starting = False
            controller = CanaryController(
                args.model, args.to_version, members, canary,
                BalancerWeights(RuntimeApi(Path(state["lb"]["runtime_api"]))),
                args.repository, steps=steps, interval_s=interval_s, thresholds=thresholds,
                validation=validation, max_extensions=args.max_extensions,
                stop=signals.stop, ready_timeout_s=args.ready_timeout_s,
                on_decision=None if args.json else _show(out))
            report = controller.run()
    except ReleaseInputError as error:
        print(f"error: {error}", file=err)
        return EXIT_INPUT
    except (ReleaseError, ServingError) as error:
        print(f"error: {error}", file=err)
        return EXIT_INPUT
    finally:
        for api in apis:
            api.close()
    document = json.dumps(report.as_dict(), indent=1) + "\n"
    if args.report is not None:
        write_text_atomic(args.report, document)
    if args.json:
        print(document, file=out, end="")
    else:
        print(f"{args.model}: {report.outcome}: {report.reason}", file=out)
    if report.promoted:
        return EXIT_PROMOTED
    return EXIT_ROLLED_BACK if report.serving_version is not None else EXIT_RESTORE_FAILED
