"""What every drill shares: options, the server, locust load, the context and the run.

:func:`run_drill` plays one drill:

1. ``drill.configure(ctx)`` checks the drill's own options (raise :class:`DrillError`);
2. ``drill.serve(ctx)`` yields the :class:`~loadtests.runner.Endpoints` under test
   (default: ``--host``, or the embedded server on ``--repository``);
3. ``drill.prepare(ctx)`` runs before any load;
4. locust starts as a bounded subprocess with the typed-client users (unpinned, all
   users at once, ``--duration`` long; its CSV files go to ``--report-dir``), and once
   the first request is recorded ``drill.run(ctx)`` plays the drill's steps, advancing
   ``ctx.timeline`` (phases and marks) while the load runs;
5. locust ends by itself; the per-request records are cut into phases, and
   ``drill.checks(ctx, result)`` decides the verdict (by default: locust ran to the
   end, requests were made, none failed or was shed);
6. ``report.json``, ``report.md`` and ``drill.png`` are written to ``--report-dir``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, TextIO

from clients.errors import ClientError
from loadtests.drills.report import Check, DrillReport, version_label, write_drill_report
from loadtests.drills.stats import PhaseStats, phase_stats
from loadtests.drills.timeline import Phase, Timeline
from loadtests.errors import DrillError, LoadTestError
from loadtests.locust_process import EXIT_WALL_CLOCK, LocustProcess, locust_base_command
from loadtests.options import OPTIONS, add_options, locust_arguments
from loadtests.records import RequestRecord, count_lines, read_records
from loadtests.runner import Endpoints, embedded_endpoints
from loadtests.scenarios import Stage, format_stages
from loadtests.server_stats import ServerSnapshot, diff_snapshots, fetch_snapshot
from serving import ServingError

__all__ = [
    "EXIT_ABORTED",
    "EXIT_FAILED",
    "EXIT_PASSED",
    "Drill",
    "DrillContext",
    "DrillOptions",
    "DrillResult",
    "LoadRun",
    "add_drill_arguments",
    "default_checks",
    "run_drill",
]

EXIT_PASSED = 0
"""Exit code when every check of the drill held."""
EXIT_FAILED = 1
"""Exit code when a check failed (the report names it)."""
EXIT_ABORTED = 2
"""Exit code when the drill could not run (bad option, server did not start)."""

_RECORDS_NAME = "requests.jsonl"
_STOP_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class DrillOptions:
    """The options every drill has (field names are :data:`loadtests.options.OPTIONS` dests).

    Attributes:
        model: Model under load.
        protocol: ``grpc`` or ``http``.
        users: Locust users, all started at once.
        duration_s: Length of the load in seconds; locust stops by itself after it.
        report_dir: Folder for the reports and locust's CSV files.
        host: Server URL; None: the drill starts the embedded server.
        repository: Repository the embedded server serves.
        stats_url: Triton HTTP URL for statistics (default: the server's HTTP URL).
        metrics_url: Triton Prometheus URL.
        ready_timeout_s: How long each user waits for the model to be ready.
        request_timeout_s: Per-call timeout of the typed clients.
        top_k: Items per recommendation call.
        max_attempts: Attempts per call (retries of shed calls + 1).
        stop_grace_s: How long stopping may take past the stop timeout before the load's
            own watchdog stops it (exit code 3).
        grace_s: Wall-clock slack after the duration before locust is killed.
        quiet: Hide locust's periodic stats tables.
    """

    model: str
    protocol: str
    users: int = 8
    duration_s: float = 60.0
    report_dir: Path = Path(".reports/drill")
    host: str | None = None
    repository: Path = Path("model_repository")
    stats_url: str | None = None
    metrics_url: str | None = None
    ready_timeout_s: float = 10.0
    request_timeout_s: float = 30.0
    top_k: int = 10
    max_attempts: int = 1
    stop_grace_s: float = 15.0
    grace_s: float = 45.0
    quiet: bool = False

    @classmethod
    def from_namespace(cls, args: argparse.Namespace) -> DrillOptions:
        """Take the common options out of a parsed ``drill`` command line."""
        names = [f for f in cls.__dataclass_fields__ if hasattr(args, f)]
        values: dict[str, Any] = {name: getattr(args, name) for name in names}
        for name in ("report_dir", "repository"):
            if name in values:
                values[name] = Path(values[name])
        return cls(**values)

    @property
    def wall_clock_bound_s(self) -> float:
        """The longest the locust process may live before it is killed."""
        return self.duration_s + _STOP_TIMEOUT_S + self.grace_s


def add_drill_arguments(parser: argparse.ArgumentParser, drill: type[Drill]) -> None:
    """Add the common drill options, with the drill's defaults, to ``parser``."""
    add_options(parser, "drill", defaults={
        "users": drill.default_users,
        "duration_s": drill.default_duration_s,
        "report_dir": Path(".reports") / f"drill-{drill.name}",
    })


class LoadRun:
    """The locust load of a drill: a bounded subprocess writing per-request records.

    Args:
        options: The drill's options.
        endpoints: Where the users send their calls.
        out: Where locust's output goes.
        stages: A schedule of users over time (default: ``options.users`` throughout).
    """

    def __init__(self, options: DrillOptions, endpoints: Endpoints, out: TextIO,
                 stages: Sequence[Stage] | None = None) -> None:
        self.options = options
        self.records_path = options.report_dir / _RECORDS_NAME
        options.report_dir.mkdir(parents=True, exist_ok=True)
        self.records_path.unlink(missing_ok=True)
        values: dict[str, Any] = {o.dest: getattr(options, o.dest) for o in OPTIONS
                                  if "locust" in o.scopes and hasattr(options, o.dest)}
        values.update(report_dir=None, stats_url=None, metrics_url=None,
                      records_file=self.records_path, skip_targets=True,
                      stages=format_stages(list(stages)) if stages else None)
        users = max(s.users for s in stages) if stages else options.users
        command = [
            *locust_base_command(),
            "--host", endpoints.host,
            "--users", str(users),
            "--spawn-rate", str(users),
            "--run-time", f"{math.ceil(options.duration_s)}s",
            "--stop-timeout", f"{_STOP_TIMEOUT_S:g}",
            "--csv", str(options.report_dir / "locust"),
            "--html", str(options.report_dir / "locust.html"),
            *locust_arguments(values),
        ]
        if options.quiet:
            command.append("--only-summary")
        self.started_at_s = time.time()
        self.process = LocustProcess(command, options.wall_clock_bound_s, out)
        self.ends_at_s = self.started_at_s + options.duration_s

    @property
    def running(self) -> bool:
        """True while the locust process runs."""
        return self.process.poll() is None

    def remaining_s(self) -> float:
        """Seconds of load left (0 when the duration has passed)."""
        return max(0.0, self.ends_at_s - time.time())

    def requests_so_far(self) -> int:
        """Calls recorded so far."""
        return count_lines(self.records_path)

    def align_to_first_request(self) -> None:
        """Start the load's clock at the first recorded call (locust's own start-up,
        and the users' readiness wait, come before it)."""
        records = read_records(self.records_path)
        if records:
            self.started_at_s = min(r.started_at_s for r in records)
            self.ends_at_s = self.started_at_s + self.options.duration_s

    def wait_for_requests(self, count: int, timeout_s: float, poll_s: float = 0.1) -> bool:
        """Wait (bounded) until ``count`` calls are recorded; False on timeout or exit."""
        deadline = time.monotonic() + timeout_s
        while self.requests_so_far() < count:
            if time.monotonic() >= deadline or not self.running:
                return self.requests_so_far() >= count
            self.process.wait_exit(poll_s)
        return True

    def hold(self, seconds: float) -> bool:
        """Let the load run for ``seconds`` (never past its end); False if locust exited."""
        return not self.process.wait_exit(min(seconds, self.remaining_s()))

    def hold_until_end(self) -> None:
        """Let the load run until its duration has passed (or locust exited)."""
        self.process.wait_exit(self.remaining_s())

    def finish(self) -> int:
        """Wait until locust ends by itself (bounded); return its exit code."""
        return self.process.wait()


@dataclass
class DrillContext:
    """What a drill's hooks receive.

    Attributes:
        options: The common options.
        args: The whole parsed command line (the drill's own options included).
        out: Where progress lines go.
        timeline: Phases and marks; the drill advances it while the load runs.
        endpoints: Where the load goes (set once the server is up).
        server: The object the drill's ``serve`` hook kept (e.g. a ``TritonServer``).
        load: The running load (set once it started).
        checks: Checks the drill recorded while it ran.
        details: Drill-specific figures for ``report.json`` (JSON-ready values).
        notes: Remarks for the report.
    """

    options: DrillOptions
    args: argparse.Namespace
    out: TextIO = sys.stdout
    timeline: Timeline = field(default_factory=Timeline)
    endpoints: Endpoints | None = None
    server: Any = None
    load: LoadRun | None = None
    checks: list[Check] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def log(self, message: str) -> None:
        """Print a progress line."""
        print(f"[drill] {message}", file=self.out, flush=True)

    def check(self, name: str, passed: bool, detail: str = "") -> Check:
        """Record a pass/fail condition and return it."""
        item = Check(name, passed, detail)
        self.checks.append(item)
        self.log(f"{'PASS' if passed else 'FAIL'} {name}{': ' + detail if detail else ''}")
        return item

    def hold(self, seconds: float) -> bool:
        """Let the load run for ``seconds``; False if it already ended."""
        if self.load is None:
            raise DrillError("hold() needs the load to run (call it from Drill.run)")
        return self.load.hold(seconds)


@dataclass(frozen=True)
class DrillResult:
    """What the load measured, handed to :meth:`Drill.checks`.

    Attributes:
        records: Every per-request record.
        phases: Figures per phase.
        total: Figures over the whole load.
        locust_exit_code: Locust's exit code (3: killed at its wall-clock bound).
        error: Why ``Drill.run`` stopped early, if it did.
    """

    records: Sequence[RequestRecord]
    phases: Sequence[PhaseStats]
    total: PhaseStats
    locust_exit_code: int
    error: str | None = None

    def phase(self, name: str) -> PhaseStats:
        """Return the figures of phase ``name``.

        Raises:
            KeyError: No phase has that name.
        """
        for item in self.phases:
            if item.name == name:
                return item
        raise KeyError(name)


def default_checks(result: DrillResult) -> list[Check]:
    """The checks every drill starts from: the load ran, was measured, lost nothing."""
    total = result.total
    checks = [
        Check("drill steps completed", result.error is None, result.error or ""),
        Check("locust ended by itself", result.locust_exit_code == 0,
              f"exit code {result.locust_exit_code}"
              + (" (killed at its wall-clock bound)"
                 if result.locust_exit_code == EXIT_WALL_CLOCK else "")),
        Check("requests were made", total.requests > 0, f"{total.requests} requests"),
        Check("no failed request", total.failures == 0, f"{total.failures} failed"),
        Check("no shed request", total.shed == 0, f"{total.shed} shed"),
        Check("no call left unfinished", total.unfinished == 0,
              f"{total.unfinished} still unanswered when the load stopped"),
    ]
    return checks


class Drill(ABC):
    """Base class of a drill; subclass it and decorate with :func:`~loadtests.drills.register`.

    Class attributes:
        name: The ``python -m loadtests drill NAME`` name.
        summary: One line for ``--help``.
        description: Longer help text.
        default_users: Default ``--users``.
        default_duration_s: Default ``--duration`` in seconds.
        per_phase_server_stats: Read Triton's statistics at every phase boundary (needs
            an HTTP stats URL; skipped with a note otherwise).
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    description: ClassVar[str] = ""
    default_users: ClassVar[int] = 8
    default_duration_s: ClassVar[float] = 60.0
    per_phase_server_stats: ClassVar[bool] = True

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add the drill's own options (the common ones are already there)."""
        return None

    def configure(self, ctx: DrillContext) -> None:
        """Check the drill's own options; raise :class:`DrillError` naming the option."""
        return None

    @contextmanager
    def serve(self, ctx: DrillContext) -> Iterator[Endpoints]:
        """Yield the endpoints under test: ``--host``, or the embedded server."""
        options = ctx.options
        if options.host is not None:
            stats = options.stats_url
            if stats is None and options.host.startswith(("http://", "https://")):
                stats = options.host
            yield Endpoints(options.host, stats, options.metrics_url)
            return
        with embedded_endpoints(options.protocol, options.repository, ctx.out) as endpoints:
            yield endpoints

    def prepare(self, ctx: DrillContext) -> None:
        """Run before the load starts (e.g. load the first model version)."""
        return None

    def load_stages(self, ctx: DrillContext) -> list[Stage] | None:
        """Return the users over time (called after :meth:`prepare`); None: steady
        ``--users`` for ``--duration``. Stages are times since the load started and
        must end by ``--duration``."""
        return None

    @abstractmethod
    def run(self, ctx: DrillContext) -> None:
        """Play the drill's steps while the load runs, advancing ``ctx.timeline``.

        Return before the load ends (``ctx.load.remaining_s()``); the phase still running
        when this returns is ended then.
        """

    def checks(self, ctx: DrillContext, result: DrillResult) -> list[Check]:
        """Return the checks that decide the verdict (default: :func:`default_checks`)."""
        return default_checks(result)


def _server_counts(phase: Phase, model: str) -> tuple[int | None, int | None]:
    before, after = phase.server_before, phase.server_after
    if not isinstance(before, ServerSnapshot) or not isinstance(after, ServerSnapshot):
        return None, None
    delta = diff_snapshots(before, after).get(model)
    return (None, None) if delta is None else (delta.success_count, delta.failure_count)


def _stats_reader(ctx: DrillContext, drill: Drill) -> None:
    endpoints = ctx.endpoints
    if not drill.per_phase_server_stats or endpoints is None:
        return
    url = endpoints.stats_url
    if url is None:
        ctx.notes.append("Triton's per-phase statistics skipped: no HTTP stats URL")
        return
    model = ctx.options.model

    def snapshot() -> ServerSnapshot | None:
        try:
            return fetch_snapshot(url, [model], None, timeout_s=2.0)
        except LoadTestError as exc:
            note = f"a statistics snapshot failed: {exc}"
            if note not in ctx.notes:
                ctx.notes.append(note)
            return None

    ctx.timeline.snapshot = snapshot


def _result(ctx: DrillContext, records: Sequence[RequestRecord], started_at_s: float,
            ended_at_s: float, exit_code: int, error: str | None) -> DrillResult:
    phases = []
    for phase in ctx.timeline.phases:
        end = phase.end_s if phase.end_s is not None else ended_at_s
        ok, failed = _server_counts(phase, ctx.options.model)
        phases.append(phase_stats(phase.name, phase.start_s, end, records, started_at_s,
                                  server_requests=ok, server_failures=failed))
    last = max([ended_at_s, *(r.started_at_s + 1e-6 for r in records)])
    total = phase_stats("total", started_at_s, last, records, started_at_s)
    return DrillResult(records, phases, total, exit_code, error)


def _settings(ctx: DrillContext) -> dict[str, Any]:
    options = ctx.options
    settings: dict[str, Any] = {
        "users": options.users, "duration_s": options.duration_s,
        "host": ctx.endpoints.host if ctx.endpoints else options.host,
        "embedded_server": options.host is None,
        "max_attempts": options.max_attempts,
        "request_timeout_s": options.request_timeout_s,
    }
    common = set(DrillOptions.__dataclass_fields__)
    for key, value in sorted(vars(ctx.args).items()):
        if key not in common and key not in ("command", "drill") and not callable(value):
            settings[key] = str(value) if isinstance(value, Path) else value
    return settings


def _summary(report: DrillReport, written: Sequence[Path], out: TextIO) -> None:
    print(f"\n=== drill {report.drill}: {report.model}/{report.protocol}: "
          f"{'PASS' if report.passed else 'FAIL'} ===", file=out)
    for p in [*report.phases, report.total]:
        p99 = "n/a" if p.p99_ms is None else f"{p.p99_ms:.1f}"
        versions = ", ".join(f"{version_label(k)}={v}" for k, v in p.versions.items())
        print(f"{p.name:<24} {p.requests:>7} requests {p.failures:>5} failed {p.shed:>5} shed "
              f"{p.unfinished:>3} unfinished p99 {p99:>8} ms  {versions}", file=out)
    for check in report.checks:
        print(f"{'PASS' if check.passed else 'FAIL'}  {check.name}: {check.detail}", file=out)
    for path in written:
        print(f"report: {path}", file=out)
    out.flush()


def _relative_marks(ctx: DrillContext, origin_s: float) -> list[Any]:
    return [replace(m, at_s=round(m.at_s - origin_s, 3)) for m in ctx.timeline.marks]


def _play(drill: Drill, ctx: DrillContext) -> tuple[LoadRun, int, str | None, float]:
    """Serve, prepare, run the load and the drill's steps; return the load, locust's
    exit code, why the steps stopped early (if they did) and when the load ended."""
    options = ctx.options
    error: str | None = None
    with drill.serve(ctx) as endpoints:
        ctx.endpoints = endpoints
        _stats_reader(ctx, drill)
        drill.prepare(ctx)
        ctx.log(f"{drill.name}: {options.users} users on {endpoints.host} for "
                f"{options.duration_s:g} s")
        stages = drill.load_stages(ctx)
        if stages and stages[-1].until_s > options.duration_s:
            raise DrillError(f"drill {drill.name}: its load stages end at "
                             f"{stages[-1].until_s:g} s, after --duration "
                             f"{options.duration_s:g} s")
        load = ctx.load = LoadRun(options, endpoints, ctx.out, stages)
        try:
            first_s = options.ready_timeout_s + 30.0
            if not load.wait_for_requests(1, first_s):
                error = f"no request was recorded within {first_s:g} s of the load's start"
            else:
                load.align_to_first_request()
                drill.run(ctx)
        except Exception as exc:  # a drill step broke: report it, never lose the report
            error = f"{type(exc).__name__}: {exc}"
        finally:
            ctx.timeline.end_phase()
            if error is not None:
                ctx.log(f"stopping early: {error}")
                load.process.kill()
            exit_code = load.finish()
        ended_at_s = time.time()
    return load, exit_code, error, ended_at_s


def run_drill(drill_class: type[Drill], args: argparse.Namespace,
              out: TextIO = sys.stdout) -> int:
    """Play one drill end to end, write its reports and return the exit code.

    Returns:
        0 when every check held, 1 when one failed, 3 when locust had to be killed.

    Raises:
        LoadTestError: The drill could not start (bad option, server did not start);
            the command line turns it into exit code 2.
    """
    options = DrillOptions.from_namespace(args)
    ctx = DrillContext(options, args, out)
    drill = drill_class()
    drill.configure(ctx)
    try:
        load, exit_code, error, ended_at_s = _play(drill, ctx)
    except (ServingError, ClientError) as exc:
        raise DrillError(f"drill {drill.name}: the server under test is not usable: "
                         f"{type(exc).__name__}: {exc}") from exc
    records = read_records(load.records_path) if load.records_path.is_file() else []
    result = _result(ctx, records, load.started_at_s, min(ended_at_s, load.ends_at_s),
                     exit_code, error)
    report = DrillReport(
        drill=drill.name, protocol=options.protocol, model=options.model,
        settings=_settings(ctx), started_at_s=load.started_at_s, phases=result.phases,
        total=result.total, marks=_relative_marks(ctx, load.started_at_s),
        checks=[*ctx.checks, *drill.checks(ctx, result)], details=dict(ctx.details),
        notes=list(ctx.notes), locust_exit_code=exit_code,
    )
    written = write_drill_report(report, records, options.report_dir)
    _summary(report, written, out)
    if report.passed:
        return EXIT_PASSED
    return EXIT_WALL_CLOCK if exit_code == EXIT_WALL_CLOCK else EXIT_FAILED

