"""The ``failover`` drill: replicas behind HAProxy lose one, then another, under load.

::

    python -m loadtests drill failover --replicas 2 --model recommendation --protocol grpc \
        --users 8 --duration 60s --report-dir DIR

It starts ``--replicas`` embedded Triton servers behind HAProxy (``serving.ReplicaSet``)
and sends the load to the balancer. Six equal phases:

1. ``steady``: every replica serves;
2. ``sigkill replica-1``: replica-1's process group gets SIGKILL (a crash);
3. ``restart replica-1``: it starts again on its ports and rejoins once healthy;
4. ``sigterm replica-2``: replica-2 is stopped the way ``serve`` stops a replica:
   drained in the balancer (no new request, those in flight finish), then SIGTERM;
5. ``restart replica-2``: it starts again and rejoins;
6. ``recovered``: every replica serves again.

Restart phases last as long as the restart takes plus half a segment; the last phase
gets what remains of the load. The report gives requests, failures, retries and p99
per phase as the users saw them, the balancer's own retries and redispatches per phase,
how long the balancer took to stop sending to the dead replica, and how long each
restarted replica took to serve again. It passes only if the users saw no failed (or
shed) request.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from loadtests.drills import Check, Drill, DrillContext, DrillResult, default_checks, register
from loadtests.errors import DrillError
from loadtests.runner import Endpoints
from loadtests.server_stats import model_counters

__all__ = ["DEAD_REPLICA_OUT_LIMIT_S", "Failover", "needed_models"]

DEAD_REPLICA_OUT_LIMIT_S = 5.0
"""A dead replica must be out of the balancer within this many seconds."""

_SEGMENTS = 7  # steady, kill and sigterm get one each; the rest is shared
_POLL_S = 0.05
_SERVE_AGAIN_TIMEOUT_S = 60.0


def needed_models(repository: Path, model: str) -> list[str]:
    """``model`` and, for an ensemble, the models its steps call.

    Raises:
        DrillError: The model has no folder in ``repository``.
    """
    from generator.layout import load_config

    path = repository / model / "config.pbtxt"
    if not path.is_file():
        raise DrillError(f"--model: {model!r} has no config.pbtxt in {repository}")
    config = load_config(path)
    steps = [step.model_name for step in config.ensemble_scheduling.step]
    return list(dict.fromkeys([model, *steps]))


def _balancer_counts(replicas: Any) -> dict[str, int]:
    stats = replicas.balancer.server_stats()
    return {"retries": sum(s.retries for s in stats),
            "redispatches": sum(s.redispatches for s in stats)}


@register
class Failover(Drill):
    """Kill one replica, restart it; stop another (drain + SIGTERM), restart it."""

    name = "failover"
    summary = "replicas behind HAProxy: SIGKILL one, SIGTERM another, under load; nothing lost"
    description = ("Start --replicas embedded Triton servers behind HAProxy and load the "
                   "balancer. Kill replica-1 (SIGKILL) and restart it, then stop replica-2 "
                   "(drain, SIGTERM) and restart it. Passes only if no user call failed.")
    default_users = 8
    default_duration_s = 60.0
    per_phase_server_stats = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """``--replicas``, ``--haproxy`` and ``--check-interval-ms``."""
        parser.add_argument("--replicas", type=int, default=2,
                            help="Triton replicas behind the balancer (2-16, default 2)")
        parser.add_argument("--haproxy", type=Path, default=None, metavar="PATH",
                            help="haproxy binary (default: on PATH)")
        parser.add_argument("--check-interval-ms", type=int, default=500,
                            help="interval of HAProxy's health checks (default 500)")

    def configure(self, ctx: DrillContext) -> None:
        """Refuse ``--host`` (the drill runs its own replicas) and a bad replica count."""
        if ctx.options.host is not None:
            raise DrillError("--host: the failover drill starts its own replicas and "
                             "balancer; leave --host out")
        replicas = ctx.args.replicas
        if not isinstance(replicas, int) or not 2 <= replicas <= 16:
            raise DrillError(f"--replicas: must be 2-16, got {replicas!r}")
        if ctx.args.check_interval_ms < 10:
            raise DrillError(f"--check-interval-ms: must be >= 10, got "
                             f"{ctx.args.check_interval_ms}")

    @contextmanager
    def serve(self, ctx: DrillContext) -> Iterator[Endpoints]:
        """Start the replicas and HAProxy; yield the balancer's endpoint."""
        from serving import ReplicaSet, ServingError

        options = ctx.options
        models = needed_models(options.repository, options.model)
        ctx.log(f"starting {ctx.args.replicas} replicas of {models} behind HAProxy ...")
        replicas = ReplicaSet(
            options.repository, replicas=ctx.args.replicas, models=models,
            balancer_options={"haproxy": ctx.args.haproxy,
                              "check_interval_ms": ctx.args.check_interval_ms},
        )
        try:
            replicas.start()
        except ServingError as exc:
            raise DrillError(f"replicas: {exc}") from exc
        ctx.server = replicas
        try:
            balancer = replicas.balancer
            host = balancer.grpc_url if options.protocol == "grpc" else balancer.http_url
            ctx.details["balancer"] = {"http_url": balancer.http_url,
                                       "grpc_url": balancer.grpc_url,
                                       "stats_url": balancer.stats_url}
            ctx.log(f"balancer ready: {host}")
            yield Endpoints(host, None, None)
        finally:
            replicas.stop()
            ctx.log("replicas and balancer stopped")

    def run(self, ctx: DrillContext) -> None:
        """Play the six phases (see the module documentation)."""
        assert ctx.load is not None
        replicas = ctx.server
        load = ctx.load
        segment_s = load.remaining_s() / _SEGMENTS
        model = ctx.options.model
        first, second = replicas.names[0], replicas.names[1]
        per_phase: list[dict[str, Any]] = []

        def phase(name: str) -> Any:
            per_phase.append({"phase": name, "before": _balancer_counts(replicas)})
            return ctx.timeline.phase(name)

        # The last phase keeps at least one segment, however long the restarts take.
        last_phase_at = time.monotonic() + load.remaining_s() - segment_s

        def hold_until(end_s: float) -> None:
            ctx.hold(max(0.0, min(end_s, last_phase_at) - time.monotonic()))

        def restart(name: str) -> None:
            started = time.monotonic()
            with ctx.timeline.timed(f"restart {name}", kind="restart") as step:
                times = replicas.restart(name)
                url = replicas.server(name).http_url
                while model_counters(url, model, timeout_s=2.0).counts["success"] == 0:
                    if time.monotonic() - started > times.in_balancer_s + _SERVE_AGAIN_TIMEOUT_S:
                        step["ok"] = False
                        break
                    time.sleep(_POLL_S)
            serving_s = time.monotonic() - started
            ctx.details[f"{name}_restart"] = {
                "triton_ready_s": round(times.ready_s, 3),
                "health_checks_passed_s": round(times.in_balancer_s, 3),
                "first_answer_s": round(serving_s, 3),
            }
            ctx.check(f"restarted {name} takes traffic again", step.get("ok", True),
                      f"first answer {serving_s:.2f} s after the restart began (Triton ready "
                      f"after {times.ready_s:.2f} s, health checks passed after "
                      f"{times.in_balancer_s:.2f} s)")

        # Restart phases last as long as the restart takes, plus half a segment.
        end = time.monotonic()
        with phase("steady"):
            end += segment_s
            hold_until(end)
        with phase(f"sigkill {first}"):
            end += segment_s
            ctx.timeline.mark(f"SIGKILL {first}", kind="kill")
            replicas.kill(first)
            out_s = replicas.balancer.wait_down(first, 30.0)
            ctx.details["dead_replica_out_s"] = round(out_s, 3)
            ctx.check("balancer stopped sending to the dead replica",
                      out_s <= DEAD_REPLICA_OUT_LIMIT_S,
                      f"marked down {out_s:.2f} s after SIGKILL "
                      f"(limit {DEAD_REPLICA_OUT_LIMIT_S:g} s)")
            hold_until(end)
        with phase(f"restart {first}"):
            restart(first)
            end = time.monotonic() + segment_s / 2
            hold_until(end)
        with phase(f"sigterm {second}"):
            end += segment_s
            with ctx.timeline.timed(f"drain + SIGTERM {second}", kind="stop"):
                drained_s = replicas.stop_replica(second)
            ctx.details["drain_s"] = round(drained_s, 3)
            hold_until(end)
        with phase(f"restart {second}"):
            restart(second)
            end = time.monotonic() + segment_s / 2
            hold_until(end)
        with phase("recovered"):
            load.hold_until_end()
        final = _balancer_counts(replicas)
        rows = []
        for index, item in enumerate(per_phase):
            after = per_phase[index + 1]["before"] if index + 1 < len(per_phase) else final
            rows.append({"phase": item["phase"],
                         **{k: after[k] - item["before"][k] for k in after}})
        ctx.details["balancer_per_phase"] = rows
        ctx.details["balancer_retries"] = final["retries"]
        ctx.details["balancer_redispatches"] = final["redispatches"]

    def checks(self, ctx: DrillContext, result: DrillResult) -> list[Check]:
        """The default checks (nothing failed or shed) plus: every phase had traffic."""
        checks = default_checks(result)
        idle = [p.name for p in result.phases if p.requests == 0]
        checks.append(Check("every phase had traffic", not idle,
                            f"no request in {idle}" if idle else f"{len(result.phases)} phases"))
        return checks
