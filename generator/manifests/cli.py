"""``python -m generator k8s``: Kubernetes manifests and per-model rules from the specs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from generator.errors import DriftError
from generator.loader import load_specs
from generator.manifests.facts import Slo
from generator.manifests.render import plan_manifests
from generator.manifests.writer import check_manifests, write_manifests

__all__ = ["SloLoader", "add_k8s_parser", "run_k8s"]

#: Reads a targets file, or the default one for None (``loadtests.targets.load_targets``);
#: the ``python -m generator`` shell injects it, so the generator imports no load tests.
SloLoader = Callable[[Path | None], Mapping[str, Slo]]
DEFAULT_TARGETS = "loadtests/targets.toml"


def run_k8s(args: argparse.Namespace, load_slos: SloLoader) -> int:
    """Write (or with ``--check`` compare) the manifests; return the exit status."""
    specs = load_specs(args.spec)
    plan = plan_manifests(specs, args.rules, load_slos(args.targets),
                          targets_source=DEFAULT_TARGETS if args.targets is None
                          else args.targets.as_posix())
    if args.check:
        try:
            check_manifests(plan, args.out, args.rules)
        except DriftError as exc:
            spec_args = " ".join(str(p) for p in args.spec)
            print(f"{args.out}: out of date with the specs and rule files; run "
                  f"`python -m generator k8s {spec_args} --out {args.out} "
                  f"--rules {args.rules}`", file=sys.stderr)
            for line in exc.differences:
                print(f"  {line}", file=sys.stderr)
            return 1
        print(f"{args.out} and {args.rules / plan.rules_file} are up to date "
              f"({len(plan.files)} files)")
        return 0
    write_manifests(plan, args.out, args.rules)
    print(f"wrote {len(plan.files)} files into {args.out} and {args.rules / plan.rules_file}")
    return 0


def add_k8s_parser(sub: Any, load_slos: SloLoader) -> None:
    """Add the ``k8s`` subcommand to the ``python -m generator`` subparsers ``sub``.

    Args:
        sub: The subparsers action of the main parser.
        load_slos: Reads the targets file (None: the default one) into goals per model.
    """
    parser = sub.add_parser(
        "k8s",
        help="write Kubernetes manifests and per-model Prometheus rules from specs",
        description="Render deploy/k8s (kustomize base, gpu and cpu overlays, "
        "prometheus-adapter values) and the generated rule file from the specs, the "
        "hand-written rule files and the latency targets. Exit 1 with --check on drift.",
    )
    parser.add_argument("spec", type=Path, nargs="+", metavar="SPEC",
                        help="spec .py files or folders of them")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="manifests folder (deploy/k8s)")
    parser.add_argument("--rules", type=Path, required=True, metavar="DIR",
                        help="Prometheus rule folder (deploy/prometheus/rules)")
    parser.add_argument("--targets", type=Path, default=None, metavar="TOML",
                        help=f"latency and error targets (default: {DEFAULT_TARGETS})")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if DIR or the rule file differ")
    parser.set_defaults(func=lambda args: run_k8s(args, load_slos))
