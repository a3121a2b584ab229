"""The ``overload`` drill: three times the measured capacity, then normal load again.

::

    python -m loadtests drill overload --model recommendation --duration 40s --report-dir DIR

The drill starts its own embedded Triton (only the model under test and, for an
ensemble, its steps). Before the load it measures the capacity: a closed loop of
``--capacity-concurrency`` calls for a few seconds. The locust users (the normal load)
then run for ``--duration``; in the middle, for ``--overload`` seconds (20 by default),
a generator in the drill adds ``--overload-callers`` (256) back-to-back callers on top
of them. Shed calls return at once, so the calls offered per second reach several times
the capacity; each call carries a deadline (``--deadline``, by default half the
model's p99 target) that the client enforces.

Load is shed where the shipped stack sheds it: at the balancer. The drill puts one
HAProxy (:class:`serving.lb.Balancer`) in front of the server, with at most
``--max-in-flight`` requests in flight to Triton (HAProxy's per-server ``maxconn``) and
a queue that answers 503 (gRPC UNAVAILABLE) to a request still waiting after
``--queue-timeout-ms``. Triton's own queue policy is not used: in Triton 2.51 it stalls
the dynamic batcher for 500 ms (docs/stall.md).

On a 2-core host a Python client cannot issue three times what the server serves one
row at a time, so the generator and the capacity measurement put ``--rows`` user ids in
each call (the same unit in both, so the ratio is honest): the server, not the client,
becomes the bottleneck, and the balancer's queue must shed the excess. The offered rate
is the generator's CPU over its CPU per call, so (``loadtests.drills.flood``) its
callers run in ``--generator-processes`` worker processes on requests built once, and
with ``--split-cores`` (the default) the server is pinned to the first half of the
cores and the generator to the rest, as if the load came from another machine. The
capacity is measured by the same workers on the same cores: a client short of CPU
lowers the capacity it measures as much as the load it offers.

It passes when all of these held:

- the generator offered at least three times what the server served during the
  overload (both measured in the same seconds), and the server shed;
- the server still served at least half the capacity measured before the load while it
  was overloaded (shedding kept it working);
- no call (locust's or the generator's) hung past its deadline;
- the p99 of the calls the server accepted from the users during the overload met the
  model's p99 target (``loadtests/targets.toml``);
- the server did not crash and its memory (RSS of Triton and its backend stubs) stayed
  within ``--max-memory-growth`` of what it was before;
- the users' throughput recovered (to 80 % of the level before the overload) within
  5 s after the overload ended; no user call failed for another reason than shedding.
"""

from __future__ import annotations

import argparse
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from loadtests.drills import Check, Drill, DrillContext, DrillResult, register
from loadtests.drills.failover import needed_models
from loadtests.drills.flood import CallerPool, LoadPlan, Mode, run_callers
from loadtests.errors import DrillError
from loadtests.records import Outcome, RequestRecord
from loadtests.runner import Endpoints

if TYPE_CHECKING:
    from serving.lb import Balancer

__all__ = [
    "MIN_GOODPUT_SHARE",
    "MIN_OVERLOAD_RATIO",
    "RECOVERY_LIMIT_S",
    "Overload",
    "pin_process_group",
    "process_group_rss_bytes",
    "split_cores",
]

MIN_OVERLOAD_RATIO = 3.0
"""Offered load during the overload, at least, in multiples of the measured capacity."""

MIN_GOODPUT_SHARE = 0.5
"""Calls served per second during the overload, at least, as a share of the capacity
measured before it: shedding must keep the server working, not collapse it."""

RECOVERY_LIMIT_S = 5.0
"""Throughput must be back within this many seconds after the overload ends."""

