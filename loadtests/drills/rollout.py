"""The ``rollout`` drill: roll a version out, back, and refuse a broken one, under load.

::

    python -m loadtests drill rollout --model recommendation --from-version 1 \
        --to-version 2 --protocol grpc --users 8 --duration 60s --report-dir DIR [--host URL]

Without ``--host`` it serves a temporary copy of ``--repository`` on the embedded
Triton in explicit model-control mode; the copy gets a deliberately broken version
(``--broken-version``, default one above the highest: a corrupt ``model.onnx`` beside a
golden file). With ``--host`` the server must run in explicit mode
(``serve --model-control explicit`` or ``deploy/compose.release.yml``); the admin key
comes from ``--admin-key-file``, ``$TRITON_ADMIN_KEY_FILE`` or ``$TRITON_ADMIN_KEY``,
the repository API is called at ``--admin-url`` (default ``--host``; prefer the gRPC
URL), and the broken version is one the server cannot load (no folder, unless you put
a corrupt one there). The embedded server's repository API is always called over gRPC.

Phases (the load runs unpinned through all of them)::

    steady-on-FROM | rollout-to-TO | steady-on-TO | rollback-to-FROM | steady-on-FROM-again
    | refused-rollout-to-BROKEN | steady-after-refusal

It passes only if no request failed or was shed (as the users saw it and as Triton's
statistics counted it), the rollout and the rollback completed, the broken rollout was
refused with FROM restored, and each steady phase was answered only by its version.
``report.json`` ``details`` give each switch's steps and durations and the p99 of the
switch phases against the steady p99 (the goal is at most 3x).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from loadtests.drills import Check, Drill, DrillContext, DrillResult, default_checks, register
from loadtests.errors import DrillError
from loadtests.records import Outcome
from loadtests.runner import Endpoints
from loadtests.server_stats import StatsAccumulator

__all__ = ["Rollout", "add_broken_version"]

_SWITCH_P99_GOAL = 3.0
_BROKEN_BYTES = b"this is not an ONNX model: the rollout drill's deliberately broken version\n"


def add_broken_version(repository: Path, model: str, version: int, like_version: int) -> None:
    """Give ``model`` a version folder whose model file is corrupt, with a golden file.

    The golden file is ``like_version``'s, renamed to ``version``, so the release
    controller gets past its input checks and the server's load is what fails.
    """
    from serving.release import golden_path, load_golden, write_golden

    folder = repository / model / str(version)
    folder.mkdir(parents=True, exist_ok=False)
    (folder / "model.onnx").write_bytes(_BROKEN_BYTES)
    golden = load_golden(golden_path(repository, model, like_version))
    write_golden(golden_path(repository, model, version),
                 type(golden)(model, version, golden.cases, golden.rtol, golden.atol))


@register
class Rollout(Drill):
    """Rollout, rollback and a refused broken rollout under unpinned load."""

    name = "rollout"
    summary = "roll a model version out, back, and refuse a broken one, under load"
    description = ("Under unpinned load for --duration: roll out --to-version, roll back to "
                   "--from-version, then try a deliberately broken version, which must be "
                   "refused and rolled back. Passes only if no request failed and every step "
                   "went as planned.")
    default_users = 8
    default_duration_s = 60.0
    _stats: StatsAccumulator

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The versions, the broken version and the admin key file."""
        parser.add_argument("--from-version", type=int, required=True,
                            help="version serving at the start, and after the rollback")
        parser.add_argument("--to-version", type=int, required=True,
                            help="version rolled out")
        parser.add_argument("--broken-version", type=int, default=None,
                            help="version whose rollout must be refused (default: one above "
                            "the highest version folder)")
        parser.add_argument("--admin-key-file", type=Path, default=None, metavar="PATH",
                            help="with --host: file holding the admin key (else "
                            "$TRITON_ADMIN_KEY_FILE or $TRITON_ADMIN_KEY)")
        parser.add_argument("--admin-url", default=None, metavar="URL",
                            help="with --host: where the release controller calls the "
                            "repository API, grpc://HOST:PORT (preferred: a load call holds an "
                            "HTTP worker thread) or http://HOST:PORT (default: --host)")
        parser.add_argument("--release-timeout-s", type=float, default=60.0,
                            help="bound on each version becoming READY (default 60)")

    def configure(self, ctx: DrillContext) -> None:
        """Check the versions and find the broken one."""
        args = ctx.args
        for name in ("from_version", "to_version"):
            if getattr(args, name) < 1:
                raise DrillError(f"--{name.replace('_', '-')} must be >= 1")
        if args.from_version == args.to_version:
            raise DrillError("--from-version and --to-version must differ")
        folder = ctx.options.repository / ctx.options.model
        if not folder.is_dir():
            raise DrillError(f"--repository: {folder} is not a model folder (the controller "
                             "reads golden files from it)")
        present = [int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit()]
        for name in ("from_version", "to_version"):
            if getattr(args, name) not in present:
                raise DrillError(f"--{name.replace('_', '-')}: {folder} has no version "
                                 f"{getattr(args, name)}")
        broken = args.broken_version or max(present) + 1
        if broken in present:
            raise DrillError(f"--broken-version {broken} is a real version in {folder}")
        ctx.details["broken_version"] = broken

    @contextmanager
    def serve(self, ctx: DrillContext) -> Iterator[Endpoints]:
        """A temporary copy of the repository with the broken version; explicit mode."""
        from serving import ADMIN_HEADER, ServingError, TritonServer
        from serving.release import RepositoryApi, admin_headers

        options, args = ctx.options, ctx.args
        workdir = Path(tempfile.mkdtemp(prefix="drill-rollout-"))
        try:
            repository = workdir / "repository"
            shutil.copytree(options.repository, repository)
            broken = int(ctx.details["broken_version"])
            add_broken_version(repository, options.model, broken, args.to_version)
            if options.host is not None:
                stats_url = options.stats_url or (
                    options.host if options.host.startswith(("http://", "https://")) else None)
                if stats_url is None:
                    raise DrillError("with a grpc --host, give the server's HTTP URL as "
                                     "--stats-url: Triton's statistics are read over HTTP")
                headers = admin_headers(os.environ, args.admin_key_file)
                api = RepositoryApi(args.admin_url or options.host, headers)
                ctx.server = {"api": api, "repository": repository}
                yield Endpoints(options.host, stats_url, options.metrics_url)
                return
            ctx.log(f"serving a copy of {options.repository} in explicit model-control mode, "
                    f"with a broken version {broken}")
            try:
                server = TritonServer(repository, model_control_mode="explicit").__enter__()
            except ServingError as exc:
                raise DrillError(f"embedded server: {exc}") from exc
            try:
                assert server.admin_key is not None
                # gRPC: a load call over HTTP would hold an HTTP worker thread for seconds.
                api = RepositoryApi(server.grpc_url, {ADMIN_HEADER: server.admin_key})
                ctx.server = {"api": api, "repository": repository, "triton": server}
                host = server.http_url if options.protocol == "http" else server.grpc_url
                yield Endpoints(host, server.http_url, server.metrics_url)
            finally:
                server.__exit__(None, None, None)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _controller(self, ctx: DrillContext) -> Any:
        from serving.release import ReleaseController

        def log_step(step: Any) -> None:
            ctx.log(f"  {'ok  ' if step.ok else 'FAIL'} {step.name:<7} "
                    f"{step.duration_s * 1000:7.0f} ms  {step.detail.splitlines()[0][:160]}")
            self._stats.poll()

        return ReleaseController(ctx.server["api"], ctx.server["repository"],
                                 ready_timeout_s=ctx.args.release_timeout_s, on_step=log_step)

    def prepare(self, ctx: DrillContext) -> None:
        """Make --from-version the only served version; start Triton's statistics poll."""
        assert ctx.endpoints is not None and ctx.endpoints.stats_url is not None
        self._stats = StatsAccumulator(ctx.endpoints.stats_url, ctx.options.model)
        controller = self._controller(ctx)
        ctx.log(f"setup: version {ctx.args.from_version} serves alone")
        controller.rollout(ctx.options.model, ctx.args.from_version)
        self._stats.start()
        ctx.timeline.snapshot = self._stats.snapshot
        ctx.details["switches"] = []

    def _switch(self, ctx: DrillContext, label: str, to_version: int,
                expect_refusal: bool) -> None:
        from serving.release import RolloutRefusedError

        model, switches = ctx.options.model, ctx.details["switches"]
        controller = self._controller(ctx)
        ctx.log(f"{label} ...")
        with ctx.timeline.timed(label) as step:
            try:
                result = controller.rollout(model, to_version)
            except RolloutRefusedError as refused:
                entry = refused.result.as_dict() if refused.result is not None else {}
                entry.update(refused=True, reason=refused.reason.splitlines()[0][:300],
                             failed_step=refused.step, label=label)
                switches.append(entry)
                restored = refused.restored_version == ctx.args.from_version
                step["ok"] = expect_refusal and restored
                step["detail"] = f"refused at {refused.step}; restored {refused.restored_version}"
                ctx.check(f"{label}: refused and version {ctx.args.from_version} restored",
                          expect_refusal and restored, step["detail"])
                return
            switches.append({**result.as_dict(), "refused": False, "label": label})
            step["ok"] = not expect_refusal
            step["detail"] = f"{result.duration_s:.2f} s"
            ctx.check(f"{label}: {'refused' if expect_refusal else 'completed'}",
                      not expect_refusal, f"version {result.serving_version} serves after "
                      f"{result.duration_s:.2f} s")

    def run(self, ctx: DrillContext) -> None:
        """Steady, rollout, steady, rollback, steady, refused rollout, steady."""
        load = ctx.load
        assert load is not None
        first, target = ctx.args.from_version, ctx.args.to_version
        broken = int(ctx.details["broken_version"])
        hold_s = max(1.0, load.remaining_s() * 0.12)
        plan = [
            (f"rollout-to-{target}", f"rollout to v{target}", target, False,
             f"steady-on-{target}"),
            (f"rollback-to-{first}", f"rollback to v{first}", first, False,
             f"steady-on-{first}-again"),
            (f"refused-rollout-to-{broken}", f"rollout to broken v{broken}", broken, True,
             "steady-after-refusal"),
        ]
        try:
            with ctx.timeline.phase(f"steady-on-{first}"):
                load.hold(hold_s)
            for switch_phase, label, version, refusal, steady_phase in plan:
                with ctx.timeline.phase(switch_phase):
                    self._switch(ctx, label, version, refusal)
                ctx.timeline.start_phase(steady_phase)
                if steady_phase == "steady-after-refusal":
                    load.hold_until_end()
                else:
                    load.hold(hold_s)
        finally:
            ctx.timeline.end_phase()
            self._stats.stop()
            ctx.details["triton_stats_polls_failed"] = self._stats.polls_failed

    def checks(self, ctx: DrillContext, result: DrillResult) -> list[Check]:
        """No loss, each steady phase answered by its version, the switch p99 ratio."""
        checks = default_checks(result)
        first, target = str(ctx.args.from_version), str(ctx.args.to_version)
        broken = str(ctx.details.get("broken_version"))
        expected = {f"steady-on-{first}": first, f"steady-on-{target}": target,
                    f"steady-on-{first}-again": first, "steady-after-refusal": first}
        names = [p.name for p in result.phases]
        checks.append(Check("every phase happened", all(n in names for n in expected),
                            ", ".join(names)))
        assert ctx.load is not None
        origin = ctx.load.started_at_s
        for phase in result.phases:
            if phase.name not in expected:
                continue
            # By answer time: a call queued before a switch may be answered after it.
            answered = Counter(
                r.version or "unknown" for r in result.records
                if r.outcome == Outcome.OK
                and phase.start_s <= r.started_at_s + r.latency_ms / 1000 - origin < phase.end_s
            )
            others = {v: n for v, n in answered.items() if v != expected[phase.name]}
            detail = (f"answered in the phase: {json.dumps(dict(answered))}" if answered else
                      "no answer in this phase: --duration too short for the switches")
            checks.append(Check(f"{phase.name}: only version {expected[phase.name]} "
                                "answered", not others and bool(answered), detail))
        checks.append(Check(f"broken version {broken} never answered",
                            result.total.versions.get(broken, 0) == 0,
                            json.dumps(dict(result.total.versions))))
        server_failures = sum(p.server_failures or 0 for p in result.phases)
        counted = all(p.server_failures is not None for p in result.phases)
        checks.append(Check("no failure in Triton's statistics", counted and server_failures == 0,
                            f"{server_failures} failed" if counted else "statistics missing"))
        self._p99_ratio(ctx, result)
        return checks

    def _p99_ratio(self, ctx: DrillContext, result: DrillResult) -> None:
        assert ctx.load is not None
        origin = ctx.load.started_at_s
        steady = [p for p in result.phases if p.name.startswith("steady")]
        switch = [p for p in result.phases if not p.name.startswith("steady") and p.p99_ms]
        latencies = [
            r.latency_ms for r in result.records
            if r.outcome != Outcome.SHED
            and any(p.start_s <= r.started_at_s - origin < p.end_s for p in steady)
        ]
        if not latencies or not switch:
            return
        steady_p99 = float(np.percentile(latencies, 99))
        ratios = {p.name: round((p.p99_ms or 0.0) / steady_p99, 2) for p in switch}
        worst = max(switch, key=lambda p: p.p99_ms or 0.0)
        ctx.details["p99_steady_ms"] = round(steady_p99, 2)
        ctx.details["p99_switch_ms"] = {p.name: round(p.p99_ms or 0.0, 2) for p in switch}
        ctx.details["p99_switch_over_steady"] = ratios
        ctx.details["p99_worst_switch_over_steady"] = ratios[worst.name]
        ctx.details["p99_switch_goal"] = _SWITCH_P99_GOAL
        ctx.notes.append(
            f"p99 during switches / steady p99 ({steady_p99:.1f} ms): "
            + ", ".join(f"{name} {ratio:.2f}" for name, ratio in ratios.items())
            + f" (goal <= {_SWITCH_P99_GOAL:g})"
        )
