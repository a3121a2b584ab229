"""Run a command (a drill, a pytest node) N times in a row, optionally beside a CPU hog.

CI's host is shared and loaded; a test that only passes on an idle machine flakes there.
This reruns the same command and counts how often it passed, so a flake shows up here
first. Every run is bounded in time; the hog (busy loops in their own processes, one per
``--hog`` core) stops with the script.

Examples::

    # the issue's 20 overload drills: 10 over gRPC, 10 over HTTP, with one core hogged
    python scripts/flake_hunt.py --runs 10 --hog 1 --drill overload -- \\
        --duration 16s --overload 6
    # a test that start servers, 5 times
    python scripts/flake_hunt.py --runs 5 --hog 1 --pytest \\
        tests/replicas/test_drills.py::test_overload_drill_sheds_and_recovers_on_a_short_run

Exit code 0 when every run passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _spin() -> None:
    while True:
        pass


def _commands(args: argparse.Namespace, report_root: Path) -> list[tuple[str, list[str]]]:
    runs: list[tuple[str, list[str]]] = []
    for index in range(args.runs):
        if args.drill:
            for protocol in args.protocols.split(","):
                report_dir = report_root / f"{args.drill}-{protocol}-{index + 1}"
                runs.append((f"{args.drill}/{protocol} #{index + 1}", [
                    sys.executable, "-m", "loadtests", "drill", args.drill, "--model",
                    args.model, "--protocol", protocol, "--quiet", "--report-dir",
                    str(report_dir), *args.extra]))
        else:
            runs.append((f"pytest #{index + 1}", [
                sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args.pytest,
                *args.extra]))
    return runs


def _detail(command: list[str], output: str) -> str:
    if "--report-dir" in command:
        report = Path(command[command.index("--report-dir") + 1]) / "report.json"
        if report.is_file():
            data = json.loads(report.read_text())
            failed = [c["name"] for c in data.get("checks", []) if not c.get("passed")]
            return "passed" if not failed else "failed: " + "; ".join(failed)
    lines = [line for line in output.splitlines() if line.strip()]
    failed = [line.split()[1] for line in lines if line.startswith(("FAILED ", "ERROR "))]
    summary = lines[-1][:200] if lines else ""
    return summary + ("; " + ", ".join(failed) if failed else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--drill", help="a drill of python -m loadtests drill")
    target.add_argument("--pytest", nargs="+", metavar="NODE", help="pytest node ids")
    parser.add_argument("--runs", type=int, default=5, help="runs (per protocol for a drill)")
    parser.add_argument("--protocols", default="grpc,http", help="drills: protocols to run")
    parser.add_argument("--model", default="recommendation", help="drills: the model")
    parser.add_argument("--hog", type=int, default=0, metavar="CORES",
                        help="busy-loop processes beside the runs (default 0)")
    parser.add_argument("--bound-s", type=float, default=600.0,
                        help="longest one run may take before it counts as hung")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep every run's report folder and output log in DIR")
    parser.add_argument("extra", nargs="*", help="after --: more arguments for each run")
    args = parser.parse_args(argv)
    hogs = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(args.hog)]
    for hog in hogs:
        hog.start()
    results: list[tuple[str, bool, float, str]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="flake-hunt-") as scratch:
            folder = args.keep or Path(scratch)
            folder.mkdir(parents=True, exist_ok=True)
            for index, (name, command) in enumerate(_commands(args, folder)):
                started = time.monotonic()
                try:
                    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                                          timeout=args.bound_s, check=False)
                    passed, output = done.returncode == 0, done.stdout + done.stderr
                except subprocess.TimeoutExpired as hung:
                    partial = "".join(part.decode(errors="replace") if isinstance(part, bytes)
                                      else part for part in (hung.stdout, hung.stderr) if part)
                    passed = False
                    output = f"{partial}\nhung: still running after {args.bound_s:g} s"
                elapsed_s = time.monotonic() - started
                (folder / f"run-{index + 1:02d}.log").write_text(f"{name}\n{output}")
                detail = _detail(command, output)
                results.append((name, passed, elapsed_s, detail))
                print(f"{name}: {'PASS' if passed else 'FAIL'} in {elapsed_s:.0f} s  {detail}",
                      flush=True)
    finally:
        for hog in hogs:
            hog.terminate()
    passed_count = sum(1 for _, passed, _, _ in results if passed)
    print(f"{passed_count} passed, {len(results) - passed_count} failed", flush=True)
    return 0 if passed_count == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