_RECOVERY_SHARE = 0.8
_CAPACITY_WINDOW_S = 3.0
_MEMORY_POLL_S = 0.5
_PAGE_BYTES = 4096
_HUNG_SLACK_S = 2.0
_CAPACITY_CALL_BOUND_S = 30.0
_START_SLACK_S = 60.0
_DEADLINE_SHARE_OF_P99 = 0.5
#: Balancer settings (docs/stall.md: chosen by the drill's measured figures).
DEFAULT_MAX_IN_FLIGHT = 8
DEFAULT_QUEUE_TIMEOUT_MS = 25
DEFAULT_GENERATOR_PROCESSES = 2
#: Each caller waits for its answer, a shed one included (HAProxy's queue timeout), so the
#: offered rate is callers / latency until the generator's core is busy. Measured on this
#: 2-core host, split cores, 64 rows: 128 callers left the generator 38 % idle and offered
#: 3.1-4.1x (gRPC 3.6-4.1, HTTP 3.1-4.0) what was served; 256 use ~83 % of its core and
#: offered gRPC 4.5-6.7x, HTTP 4.6-4.7x (on uvloop).
DEFAULT_OVERLOAD_CALLERS = 256


def _group_pids(pgid: int) -> Iterator[int]:
    """The processes of process group ``pgid`` (Linux /proc)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat[stat.rindex(")") + 2:].split()[2]) == pgid:
                yield int(entry.name)
        except (OSError, ValueError, IndexError):
            continue


def process_group_rss_bytes(pgid: int) -> int:
    """Resident memory of every process in process group ``pgid`` (Linux /proc)."""
    total = 0
    for pid in _group_pids(pgid):
        try:
            total += int((Path("/proc") / str(pid) / "statm").read_text().split()[1]) \
                * _PAGE_BYTES
        except (OSError, ValueError, IndexError):
            continue
    return total


def pin_process_group(pgid: int, cpus: Sequence[int]) -> int:
    """Pin every thread of every process in group ``pgid`` to ``cpus``; return the count.

    Threads (and stub processes) the group starts later inherit the pinning.
    """
    pinned = 0
    for pid in _group_pids(pgid):
        try:
            tasks = [int(t.name) for t in (Path("/proc") / str(pid) / "task").iterdir()]
        except OSError:
            continue
        for tid in tasks:
            try:
                os.sched_setaffinity(tid, set(cpus))
                pinned += 1
            except OSError:
                continue
    return pinned


def split_cores(cores: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """The server's cores and the generator's: the first half and the rest, or None on
    a host of one core."""
    ordered = tuple(sorted(cores))
    if len(ordered) < 2:
        return None
    half = len(ordered) // 2
    return ordered[:half], ordered[half:]


def _completion_rate(records: Sequence[RequestRecord], start_s: float, end_s: float) -> float:
    done = [r for r in records if r.outcome is Outcome.OK
            and start_s <= r.started_at_s + r.latency_ms / 1000.0 < end_s]
    return len(done) / max(end_s - start_s, 1e-9)


def _recovery_s(records: Sequence[RequestRecord], overload_end_s: float, level: float,
                horizon_s: float) -> float | None:
    """Seconds after the overload until a 1-s window of answers reaches ``level``/s."""
    step = 0.25
    offset = 0.0
    while offset + 1.0 <= horizon_s:
        start = overload_end_s + offset
        if _completion_rate(records, start, start + 1.0) >= level:
            return offset
        offset += step
    return None


@register
class Overload(Drill):
    """Offer three times the measured capacity for 20 s, then normal load again."""

    name = "overload"
    summary = "3x the measured capacity for 20 s: shed fast, stay bounded, recover"
    description = ("Measure the capacity, then under the users' normal load add "
                   "--overload-callers callers for --overload seconds. Passes if at least "
                   "3x the capacity was offered and shed, nothing "
                   "hung past its deadline, the users' accepted p99 met the target, the "
                   "server kept running with bounded memory, and throughput recovered "
                   "within 5 s.")
    default_users = 4
    default_duration_s = 40.0
    _balancer: Balancer | None = None
    _flood: CallerPool | None = None
    _generator_cpus: tuple[int, ...] = ()

    def __init__(self) -> None:
        self._pools = ExitStack()

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The overload's size, length and bounds."""
        parser.add_argument("--overload", dest="overload_s", type=float, default=20.0,
                            metavar="SECONDS", help="length of the overload (default 20)")
        parser.add_argument("--overload-callers", type=int, default=DEFAULT_OVERLOAD_CALLERS,
                            help="concurrent callers of the overload generator (default "
                            f"{DEFAULT_OVERLOAD_CALLERS})")
        parser.add_argument("--rows", type=int, default=64,
                            help="user ids per generated call (default 64)")
        parser.add_argument("--deadline", dest="deadline_s", type=float, default=None,
                            metavar="SECONDS", help="deadline of every generated call, sent "
                            "to Triton as its request timeout (default: half the model's p99 "
                            "target); a call still unanswered 2 s after it has hung")
        parser.add_argument("--capacity-concurrency", type=int, default=16,
                            help="callers of the capacity measurement (default 16)")
        parser.add_argument("--generator-processes", type=int,
                            default=DEFAULT_GENERATOR_PROCESSES,
                            help="worker processes the generator's callers (and the "
                            "capacity measurement's) are spread over (default "
                            f"{DEFAULT_GENERATOR_PROCESSES})")
        parser.add_argument("--split-cores", action=argparse.BooleanOptionalAction,
                            default=True,
                            help="pin the server to the first half of the cores and the "
                            "generator (capacity measurement included) to the rest, as if "
                            "the load came from another machine (default on; off: share)")
        parser.add_argument("--max-memory-growth", type=float, default=1.5,
                            help="peak RSS during the overload / RSS before (default 1.5)")
        parser.add_argument("--max-in-flight", type=int, default=DEFAULT_MAX_IN_FLIGHT,
                            help="requests in flight to Triton at the balancer (HAProxy "
                            f"server maxconn, default {DEFAULT_MAX_IN_FLIGHT})")
        parser.add_argument("--queue-timeout-ms", type=int, default=DEFAULT_QUEUE_TIMEOUT_MS,
                            help="a request queued at the balancer longer than this is shed "
                            f"with 503 (default {DEFAULT_QUEUE_TIMEOUT_MS})")

    def configure(self, ctx: DrillContext) -> None:
        """Check the options; the drill starts its own server (no ``--host``)."""
        args = ctx.args
        if ctx.options.host is not None:
            raise DrillError("--host: the overload drill watches the server's memory, so it "
                             "starts its own server; leave --host out")
        if args.overload_s <= 0 or args.overload_s >= ctx.options.duration_s - 4:
            raise DrillError(f"--overload: must be > 0 and leave at least 2 s of normal load "
                             f"before and after it within --duration "
                             f"{ctx.options.duration_s:g} s, got {args.overload_s:g}")
        if not 1 <= args.overload_callers <= 4096:
            raise DrillError(f"--overload-callers: must be 1-4096, got {args.overload_callers}")
        if not 1 <= args.generator_processes <= min(64, args.overload_callers,
                                                    args.capacity_concurrency):
            raise DrillError(f"--generator-processes: must be 1-64 and at most "
                             f"--overload-callers and --capacity-concurrency, got "
                             f"{args.generator_processes}")
        if not 1 <= args.rows <= 64:
            raise DrillError(f"--rows: must be 1-64, got {args.rows}")
        if args.deadline_s is None:
            from loadtests.targets import load_targets, targets_for

            target = targets_for(load_targets(getattr(args, "targets", None)),
                                 ctx.options.model)
            args.deadline_s = _DEADLINE_SHARE_OF_P99 * target.p99_ms / 1000.0
        if args.deadline_s <= 0:
            raise DrillError(f"--deadline: must be > 0, got {args.deadline_s}")
        if not 1 <= args.max_in_flight <= 4096:
            raise DrillError(f"--max-in-flight: must be 1-4096, got {args.max_in_flight}")
        if not 1 <= args.queue_timeout_ms <= 60_000:
            raise DrillError(f"--queue-timeout-ms: must be 1-60000, got {args.queue_timeout_ms}")

    @contextmanager
    def serve(self, ctx: DrillContext) -> Iterator[Endpoints]:
        """Start the embedded Triton on the model (and its steps) only, behind HAProxy."""
        import shutil
        import tempfile

        from serving import ServingError, TritonServer
        from serving.lb import Balancer, ReplicaAddress
        from serving.ports import LOOPBACK
        from serving.replicas import copy_models

        options = ctx.options
        models = needed_models(options.repository, options.model)
        folder = Path(tempfile.mkdtemp(prefix="overload-drill-"))
        try:
            repository = copy_models(options.repository, models, folder / "repository")
            ctx.log(f"starting the embedded Triton on {models} ...")
            server = TritonServer(repository)
            try:
                server.start()
            except ServingError as exc:
                raise DrillError(f"embedded server: {exc}") from exc
            ctx.server = server
            self._split_cores(ctx)
            try:
                balancer = Balancer(
                    [ReplicaAddress("triton", LOOPBACK, server.http_port, server.grpc_port)],
                    server_max_requests=ctx.args.max_in_flight,
                    queue_timeout_ms=ctx.args.queue_timeout_ms)
                try:
                    balancer.start()
                except ServingError as exc:
                    raise DrillError(f"balancer: {exc}") from exc
                self._balancer = balancer
                try:
                    host = balancer.grpc_url if options.protocol == "grpc" else balancer.http_url
                    with self._pools:
                        yield Endpoints(host, server.http_url, server.metrics_url)
                finally:
                    self._flood = None
                    balancer.close()
            finally:
                server.stop()
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _split_cores(self, ctx: DrillContext) -> None:
        """Pin the server to half the cores and the generator to the rest (--split-cores)."""
        split = split_cores(sorted(os.sched_getaffinity(0))) if ctx.args.split_cores else None
        if split is None or ctx.server is None or ctx.server.pid is None:
            ctx.details["cores"] = {"split": False}
            return
        server_cpus, self._generator_cpus = split
        threads = pin_process_group(ctx.server.pid, server_cpus)
        ctx.details["cores"] = {"split": True, "server": list(server_cpus),
                                "generator": list(self._generator_cpus),
                                "server_threads_pinned": threads}
        ctx.log(f"server pinned to cores {list(server_cpus)} ({threads} threads), "
                f"generator to {list(self._generator_cpus)}")

    def _plan(self, ctx: DrillContext) -> LoadPlan:
        balancer = self._balancer
        if balancer is None:
            raise DrillError("the balancer is not started")
        url = balancer.grpc_url if ctx.options.protocol == "grpc" else balancer.http_url
        data = ctx.input_data  # any model's inputs; None: recommendation's user ids
        return LoadPlan(ctx.options.protocol, url.split("://", 1)[1], ctx.options.model,
                        ctx.args.rows, ctx.args.deadline_s, _HUNG_SLACK_S,
                        _CAPACITY_CALL_BOUND_S, self._generator_cpus,
                        requests=() if data is None else tuple(
                            data.request(i) for i in range(len(data.entries))),
                        outputs=LoadPlan.outputs if data is None else tuple(
                            spec.name for spec in data.tensors.outputs))

    def prepare(self, ctx: DrillContext) -> None:
        """Measure the capacity in calls of ``--rows`` user ids, before any other load.

        The same worker processes as the overload's measure it, so a client short of CPU
        lowers the offered load and the capacity alike, never the capacity alone.
        """
        args = ctx.args
        measured = run_callers(self._plan(ctx), Mode.CLOSED_LOOP, args.capacity_concurrency,
                               _CAPACITY_WINDOW_S, args.generator_processes)
        if measured.failed or not measured.ok:
            raise DrillError(f"capacity measurement failed: {measured.errors[:2]}")
        capacity = measured.ok / max(measured.elapsed_s, 1e-9)
        ctx.details["capacity"] = {"calls_per_s": round(capacity, 1),
                                   "rows_per_call": args.rows,
                                   "rows_per_s": round(capacity * args.rows, 1),
                                   "concurrency": args.capacity_concurrency,
                                   "processes": measured.processes,
                                   "shed": measured.shed,
                                   "cpu_ms_per_call": round(
                                       1000.0 * measured.cpu_s / max(measured.offered, 1), 3),
                                   "window_s": _CAPACITY_WINDOW_S}
        ctx.log(f"measured capacity: {capacity:.0f} calls/s of {args.rows} rows")
        # The overload's workers get ready now (a few seconds on a busy host), before the
        # normal load starts, and wait idle until the overload begins.
        self._flood = self._pools.enter_context(CallerPool(
            self._plan(ctx), Mode.FLOOD, args.overload_callers, args.overload_s,
            args.generator_processes,
            start_within_s=ctx.options.duration_s + _START_SLACK_S))

    def run(self, ctx: DrillContext) -> None:
        """Normal load, overload on top of it, normal load again; watch memory."""
        assert ctx.load is not None
        load, server, args = ctx.load, ctx.server, ctx.args
        before_s = (load.remaining_s() - args.overload_s) / 2
        peak = {"rss": 0}
        stop = threading.Event()

        def watch_memory() -> None:
            while not stop.wait(_MEMORY_POLL_S):
                peak["rss"] = max(peak["rss"], process_group_rss_bytes(server.pid or -1))

        pool = self._flood
        if pool is None:
            raise DrillError("the overload generator is not ready (prepare() was not run)")
        with ctx.timeline.phase("before"):
            ctx.hold(max(0.0, before_s - 1.0))
            rss_before = process_group_rss_bytes(server.pid or -1)
            ctx.hold(min(1.0, before_s))
        watcher = threading.Thread(target=watch_memory, daemon=True)
        watcher.start()
        try:
            with ctx.timeline.phase("overload"):
                ctx.timeline.mark(f"overload: {args.overload_callers} callers in "
                                  f"{args.generator_processes} processes", kind="overload")
                generated = pool.run()
        finally:
            stop.set()
            watcher.join(5.0)
        with ctx.timeline.phase("after"):
            load.hold_until_end()
        offered_rps = generated.offered / args.overload_s
        accepted = np.asarray(generated.accepted_ms) if generated.accepted_ms else None
        ctx.details["generator"] = {
            "callers": args.overload_callers, "processes": generated.processes,
            "offered_calls_per_s": round(offered_rps, 1),
            "offered_over_capacity": round(offered_rps / ctx.details["capacity"]["calls_per_s"],
                                           2),
            "offered": generated.offered, "accepted": generated.ok, "shed": generated.shed,
            "failed": generated.failed,
            "accepted_p99_ms": None if accepted is None else round(float(
                np.percentile(accepted, 99)), 1),
            "max_ms": round(generated.max_ms, 1),
            "cpu_s": round(generated.cpu_s, 2),
            "cpu_ms_per_call": round(1000.0 * generated.cpu_s / max(generated.offered, 1), 3),
            "errors": generated.errors,
        }
        ctx.details["memory"] = {"rss_before_mib": round(rss_before / 2**20, 1),
                                 "rss_peak_mib": round(peak["rss"] / 2**20, 1)}
        ctx.details["server_running_after"] = bool(server.is_running)

    def checks(self, ctx: DrillContext, result: DrillResult) -> list[Check]:
        """The five conditions of the module documentation, plus the load's own health."""
        from loadtests.targets import load_targets, targets_for

        args, details = ctx.args, ctx.details
        checks = [
            Check("drill steps completed", result.error is None, result.error or ""),
            Check("locust ended by itself", result.locust_exit_code == 0,
                  f"exit code {result.locust_exit_code}"),
        ]
        generator = details.get("generator")
        if generator is None:
            return checks
        overload = result.phase("overload")
        # What the server could serve is measured during the overload itself, side by side
        # with what was offered: a closed-loop capacity taken before, on a shared 2-core
        # host, moves with the other jobs (and is bounded by the client's CPU) more than
        # the ratio this check needs.
        served_per_s = (generator["accepted"] + overload.requests - overload.shed
                        - overload.failures - overload.unfinished) / max(args.overload_s, 1e-9)
        ratio = generator["offered_calls_per_s"] / max(served_per_s, 1e-9)
        details["generator"]["served_calls_per_s"] = round(served_per_s, 1)
        details["generator"]["offered_over_served"] = round(ratio, 2)
        checks.append(Check(f"offered >= {MIN_OVERLOAD_RATIO:g}x what the server served",
                            ratio >= MIN_OVERLOAD_RATIO,
                            f"{generator['offered_calls_per_s']} calls/s offered, "
                            f"{served_per_s:.1f} served during the overload: {ratio:.2f}x"))
        capacity = details["capacity"]["calls_per_s"]
        goodput = served_per_s / max(capacity, 1e-9)
        details["generator"]["served_over_capacity"] = round(goodput, 2)
        checks.append(Check(f"the server kept serving >= {MIN_GOODPUT_SHARE:.0%} of its "
                            "capacity while overloaded",
                            goodput >= MIN_GOODPUT_SHARE,
                            f"{served_per_s:.1f} calls/s served, {capacity} measured before "
                            f"the load: {goodput:.2f}x"))
        shed = generator["shed"] + overload.shed
        checks.append(Check("the server shed the excess", shed > 0,
                            f"{generator['shed']} generated and {overload.shed} user calls "
                            f"shed"))
        deadline_ms = (args.deadline_s + _HUNG_SLACK_S) * 1000.0
        user_deadline_ms = ctx.options.request_timeout_s * 1000.0
        slowest_user = max((r.latency_ms for r in result.records), default=0.0)
        checks.append(Check(
            "no call hung past its deadline",
            generator["failed"] == 0 and generator["max_ms"] <= deadline_ms
            and slowest_user <= user_deadline_ms,
            f"generator: slowest {generator['max_ms']:.0f} ms (bound {deadline_ms:.0f}), "
            f"{generator['failed']} failed; users: slowest {slowest_user:.0f} ms (bound "
            f"{user_deadline_ms:.0f})"))
        target_ms = targets_for(load_targets(getattr(args, "targets", None)),
                                ctx.options.model).p99_ms
        origin = ctx.load.started_at_s if ctx.load is not None else 0.0
        accepted = [r.latency_ms for r in result.records if r.outcome is Outcome.OK
                    and origin + overload.start_s <= r.started_at_s < origin + overload.end_s]
        p99 = float(np.percentile(np.asarray(accepted), 99)) if accepted else None
        details["users_accepted_p99_ms_during_overload"] = None if p99 is None else round(p99, 1)
        checks.append(Check("p99 of accepted user calls during the overload met the target",
                            p99 is not None and p99 <= target_ms,
                            f"p99 {'n/a' if p99 is None else f'{p99:.1f}'} ms, target "
                            f"{target_ms:g} ms, {len(accepted)} accepted"))
        memory = details["memory"]
        limit_mib = memory["rss_before_mib"] * args.max_memory_growth
        checks.append(Check("the server kept running with bounded memory",
                            details["server_running_after"] and result.phase("after").requests > 0
                            and memory["rss_peak_mib"] <= limit_mib,
                            f"RSS {memory['rss_before_mib']} MiB before, peak "
                            f"{memory['rss_peak_mib']} MiB (limit {limit_mib:.0f} MiB)"))
        before = result.phase("before")
        level = _RECOVERY_SHARE * _completion_rate(
            result.records, origin + before.start_s, origin + before.end_s)
        overload_end = origin + overload.end_s
        recovered = _recovery_s(result.records, overload_end, level,
                                origin + result.phase("after").end_s - overload_end)
        details["recovery_s"] = recovered
        checks.append(Check(f"throughput recovered within {RECOVERY_LIMIT_S:g} s",
                            recovered is not None and recovered <= RECOVERY_LIMIT_S,
                            f"{'never' if recovered is None else f'{recovered:.2f} s'} to "
                            f"{level:.0f} answers/s ({_RECOVERY_SHARE:.0%} of before)"))
        checks.append(Check("no user call failed or was left unfinished (shed ones apart)",
                            result.total.failures == 0 and result.total.unfinished == 0,
                            f"{result.total.failures} failed, {result.total.unfinished} "
                            f"unfinished, {result.total.shed} shed"))
        return checks

