"""Locust integration: command-line options, server snapshots, targets and reports.

:func:`register` attaches listeners to locust's ``events``; ``locustfile.py`` calls it
at import. Options come from :mod:`loadtests.options` through locust's own parser
(``init_command_line_parser``), so master and workers in distributed mode see them.
Each :class:`~locust.env.Environment` gets its own :class:`RunRecorder` (created at
``init``), so a second run in one process is snapshotted and reported like the first.
Only the master (or the local runner) snapshots the server, evaluates the targets,
writes the reports and sets the exit code: 0 all targets held, 1 a target failed,
2 the run was aborted (server or model not ready, bad targets file), 3 the run did not
end by itself and its watchdog (:mod:`loadtests.watchdog`) stopped it.

A run always ends: the watchdog is armed at the start (run time + ``--stop-timeout`` +
``--stop-grace-s``) and again when the run begins to stop (``--stop-timeout`` +
``--stop-grace-s`` from then). If it fires, the report is written with what is known,
names every call still in flight, counts them as unfinished, and the process exits 3.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gevent
from locust.env import Environment
from locust.runners import WorkerRunner

from loadtests.errors import LoadTestError
from loadtests.liveness import calls_in_flight, longest_gap_s
from loadtests.locust_process import EXIT_WALL_CLOCK
from loadtests.options import add_options, option
from loadtests.records import Outcome, RecordWriter, RequestRecord
from loadtests.report import ClientStats, RunReport, TimePoint, write_report
from loadtests.server_stats import (
    LatencyBreakdown,
    ServerSnapshot,
    diff_snapshots,
    fetch_snapshot,
    latency_breakdown,
)
from loadtests.targets import (
    TARGET_NAMES,
    Measured,
    Targets,
    TargetVerdict,
    evaluate_targets,
    format_verdict_table,
    load_targets,
    targets_for,
)
from loadtests.users import (
    SHED_REQUEST_TYPE,
    STARTUP_REQUEST_TYPE,
    UNFINISHED_REQUEST_TYPE,
    ModelUser,
    model_of,
    protocol_of,
)
from loadtests.watchdog import Watchdog

__all__ = [
    "DEFAULT_STOP_TIMEOUT_S",
    "EXIT_ABORTED",
    "EXIT_HUNG",
    "EXIT_PASSED",
    "EXIT_TARGETS_FAILED",
    "RunRecorder",
    "add_arguments",
    "build_report",
    "init_grpc_gevent",
    "recorder_for",
    "register",
]

logger = logging.getLogger("loadtests")

EXIT_PASSED = 0
"""Exit code when every target held."""
EXIT_TARGETS_FAILED = 1
"""Exit code when at least one target failed."""
EXIT_ABORTED = 2
"""Exit code when the run was aborted (server/model not ready, bad options)."""
EXIT_HUNG = EXIT_WALL_CLOCK
"""Exit code when the run did not end by itself and was stopped (by its watchdog here, or
by the runner at its wall-clock bound)."""

_SAMPLE_INTERVAL_S = 1.0

DEFAULT_STOP_TIMEOUT_S = 5.0
"""The stop timeout a run gets when locust's ``--stop-timeout`` is left at 0: calls in
flight at the end get this long to be answered before they count as unfinished."""


def init_grpc_gevent() -> None:
    """Make gRPC cooperate with gevent; call before any gRPC channel exists."""
    import grpc.experimental.gevent as grpc_gevent

    grpc_gevent.init_gevent()


def add_arguments(parser: Any) -> None:
    """Add the load-test options (see :mod:`loadtests.options`) to locust's parser."""
    add_options(parser, "locust")


def _option(environment: Environment, name: str) -> Any:
    return getattr(environment.parsed_options, name, None) if environment.parsed_options else None


def _is_worker(environment: Environment) -> bool:
    return isinstance(environment.runner, WorkerRunner)


