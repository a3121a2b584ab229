"""Run one load test: optional embedded server, locust as a bounded subprocess.

Locust runs in its own process (``python -m locust -f loadtests/locustfile.py``)
so gevent's monkey-patching never touches the caller. The subprocess gets its own
process group, which is killed if it outlives ``duration + grace``.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from loadtests.errors import RunnerError
from loadtests.scenarios import SCENARIOS
from loadtests.targets import TARGET_NAMES, TargetVerdict, format_verdict_table
from serving.errors import ServingError

_VERDICT_FIELDS = ("model", "target", "goal", "measured", "passed")

__all__ = [
    "EXIT_WALL_CLOCK",
    "LOCUSTFILE",
    "MODELS",
    "PROTOCOLS",
    "Endpoints",
    "RunOptions",
    "locust_command",
    "parse_duration_s",
    "run_load_test",
]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
"""The locustfile the runner starts."""

MODELS: tuple[str, ...] = ("image_diagnosis", "recommendation")
"""Models with load-test users."""

PROTOCOLS: tuple[str, ...] = ("http", "grpc")
"""Protocols with load-test users."""

EXIT_WALL_CLOCK = 3
"""Exit code when locust had to be killed after exceeding its wall-clock bound."""

_PROJECT_ROOT = Path(__file__).resolve().parent.parent
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def parse_duration_s(text: str) -> float:
    """Parse ``30s``, ``2m``, ``1m30s``, ``1h`` or a bare number of seconds.

    Raises:
        ValueError: The text is not a positive duration.
    """
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"duration {text!r} is not like 30s, 2m or 1m30s")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise ValueError(f"duration {text!r} must be > 0")
    return total


@dataclass(frozen=True)
class Endpoints:
    """Where the load goes and where Triton's own view is read.

    Attributes:
        host: URL the users call; its scheme matches the protocol.
        stats_url: Triton HTTP URL for the statistics extension, if known.
        metrics_url: Prometheus URL, if known.
    """

    host: str
    stats_url: str | None = None
    metrics_url: str | None = None


@dataclass(frozen=True)
class RunOptions:
    """Settings of one ``python -m loadtests run``.

    Attributes:
        model: ``image_diagnosis`` or ``recommendation``.
        protocol: ``http`` or ``grpc``.
        scenario: ``steady``, ``ramp`` or ``spike``.
        users: Peak number of users.
        spawn_rate: Users started per second.
        duration_s: Run length in seconds.
        host: Server URL; None starts the embedded server for the run.
        stats_url: Triton HTTP URL for statistics (default: ``host`` when http).
        metrics_url: Prometheus metrics URL (optional).
        targets: Targets TOML file (default: the packaged ``targets.toml``).
        overrides: Target overrides by name (``p95_ms`` ...); None keeps the file's goal.
        report_dir: Folder for every report.
        repository: Model repository served when ``host`` is None.
        stop_timeout_s: Grace locust gives running calls at the end.
        grace_s: Extra wall-clock time allowed after ``duration_s`` before killing.
        ready_timeout_s: How long each user waits for the model to be ready.
        quiet: Hide locust's periodic stats tables (the summary is still shown).
    """

    model: str
    protocol: str
    scenario: str = "steady"
    users: int = 4
    spawn_rate: float = 4.0
    duration_s: float = 30.0
    host: str | None = None
    stats_url: str | None = None
    metrics_url: str | None = None
    targets: Path | None = None
    overrides: Mapping[str, float | None] = field(default_factory=dict)
    report_dir: Path = Path(".reports/loadtest")
    repository: Path = Path("model_repository")
    stop_timeout_s: float = 5.0
    grace_s: float = 45.0
    ready_timeout_s: float = 10.0
    quiet: bool = False

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise RunnerError(f"model: unknown model {self.model!r}; expected one of {MODELS}")
        if self.protocol not in PROTOCOLS:
            raise RunnerError(f"protocol: {self.protocol!r} is not one of {PROTOCOLS}")
        if self.scenario not in SCENARIOS:
            raise RunnerError(f"scenario: {self.scenario!r} is not one of {SCENARIOS}")
        if self.users < 1:
            raise RunnerError(f"users: must be >= 1, got {self.users}")
        if self.spawn_rate <= 0:
            raise RunnerError(f"spawn_rate: must be > 0, got {self.spawn_rate}")
        if self.duration_s <= 0:
            raise RunnerError(f"duration_s: must be > 0, got {self.duration_s}")
        unknown = set(self.overrides) - set(TARGET_NAMES)
        if unknown:
            raise RunnerError(f"overrides: unknown target(s) {sorted(unknown)}")

    @property
    def wall_clock_bound_s(self) -> float:
        """The longest the locust process may live before it is killed."""
        return self.duration_s + self.stop_timeout_s + self.grace_s


def locust_command(options: RunOptions, endpoints: Endpoints) -> list[str]:
    """Build the headless locust command line for a run."""
    report_dir = options.report_dir
    command = [
        sys.executable, "-m", "locust",
        "-f", str(LOCUSTFILE),
        "--headless",
        "--host", endpoints.host,
        "--model", options.model,
        "--protocol", options.protocol,
        "--scenario", options.scenario,
        "--users", str(options.users),
        "--spawn-rate", f"{options.spawn_rate:g}",
        "--run-time", f"{math.ceil(options.duration_s)}s",
        "--stop-timeout", f"{options.stop_timeout_s:g}",
        "--ready-timeout-s", f"{options.ready_timeout_s:g}",
        "--report-dir", str(report_dir),
        "--html", str(report_dir / "locust.html"),
        "--csv", str(report_dir / "locust"),
    ]
    if endpoints.stats_url:
        command += ["--stats-url", endpoints.stats_url]
    if endpoints.metrics_url:
        command += ["--metrics-url", endpoints.metrics_url]
    if options.targets is not None:
        command += ["--targets", str(options.targets)]
    for name, value in options.overrides.items():
        if value is not None:
            command += [f"--{name.replace('_', '-')}", repr(float(value))]
    if options.quiet:
        command.append("--only-summary")
    return command


@contextmanager
def _endpoints(options: RunOptions, out: TextIO) -> Iterator[Endpoints]:
    if options.host is not None:
        stats = options.stats_url
        if stats is None and options.host.startswith(("http://", "https://")):
            stats = options.host
        yield Endpoints(options.host, stats, options.metrics_url)
        return
    from serving import TritonServer  # deferred: only needed without --host

    repository = options.repository
    if not repository.is_dir():
        raise RunnerError(f"repository: {repository} is not a folder; pass --host or "
                          "--repository")
    print(f"[loadtests] starting the embedded Triton server on {repository} ...", file=out,
          flush=True)
    with TritonServer(repository) as server:
        host = server.http_url if options.protocol == "http" else server.grpc_url
        print(f"[loadtests] server ready: {host}", file=out, flush=True)
        yield Endpoints(host, server.http_url, server.metrics_url)
    print("[loadtests] server stopped", file=out, flush=True)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    existing = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(_PROJECT_ROOT), existing] if existing else [str(_PROJECT_ROOT)]
    )
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _pump(stream: TextIO, out: TextIO) -> None:
    for line in stream:
        out.write(line)
        out.flush()


def _kill_group(process: subprocess.Popen[str]) -> None:
    for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def run_locust(options: RunOptions, endpoints: Endpoints, out: TextIO = sys.stdout) -> int:
    """Run locust headless against ``endpoints`` and return its exit code.

    Returns :data:`EXIT_WALL_CLOCK` when the process had to be killed.
    """
    command = locust_command(options, endpoints)
    options.report_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=_child_env(), start_new_session=True,
    )
    assert process.stdout is not None
    pump = threading.Thread(target=_pump, args=(process.stdout, out), daemon=True)
    pump.start()
    started = time.monotonic()
    deadline = started + options.wall_clock_bound_s
    code: int | None = None
    try:
        while code is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                code = process.wait(timeout=min(5.0, remaining))
            except subprocess.TimeoutExpired:
                elapsed = time.monotonic() - started
                print(f"[loadtests] {options.model}/{options.protocol} {options.scenario}: "
                      f"{elapsed:.0f}s of {options.duration_s:.0f}s", file=out, flush=True)
    finally:
        if code is None:
            _kill_group(process)
    pump.join(timeout=5.0)
    if code is None:
        print(f"[loadtests] locust exceeded its wall-clock bound of "
              f"{options.wall_clock_bound_s:.0f}s and was killed", file=out, flush=True)
        return EXIT_WALL_CLOCK
    return code


def print_summary(report_json: Path, out: TextIO = sys.stdout) -> None:
    """Print the run's verdicts and latency breakdown last, after locust's own output."""
    if not report_json.is_file():
        print(f"[loadtests] no report at {report_json}", file=out, flush=True)
        return
    report = json.loads(report_json.read_text(encoding="utf-8"))
    verdicts = [TargetVerdict(**{k: v[k] for k in _VERDICT_FIELDS}) for v in report["targets"]]
    settings = report.get("settings", {})
    print(f"\n=== {settings.get('model', '?')}/{settings.get('protocol', '?')} "
          f"{settings.get('scenario', '?')}: {'PASS' if report['passed'] else 'FAIL'} ===",
          file=out)
    print(format_verdict_table(verdicts), file=out)
    for model, split in sorted(report.get("breakdown", {}).items()):
        print(f"{model}: client mean {split['client_mean_ms']:.1f} ms = server queue "
              f"{split['queue_ms']:.1f} + compute {split['compute_ms']:.1f} + transport and "
              f"client {split['other_ms']:.1f} ms", file=out)
    for model, delta in sorted(report.get("server", {}).items()):
        print(f"{model}: mean batch size {delta['mean_batch_size']:.2f} over "
              f"{delta['execution_count']} executions, {delta['failure_count']} failures",
              file=out)
    print(f"report: {report_json.parent / 'report.md'}", file=out, flush=True)


def run_load_test(options: RunOptions, out: TextIO = sys.stdout) -> int:
    """Run one load test end to end and return the exit code.

    0: every target held; 1: a target failed; 2: aborted (server or model not
    ready, bad targets); 3: locust was killed at its wall-clock bound.

    Raises:
        RunnerError: The embedded server could not be started.
    """
    try:
        with _endpoints(options, out) as endpoints:
            code = run_locust(options, endpoints, out)
        print_summary(options.report_dir / "report.json", out)
        return code
    except RunnerError:
        raise
    except ServingError as exc:
        raise RunnerError(f"embedded server: {exc}") from exc
