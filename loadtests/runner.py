"""Run one load test: optional embedded server, locust as a bounded subprocess.

Locust runs in its own process (see :mod:`loadtests.locust_process`) so gevent's
monkey-patching never touches the caller. The subprocess gets its own process group,
which is killed if it outlives ``duration + grace``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from loadtests.errors import RunnerError
from loadtests.locust_process import EXIT_WALL_CLOCK, LocustProcess, locust_base_command
from loadtests.models import MODELS, PROTOCOLS
from loadtests.options import OPTIONS, locust_arguments
from loadtests.report import read_report
from loadtests.scenarios import SCENARIOS
from loadtests.targets import TARGET_NAMES, format_verdict_table
from serving import ServingError

__all__ = [
    "Endpoints",
    "RunOptions",
    "embedded_endpoints",
    "locust_command",
    "run_load_test",
]


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

    Field names are the ``dest`` names of :data:`loadtests.options.OPTIONS`.

    Attributes:
        model: One of :data:`~loadtests.models.MODELS`.
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
        stop_grace_s: How long stopping may take past ``stop_timeout_s`` before the run's
            own watchdog stops it (report written, exit code 3).
        grace_s: Extra wall-clock time allowed after ``duration_s`` before killing (the
            runner's bound, behind the watchdog: locust's start-up counts in it).
        ready_timeout_s: How long each user waits for the model to be ready.
        request_timeout_s: Per-call timeout of the typed clients.
        top_k: Items asked per recommendation call.
        max_attempts: Attempts per call (retries of shed calls + 1).
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
    stop_grace_s: float = 15.0
    grace_s: float = 45.0
    ready_timeout_s: float = 10.0
    request_timeout_s: float = 30.0
    top_k: int = 10
    max_attempts: int = 1
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
        for name in ("ready_timeout_s", "request_timeout_s", "stop_grace_s"):
            if getattr(self, name) <= 0:
                raise RunnerError(f"{name}: must be > 0, got {getattr(self, name)}")
        for name in ("top_k", "max_attempts"):
            if getattr(self, name) < 1:
                raise RunnerError(f"{name}: must be >= 1, got {getattr(self, name)}")
        unknown = set(self.overrides) - set(TARGET_NAMES)
        if unknown:
            raise RunnerError(f"overrides: unknown target(s) {sorted(unknown)}")

    @property
    def wall_clock_bound_s(self) -> float:
        """The longest the locust process may live before it is killed."""
        return self.duration_s + self.stop_timeout_s + self.grace_s


def locust_command(options: RunOptions, endpoints: Endpoints) -> list[str]:
    """Build the headless locust command line for a run.

    Every ``locust``-scope option of :data:`loadtests.options.OPTIONS` that the run
    sets is passed on, so an option added there reaches locust without code here.
    """
    report_dir = options.report_dir
    values: dict[str, Any] = {o.dest: getattr(options, o.dest) for o in OPTIONS
                              if "locust" in o.scopes and hasattr(options, o.dest)}
    values.update(options.overrides)
    values.update(stats_url=endpoints.stats_url, metrics_url=endpoints.metrics_url)
    command = [
        *locust_base_command(),
        "--host", endpoints.host,
        "--users", str(options.users),
        "--spawn-rate", f"{options.spawn_rate:g}",
        "--run-time", f"{math.ceil(options.duration_s)}s",
        "--stop-timeout", f"{options.stop_timeout_s:g}",
        "--html", str(report_dir / "locust.html"),
        "--csv", str(report_dir / "locust"),
        *locust_arguments(values),
    ]
    if options.quiet:
        command.append("--only-summary")
    return command


@contextmanager
def embedded_endpoints(protocol: str, repository: Path, out: TextIO,
                       **server_options: Any) -> Iterator[Endpoints]:
    """Start the embedded Triton on ``repository`` for the block; yield its endpoints.

    Args:
        protocol: Which URL becomes ``host``: ``http`` or ``grpc``.
        repository: The model repository to serve.
        out: Where progress lines go.
        **server_options: Passed to :class:`serving.TritonServer`.

    Raises:
        RunnerError: The repository is missing or the server did not start.
    """
    from serving import TritonServer

    if not repository.is_dir():
        raise RunnerError(f"repository: {repository} is not a folder; pass --host or "
                          "--repository")
    print(f"[loadtests] starting the embedded Triton server on {repository} ...", file=out,
          flush=True)
    try:
        server = TritonServer(repository, **server_options).__enter__()
    except ServingError as exc:
        raise RunnerError(f"embedded server: {exc}") from exc
    try:
        host = server.http_url if protocol == "http" else server.grpc_url
        print(f"[loadtests] server ready: {host}", file=out, flush=True)
        yield Endpoints(host, server.http_url, server.metrics_url)
    finally:
        server.__exit__(None, None, None)
        print("[loadtests] server stopped", file=out, flush=True)


@contextmanager
def _endpoints(options: RunOptions, out: TextIO) -> Iterator[Endpoints]:
    if options.host is not None:
        stats = options.stats_url
        if stats is None and options.host.startswith(("http://", "https://")):
            stats = options.host
        yield Endpoints(options.host, stats, options.metrics_url)
        return
    with embedded_endpoints(options.protocol, options.repository, out) as endpoints:
        yield endpoints


def run_locust(options: RunOptions, endpoints: Endpoints, out: TextIO = sys.stdout) -> int:
    """Run locust headless against ``endpoints`` and return its exit code.

    Returns :data:`EXIT_WALL_CLOCK` when the process had to be killed.
    """
    options.report_dir.mkdir(parents=True, exist_ok=True)
    process = LocustProcess(locust_command(options, endpoints), options.wall_clock_bound_s, out)

    def progress(elapsed_s: float) -> None:
        print(f"[loadtests] {options.model}/{options.protocol} {options.scenario}: "
              f"{elapsed_s:.0f}s of {options.duration_s:.0f}s", file=out, flush=True)

    code = process.wait(progress)
    if code == EXIT_WALL_CLOCK:
        print(f"[loadtests] locust exceeded its wall-clock bound of "
              f"{options.wall_clock_bound_s:.0f}s and was killed", file=out, flush=True)
    return code


def print_summary(report_json: Path, out: TextIO = sys.stdout) -> None:
    """Print the run's verdicts and latency breakdown last, after locust's own output."""
    if not report_json.is_file():
        print(f"[loadtests] no report at {report_json}", file=out, flush=True)
        return
    report = read_report(report_json)
    settings = report.settings
    print(f"\n=== {settings.get('model', '?')}/{settings.get('protocol', '?')} "
          f"{settings.get('scenario', '?')}: {'PASS' if report.passed else 'FAIL'} ===",
          file=out)
    print(format_verdict_table(report.verdicts), file=out)
    for client in report.clients:
        m = client.measured
        print(f"{client.model}: {m.requests} requests, {m.failures} failed, {m.shed} shed, "
              f"{m.unfinished} unfinished; longest gap without an answer "
              f"{'n/a' if m.max_gap_s is None else f'{m.max_gap_s:.1f} s'}", file=out)
    if report.hung is not None:
        calls = report.hung.get("in_flight", [])
        print(f"the run did not end by itself and was stopped; {len(calls)} call(s) in "
              "flight:", file=out)
        for call in calls:
            print(f"  {call['user']}: {call['model']}, waiting {call['waited_s']} s", file=out)
    for model, split in sorted(report.breakdown.items()):
        print(f"{model}: client mean {split.client_mean_ms:.1f} ms = server queue "
              f"{split.queue_ms:.1f} + compute {split.compute_ms:.1f} + transport and "
              f"client {split.other_ms:.1f} ms", file=out)
    for model, delta in sorted(report.server.items()):
        batch = "n/a" if delta.mean_batch_size is None else f"{delta.mean_batch_size:.2f}"
        print(f"{model}: mean batch size {batch} over {delta.execution_count} executions, "
              f"{delta.failure_count} failures", file=out)
    print(f"report: {report_json.parent / 'report.md'}", file=out, flush=True)


def run_load_test(options: RunOptions, out: TextIO = sys.stdout) -> int:
    """Run one load test end to end and return the exit code.

    0: every target held; 1: a target failed; 2: aborted (server or model not
    ready, bad targets); 3: locust was killed at its wall-clock bound.

    Raises:
        RunnerError: The embedded server could not be started.
    """
    with _endpoints(options, out) as endpoints:
        code = run_locust(options, endpoints, out)
    print_summary(options.report_dir / "report.json", out)
    return code