@dataclass
class RunRecorder:
    """The state of one run in one :class:`~locust.env.Environment`.

    Attributes:
        targets: Targets per model name (with overrides applied).
        targets_source: Where the targets came from.
        before: Server snapshot taken at test start.
        after: Server snapshot taken at test stop.
        notes: Remarks for the report.
        timeline: Progress samples, one a second.
        started_at: Monotonic time of test start.
        sampler: The greenlet taking progress samples.
        records: Writer of per-request records (``--records-file``), if asked for.
        load_started_at_s: Wall-clock time of test start (seconds since the epoch).
        stopping_at_s: Wall-clock time the run began to stop (None while it runs).
        watchdog: Ends the run if it does not end by itself (master or local only).
    """

    targets: dict[str, Targets] = field(default_factory=dict)
    targets_source: str = ""
    before: ServerSnapshot | None = None
    after: ServerSnapshot | None = None
    notes: list[str] = field(default_factory=list)
    timeline: list[TimePoint] = field(default_factory=list)
    started_at: float | None = None
    sampler: gevent.Greenlet | None = None
    records: RecordWriter | None = None
    load_started_at_s: float | None = None
    stopping_at_s: float | None = None
    watchdog: Watchdog | None = None
    mismatches: dict[tuple[str, str], int] = field(default_factory=dict)

    def on_validation(self, name: str, context: dict[str, Any] | None = None,
                      **_kwargs: Any) -> None:
        """Counts the outputs that differed from ``validation_data`` (``events.request``)."""
        for tensor in (context or {}).get("mismatched", ()):
            key = (name, str(tensor))
            self.mismatches[key] = self.mismatches.get(key, 0) + 1

    def on_request(self, request_type: str, name: str, response_time: float,
                   exception: BaseException | None = None,
                   context: dict[str, Any] | None = None, **_kwargs: Any) -> None:
        """Write one per-request record (a listener of ``events.request``)."""
        if self.records is None or request_type == STARTUP_REQUEST_TYPE or not context:
            return
        started_at_s = context.get("started_at_s")
        if started_at_s is None:
            return
        self.records.write(RequestRecord(
            started_at_s=float(started_at_s),
            latency_ms=float(response_time),
            outcome=Outcome(context.get("outcome", "failed" if exception else "ok")),
            retries=int(context.get("retries", 0)),
            version=context.get("version"),
            error=None if exception is None else f"{type(exception).__name__}: {exception}",
        ))


_recorders: weakref.WeakKeyDictionary[Environment, RunRecorder] = weakref.WeakKeyDictionary()


def recorder_for(environment: Environment) -> RunRecorder:
    """Return the recorder of ``environment``, creating it on first use."""
    recorder = _recorders.get(environment)
    if recorder is None:
        recorder = _recorders[environment] = RunRecorder()
    return recorder


def _models(environment: Environment) -> list[str]:
    if not any(issubclass(c, ModelUser) for c in environment.user_classes):
        return []
    return [model_of(environment)]


def _stats_url(environment: Environment) -> str | None:
    explicit = _option(environment, "stats_url")
    if explicit:
        return str(explicit)
    host = environment.host or ""
    return host if urlsplit(host).scheme in ("http", "https") else None


def _select_user_class(environment: Environment) -> None:
    if environment.parsed_options is not None and environment.parsed_options.user_classes:
        return  # the user named classes on the command line
    model_of(environment)  # a bad model name aborts the run here
    environment.user_classes[:] = [ModelUser]


def _on_init(environment: Environment, **_kwargs: Any) -> None:
    recorder = recorder_for(environment)
    if not environment.stop_timeout and not _is_worker(environment):
        # Locust's default of 0 would stop users mid-call and make every run's last calls
        # unfinished; the verdict needs them answered or held past a real timeout.
        environment.stop_timeout = DEFAULT_STOP_TIMEOUT_S
    records_file = _option(environment, "records_file")
    if records_file and not _is_worker(environment):
        recorder.records = RecordWriter(Path(records_file))
        events: Any = environment.events
        events.request.add_listener(recorder.on_request)
    events_: Any = environment.events
    events_.request.add_listener(recorder.on_validation)
    if _is_worker(environment):
        return
    try:
        _select_user_class(environment)
        path = _option(environment, "targets")
        table = load_targets(Path(path) if path else None)
        overrides = {name: _option(environment, name) for name in TARGET_NAMES}
        recorder.targets = {m: t.with_overrides(overrides) for m, t in table.items()}
    except (LoadTestError, ValueError) as exc:
        logger.error("load test aborted: %s", exc)
        raise SystemExit(EXIT_ABORTED) from exc
    recorder.targets_source = str(path or "loadtests/targets.toml")


