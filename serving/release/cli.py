"""``python -m serving.release status|rollout|rollback|canary``: the release controller's CLI.

Exit codes: 0 done; 1 refused (the serving version was restored); 2 bad input, nothing
sent (arguments, admin key, golden file) or the server could not be read; 3 the
release failed *and* restoring the serving version failed: the server needs attention.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from serving.release.api import RepositoryApi
from serving.release.canary_cli import add_canary_parser, run_canary
from serving.release.controller import ReleaseController, ReleaseResult, StepRecord
from serving.release.errors import ReleaseError, ReleaseInputError, RolloutRefusedError
from serving.release.keys import ADMIN_KEY_ENV, ADMIN_KEY_FILE_ENV, admin_headers

__all__ = ["main"]

EXIT_OK, EXIT_REFUSED, EXIT_INPUT, EXIT_RESTORE_FAILED = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    # No abbreviations: `--admin-key SECRET` must not pass for `--admin-key-file`.
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    common.add_argument("--url", default=os.environ.get("TRITON_URL", "http://127.0.0.1:8000"),
                        help="the server's HTTP endpoint (default $TRITON_URL or "
                        "http://127.0.0.1:8000)")
    common.add_argument("--admin-key-file", type=Path, default=None, metavar="PATH",
                        help=f"file holding the admin key (mode 0600); else ${ADMIN_KEY_FILE_ENV}"
                        f" or ${ADMIN_KEY_ENV}. The key is never taken from the command line")
    common.add_argument("--repository", type=Path, default=Path("model_repository"),
                        help="local model repository holding MODEL/V/golden.json "
                        "(default model_repository)")
    common.add_argument("--ready-timeout-s", type=float, default=120.0,
                        help="bound on waiting for a version to become READY (default 120)")
    common.add_argument("--json", action="store_true", help="print the result as JSON")
    parser = argparse.ArgumentParser(
        prog="python -m serving.release", allow_abbrev=False,
        description="Roll model versions out and back on a Triton in explicit "
        "model-control mode, verified by golden inputs and outputs.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    status = sub.add_parser("status", parents=[common], allow_abbrev=False,
                            help="versions and their states")
    status.add_argument("model")
    rollout = sub.add_parser("rollout", parents=[common], allow_abbrev=False,
                             help="load, verify and switch to a version")
    rollout.add_argument("model")
    rollout.add_argument("--to-version", type=int, required=True)
    rollback = sub.add_parser("rollback", parents=[common], allow_abbrev=False,
                              help="return to the previous version, or --to-version")
    rollback.add_argument("model")
    rollback.add_argument("--to-version", type=int, default=None)
    add_canary_parser(sub, common)
    return parser


def _print_step(out: TextIO) -> Callable[[StepRecord], None]:
    def show(step: StepRecord) -> None:
        mark = "ok  " if step.ok else "FAIL"
        print(f"  {mark} {step.name:<7} {step.duration_s * 1000:8.0f} ms  {step.detail}",
              file=out, flush=True)
    return show


def _status(controller: ReleaseController, model: str, as_json: bool, out: TextIO) -> int:
    rows, serving = controller.status(model)
    if as_json:
        print(json.dumps({"model": model, "serving_version": serving, "versions": [
            {"version": r.version, "state": r.state, "reason": r.reason} for r in rows]}),
            file=out)
        return EXIT_OK
    print(f"{model}: unpinned requests go to version {serving}" if serving is not None
          else f"{model}: no READY version", file=out)
    for row in rows:
        reason = f"  ({row.reason})" if row.reason else ""
        print(f"  version {row.version:<4} {row.state}{reason}", file=out)
    return EXIT_OK


def _summary(result: ReleaseResult, as_json: bool, out: TextIO) -> None:
    if as_json:
        print(json.dumps(result.as_dict()), file=out)
    elif result.ok:
        print(f"{result.model}: version {result.to_version} serves (was {result.from_version}, "
              f"{result.duration_s:.2f} s)", file=out)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    out, err = sys.stdout, sys.stderr
    if args.command == "canary":
        return run_canary(args, out, err)
    try:
        headers = admin_headers(os.environ, args.admin_key_file)
        with RepositoryApi(args.url, headers) as api:
            controller = ReleaseController(
                api, args.repository, ready_timeout_s=args.ready_timeout_s,
                on_step=None if args.json else _print_step(out),
            )
            if args.command == "status":
                return _status(controller, args.model, args.json, out)
            if args.command == "rollout":
                result = controller.rollout(args.model, args.to_version)
            else:
                result = controller.rollback(args.model, args.to_version)
            _summary(result, args.json, out)
            return EXIT_OK
    except RolloutRefusedError as error:
        if args.json and error.result is not None:
            print(json.dumps(error.result.as_dict()), file=out)
        print(f"error: {args.command} of {args.model!r} refused: {error}", file=err)
        return EXIT_REFUSED if error.restored_version is not None else EXIT_RESTORE_FAILED
    except ReleaseInputError as error:
        print(f"error: {error}", file=err)
        return EXIT_INPUT
    except ReleaseError as error:
        print(f"error: {error}", file=err)
        return EXIT_INPUT