def _refresh_loop_clock(**_kwargs: Any) -> None:
    """Sets gevent's loop clock to now before locust arms its ``--run-time`` timer.

    libev caches the loop's "now" and refreshes it only when the loop runs. Locust
    creates the loop with its runner, fires ``init`` and arms ``spawn_later(run_time,
    quit)`` before the loop has ever run, so in a locustfile with no load shape the
    timer counted start-up work that does not yield (imports, parsing, init listeners:
    3.8-4.6 s measured on a loaded 2-core host) as run time. A 2 s run ended 5 ms after
    it started, and every longer run was cut short by the start-up time.
    """
    gevent.get_hub().loop.update_now()


def _snapshot(environment: Environment, recorder: RunRecorder,
              when: str) -> ServerSnapshot | None:
    url = _stats_url(environment)
    if url is None:
        note = f"server view skipped ({when}): no --stats-url and --host is not http(s)"
        if note not in recorder.notes:
            recorder.notes.append(note)
        return None
    try:
        snap = fetch_snapshot(url, _models(environment), _option(environment, "metrics_url"))
    except LoadTestError as exc:
        recorder.notes.append(f"server view unavailable ({when}): {exc}")
        return None
    if snap.metrics_error and not any("metrics" in n for n in recorder.notes):
        recorder.notes.append(f"Prometheus metrics not included: {snap.metrics_error}")
    return snap


def _sample(environment: Environment, recorder: RunRecorder) -> None:
    runner = environment.runner
    while runner is not None and recorder.started_at is not None:
        total = runner.stats.total
        has_data = total.num_requests > 0
        recorder.timeline.append(TimePoint(
            elapsed_s=round(time.monotonic() - recorder.started_at, 3),
            users=runner.user_count,
            rps=float(total.current_rps),
            p50_ms=float(total.get_current_response_time_percentile(0.5) or 0) if has_data
            else None,
            p95_ms=float(total.get_current_response_time_percentile(0.95) or 0) if has_data
            else None,
        ))
        gevent.sleep(_SAMPLE_INTERVAL_S)


def _stop_budget_s(environment: Environment) -> float:
    """``--stop-timeout`` plus ``--stop-grace-s``: how long stopping may take."""
    grace = _option(environment, "stop_grace_s")
    return float(environment.stop_timeout or 0.0) + float(
        option("stop_grace_s").default if grace is None else grace)


def _on_test_start(environment: Environment, **_kwargs: Any) -> None:
    recorder = recorder_for(environment)
    if _is_worker(environment) or recorder.started_at is not None:
        return
    recorder.before = _snapshot(environment, recorder, "before the run")
    recorder.started_at = time.monotonic()
    recorder.load_started_at_s = time.time()
    recorder.sampler = gevent.spawn(_sample, environment, recorder)
    recorder.watchdog = Watchdog(lambda: _on_hung(environment))
    run_time = _option(environment, "run_time")
    if run_time:
        recorder.watchdog.arm(recorder.started_at + float(run_time)
                              + _stop_budget_s(environment))


def _on_test_stopping(environment: Environment, **_kwargs: Any) -> None:
    recorder = recorder_for(environment)
    if _is_worker(environment) or recorder.started_at is None:
        return
    if recorder.stopping_at_s is None:
        recorder.stopping_at_s = time.time()
    if recorder.watchdog is not None:
        recorder.watchdog.arm(time.monotonic() + _stop_budget_s(environment))


def _on_test_stop(environment: Environment, **_kwargs: Any) -> None:
    recorder = recorder_for(environment)
    if _is_worker(environment) or recorder.before is None or recorder.after is not None:
        return
    recorder.after = _snapshot(environment, recorder, "after the run")


_APART = (STARTUP_REQUEST_TYPE, SHED_REQUEST_TYPE, UNFINISHED_REQUEST_TYPE)


def _answered_per_s(entry: Any) -> dict[int, int]:
    failed = entry.num_fail_per_sec
    return {second: count - failed.get(second, 0)
            for second, count in entry.num_reqs_per_sec.items()}


def _gap_s(recorder: RunRecorder, entry: Any | None) -> float | None:
    start = recorder.load_started_at_s
    if start is None:
        return None
    end = recorder.stopping_at_s or time.time()
    return longest_gap_s({} if entry is None else _answered_per_s(entry), start, end)


def _percentile_ms(entry: Any | None, share: float) -> float | None:
    return None if entry is None else float(entry.get_response_time_percentile(share))


def _client_stats(environment: Environment) -> list[ClientStats]:
    runner = environment.runner
    if runner is None:
        return []
    recorder = recorder_for(environment)
    entries = runner.stats.entries
    apart = {kind: {name: e.num_requests for (name, method), e in entries.items()
                    if method == kind} for kind in (SHED_REQUEST_TYPE, UNFINISHED_REQUEST_TYPE)}
    unfinished = apart[UNFINISHED_REQUEST_TYPE]
    for model, count in calls_in_flight(environment).count_by_model().items():
        unfinished[model] = unfinished.get(model, 0) + count  # never reported by their user
    models = {name for (name, method) in entries if method not in _APART} | set(
        apart[SHED_REQUEST_TYPE]) | set(unfinished)
    result = []
    for name in sorted(models):
        protocol = [(method, e) for (n, method), e in sorted(entries.items())
                    if n == name and method not in _APART]
        # A model whose every call was shed or left unfinished has no protocol entry.
        shed, stuck = apart[SHED_REQUEST_TYPE].get(name, 0), unfinished.get(name, 0)
        method, entry = protocol[0] if protocol else (
            SHED_REQUEST_TYPE if shed else UNFINISHED_REQUEST_TYPE, None)
        answered = entry if entry is not None and entry.num_requests > 0 else None
        result.append(ClientStats(
            model=name,
            request_type=method,
            measured=Measured(
                requests=(entry.num_requests if entry is not None else 0) + shed + stuck,
                failures=entry.num_failures if entry is not None else 0,
                p50_ms=_percentile_ms(answered, 0.5),
                p95_ms=_percentile_ms(answered, 0.95),
                p99_ms=_percentile_ms(answered, 0.99),
                rps=float(entry.total_rps) if entry is not None else 0.0,
                shed=shed,
                unfinished=stuck,
                max_gap_s=_gap_s(recorder, entry),
            ),
            mean_ms=None if answered is None else float(answered.avg_response_time),
            max_ms=None if answered is None else float(answered.max_response_time),
        ))
    return result


def _startup_failures(environment: Environment) -> list[str]:
    runner = environment.runner
    if runner is None:
        return []
    return sorted({str(e.error) for e in runner.stats.errors.values()
                   if e.method == STARTUP_REQUEST_TYPE})


def _settings(environment: Environment, recorder: RunRecorder) -> dict[str, Any]:
    return {
        "model": ", ".join(_models(environment)),
        "protocol": protocol_of(environment) if _models(environment) else "",
        "scenario": _option(environment, "scenario") or "steady",
        "users": _option(environment, "num_users"),
        "spawn_rate": _option(environment, "spawn_rate"),
        "run_time_s": _option(environment, "run_time"),
        "host": environment.host,
        "stats_url": _stats_url(environment),
        "metrics_url": _option(environment, "metrics_url"),
        "targets_file": recorder.targets_source,
    }


def build_report(environment: Environment,
                 hung: dict[str, Any] | None = None) -> RunReport:
    """Collect the client view, server deltas and verdicts of the finished run.

    Args:
        environment: The run's environment.
        hung: Set by the watchdog (from its own thread): what it found. The greenlets are
            left alone then, and the server is not asked for its statistics.
    """
    recorder = recorder_for(environment)
    if hung is None:
        if recorder.sampler is not None:
            recorder.sampler.kill(block=False)
        if recorder.before is not None and recorder.after is None:
            recorder.after = _snapshot(environment, recorder, "after the run")
    elif recorder.after is None:
        recorder.notes.append("server view after the run skipped: the run hung")
    clients = _client_stats(environment)
    verdicts: list[TargetVerdict] = []
    if not _option(environment, "skip_targets"):
        for model in _models(environment):
            stats = next((c for c in clients if c.model == model), None)
            measured = stats.measured if stats else Measured(0, 0, None, None, None, 0.0)
            verdicts += evaluate_targets(model, targets_for(recorder.targets, model), measured)
    deltas = (diff_snapshots(recorder.before, recorder.after)
              if recorder.before is not None and recorder.after is not None else {})
    breakdown: dict[str, LatencyBreakdown] = {}
    for c in clients:
        if c.mean_ms is not None:
            split = latency_breakdown(c.mean_ms, c.model, deltas)
            if split is not None:
                breakdown[c.model] = split
    for (model, tensor), count in sorted(recorder.mismatches.items()):
        note = (f"validation_data: output {tensor!r} of {model!r} differed from the expected "
                f"values in {count} call(s), counted as failures")
        if note not in recorder.notes:
            recorder.notes.append(note)
    failures = _startup_failures(environment)
    stuck = sum(c.measured.unfinished for c in clients)
    if stuck:
        note = (f"{stuck} call(s) still had no answer when the run stopped: the server held "
                f"them past --stop-timeout ({environment.stop_timeout:g} s)")
        if note not in recorder.notes:
            recorder.notes.append(note)
    return RunReport(
        settings=_settings(environment, recorder),
        clients=clients,
        verdicts=verdicts,
        server=deltas,
        breakdown=breakdown,
        timeline=list(recorder.timeline),
        notes=list(recorder.notes),
        aborted="; ".join(failures) if failures else None,
        targets_checked=not _option(environment, "skip_targets"),
        hung=hung,
    )


def _on_quitting(environment: Environment, **_kwargs: Any) -> None:
    recorder = recorder_for(environment)
    if recorder.records is not None:
        events: Any = environment.events
        events.request.remove_listener(recorder.on_request)
        recorder.records.close()
    if _is_worker(environment):
        return
    environment.process_exit_code = _finish(environment, build_report(environment))


def _on_hung(environment: Environment) -> None:
    """The watchdog fired (in its own thread): report what is known, then exit 3."""
    recorder = recorder_for(environment)
    now = time.time()
    calls = calls_in_flight(environment).snapshot()
    stopping_since = recorder.stopping_at_s
    hung = {
        "stopping_for_s": None if stopping_since is None else round(now - stopping_since, 1),
        "stop_budget_s": _stop_budget_s(environment),
        "in_flight": [c.as_dict(now) for c in calls],
    }
    logger.error("the run did not end by itself within --stop-timeout + --stop-grace-s "
                 "(%g s); %d call(s) in flight; stopping it", hung["stop_budget_s"], len(calls))
    try:
        if recorder.records is not None:
            recorder.records.close()
        _finish(environment, build_report(environment, hung=hung))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_HUNG)


def _finish(environment: Environment, report: RunReport) -> int:
    """Write and print the report; return the exit code it calls for."""
    if report.hung is not None:
        code = EXIT_HUNG
        banner = (f"LOAD TEST STOPPED: it did not end by itself; "
                  f"{len(report.hung['in_flight'])} call(s) in flight")
    elif report.aborted:
        code = EXIT_ABORTED
        banner = f"LOAD TEST ABORTED: {report.aborted}"
    else:
        code = EXIT_PASSED if report.passed else EXIT_TARGETS_FAILED
        banner = f"LOAD TEST {'PASSED' if report.passed else 'FAILED'}"
    report_dir = _option(environment, "report_dir")
    written: list[Path] = []
    if report_dir:
        try:
            written = write_report(report, Path(report_dir))
        except OSError as exc:
            logger.error("could not write the report to %s: %s", report_dir, exc)
    if report.targets_checked:
        print(f"\n=== Latency targets ===\n{format_verdict_table(report.verdicts)}\n{banner}",
              flush=True)
    elif report.aborted or report.hung is not None:
        print(f"\n{banner}", flush=True)
    for path in written:
        print(f"report: {path}", flush=True)
    return code


def register(events: Any) -> None:
    """Attach the load-test options and listeners to locust's ``events``."""
    events.init_command_line_parser.add_listener(add_arguments)
    events.init.add_listener(_on_init)
    events.init.add_listener(_refresh_loop_clock)
    events.test_start.add_listener(_on_test_start)
    events.test_stopping.add_listener(_on_test_stopping)
    events.test_stop.add_listener(_on_test_stop)
    events.quitting.add_listener(_on_quitting)
