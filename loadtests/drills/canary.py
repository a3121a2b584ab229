"""The ``canary`` drill: a canary release under steady load, promoted or rolled back by itself.

::

    python -m loadtests drill canary --model recommendation --to-version 2 \
        --protocol grpc --case good|slow|wrong --duration 60s --report-dir DIR

It starts ``--replicas`` embedded Triton servers (explicit model control) behind
HAProxy on a temporary copy of the model, makes ``--from-version`` (default: the
highest below ``--to-version``) the only served version, and runs
:class:`serving.release.canary.CanaryController` under unpinned load on the balancer.

- ``good``: the canary goes to ``--to-version``; it must be promoted with 0 failed requests.
- ``slow``: the drill builds version ``V+1`` from ``V``: the same graph plus a chain
  of matrix products on zeros whose sum (0) is added to the scores, so the outputs are
  V's and only compute time grows. It must be rolled back by the latency check.
- ``wrong``: version ``V+1`` is V with its item factors negated; its golden file is
  computed from the wrong model itself (as training a wrong model would), so it passes
  the smoke check, and the outputs on V's validation entries catch it. It must be rolled
  back by the outputs check.

Phases: ``baseline``, one ``step-P%`` per traffic step, then ``promoted`` or
``rolled-back``. ``details`` give the controller's report (every decision with its
figures), per step: requests, failures, p99 and the new version's share of answers,
how many requests the bad version answered, and the time to decide.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from loadtests.drills import Check, Drill, DrillContext, DrillResult, default_checks, register
from loadtests.errors import DrillError
from loadtests.runner import Endpoints

__all__ = ["CASES", "Canary", "build_bad_version"]

CASES = ("good", "slow", "wrong")
_SLOW_WIDTH = 512
_SLOW_PRODUCTS = 160
_VALIDATION_USERS = (0, 1, 2, 3, 10**12)


def _session_outputs(path: Path, user_ids: npt.NDArray[Any]) -> dict[str, npt.NDArray[Any]]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {"user_id": user_ids}), strict=True))


def _slow_graph(model: Any) -> None:
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    topk = next(n for n in graph.node if n.op_type == "TopK")
    index = list(topk.output).index("scores")
    topk.output[index] = "scores_fast"
    graph.initializer.extend([
        numpy_helper.from_array(np.zeros((1, _SLOW_WIDTH), np.float32), "slow_row"),
        numpy_helper.from_array(np.full((_SLOW_WIDTH, _SLOW_WIDTH), 1e-3, np.float32),
                                "slow_weights"),
        numpy_helper.from_array(np.zeros((), np.float32), "slow_zero"),
    ])
    nodes = [helper.make_node("Cast", ["user_id"], ["slow_id"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["slow_id", "slow_zero"], ["slow_nil"]),
             helper.make_node("Add", ["slow_nil", "slow_row"], ["slow_0"])]
    for step in range(_SLOW_PRODUCTS):
        nodes.append(helper.make_node("MatMul", [f"slow_{step}", "slow_weights"],
                                      [f"slow_{step + 1}"]))
    nodes += [helper.make_node("ReduceSum", [f"slow_{_SLOW_PRODUCTS}"], ["slow_sum"],
                               keepdims=1),
              helper.make_node("Mul", ["slow_sum", "slow_zero"], ["slow_delay"]),
              helper.make_node("Add", ["scores_fast", "slow_delay"], ["scores"])]
    graph.node.extend(nodes)


def build_bad_version(repository: Path, model: str, from_version: int, case: str) -> int:
    """Write version ``max+1`` of ``model``, built from ``from_version`` for ``case``.

    Returns:
        The new version number.

    Raises:
        DrillError: An unknown case.
    """
    import onnx

    from serving.release import GoldenSet, golden_path, load_golden, write_golden
    from serving.release.golden import GoldenTensor

    if case not in ("slow", "wrong"):
        raise DrillError(f"--case: only slow and wrong build a version, got {case!r}")
    folder = repository / model
    version = max(int(p.name) for p in folder.iterdir() if p.name.isdigit()) + 1
    source = load_golden(golden_path(repository, model, from_version))
    onnx_model = onnx.load(str(folder / str(from_version) / "model.onnx"))
    if case == "slow":
        _slow_graph(onnx_model)
    else:
        for tensor in onnx_model.graph.initializer:
            if tensor.name == "item_factors_t":
                tensor.CopyFrom(onnx.numpy_helper.from_array(
                    -onnx.numpy_helper.to_array(tensor), tensor.name))
    onnx.checker.check_model(onnx_model)
    target = folder / str(version)
    target.mkdir()
    onnx.save(onnx_model, str(target / "model.onnx"))
    cases = []
    for golden_case in source.cases:
        ids = golden_case.inputs["user_id"].to_numpy()
        produced = _session_outputs(target / "model.onnx", ids)
        outputs = {n: GoldenTensor.from_numpy(produced[n]) for n in golden_case.outputs}
        cases.append(type(golden_case)(golden_case.name, golden_case.inputs, outputs))
    write_golden(golden_path(repository, model, version),
                 GoldenSet(model, version, tuple(cases), source.rtol, source.atol))
    config = folder / "config.pbtxt"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace(f"versions: {from_version}\n",
                                   f"versions: {from_version}\n    versions: {version}\n", 1),
                      encoding="utf-8")
    return version


@register
class Canary(Drill):
    """A canary release (good, slower or wrong version) under steady load."""

    name = "canary"
    summary = "canary release under load: a good version promoted, a slow or wrong one " \
              "rolled back"
    description = ("Start --replicas embedded Triton servers behind HAProxy, serve "
                   "--from-version, and run a canary of --to-version (good) or of a version "
                   "the drill builds from it (slow: added compute, wrong: other outputs). "
                   "Passes if good is promoted, slow and wrong are rolled back, and no "
                   "request failed.")
    default_users = 8
    default_duration_s = 60.0
    per_phase_server_stats = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """``--to-version``, ``--from-version``, ``--case``, steps, interval, replicas."""
        parser.add_argument("--to-version", type=int, required=True)
        parser.add_argument("--from-version", type=int, default=None,
                            help="baseline (default: the highest version below --to-version)")
        parser.add_argument("--case", choices=CASES, default="good")
        parser.add_argument("--steps", default="25,50,100")
        parser.add_argument("--interval", type=float, default=4.0,
                            help="analysis window per step, seconds (default 4)")
        parser.add_argument("--replicas", type=int, default=2)
        parser.add_argument("--max-latency-ratio", type=float, default=1.5)
        parser.add_argument("--latency-slack-ms", type=float, default=2.0)

    def configure(self, ctx: DrillContext) -> None:
        """Check the options and find the baseline."""
        from serving.release.canary import parse_steps
        from serving.release.errors import ReleaseInputError

        args = ctx.args
        if ctx.options.host is not None:
            raise DrillError("--host: the canary drill starts its own replicas; leave it out")
        if not 2 <= args.replicas <= 16:
            raise DrillError(f"--replicas: must be 2-16, got {args.replicas}")
        try:
            parse_steps(args.steps)
        except ReleaseInputError as error:
            raise DrillError(f"--steps: {error}") from error
        folder = ctx.options.repository / ctx.options.model
        present = sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) \
            if folder.is_dir() else []
        if args.to_version not in present:
            raise DrillError(f"--to-version: {folder} has no version {args.to_version}")
        below = [v for v in present if v < args.to_version]
        baseline = args.from_version or (below[-1] if below else None)
        if args.case != "good":
            baseline = args.from_version or args.to_version
        if baseline is None or baseline not in present:
            raise DrillError(f"--from-version: no baseline version in {folder} {present}")
        ctx.details["from_version"] = baseline

    @contextmanager
    def serve(self, ctx: DrillContext) -> Iterator[Endpoints]:
        """A copy of the model (with the bad version), replicas and the balancer."""
        from serving import ServingError
        from serving.replicas import ReplicaSet

        options, args = ctx.options, ctx.args
        workdir = Path(tempfile.mkdtemp(prefix="drill-canary-"))
        try:
            repository = workdir / "repository"
            shutil.copytree(options.repository / options.model, repository / options.model)
            target = args.to_version
            if args.case != "good":
                target = build_bad_version(repository, options.model, args.to_version,
                                           args.case)
                ctx.log(f"built version {target} ({args.case}) from version {args.to_version}")
            ctx.details.update(target_version=target, case=args.case)
            replicas = ReplicaSet(repository, replicas=args.replicas, models=[options.model],
                                  model_control_mode="explicit")
            try:
                replicas.start()
            except ServingError as exc:
                raise DrillError(f"replicas: {exc}") from exc
            ctx.server = {"replicas": replicas, "repository": repository}
            try:
                balancer = replicas.balancer
                host = balancer.grpc_url if options.protocol == "grpc" else balancer.http_url
                yield Endpoints(host, None, None)
            finally:
                replicas.stop()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _apis(self, ctx: DrillContext) -> list[Any]:
        from serving import ADMIN_HEADER
        from serving.release import RepositoryApi

        replicas = ctx.server["replicas"]
        apis = []
        for name in replicas.names:
            server = replicas.server(name)
            apis.append(RepositoryApi(server.grpc_url, {ADMIN_HEADER: server.admin_key}))
        return apis

    def prepare(self, ctx: DrillContext) -> None:
        """The baseline serves alone on every replica."""
        from serving.release import ReleaseController

        baseline = int(ctx.details["from_version"])
        for api in self._apis(ctx):
            with api:
                ReleaseController(api, ctx.server["repository"],
                                  ready_timeout_s=60.0).rollout(ctx.options.model, baseline)
        ctx.log(f"version {baseline} serves alone on every replica")

    def _validation(self, ctx: DrillContext) -> Any:
        from serving.release.canary import validation_set

        model, version = ctx.options.model, ctx.args.to_version
        path = ctx.options.repository / model / str(version) / "model.onnx"
        entries = []
        for user in _VALIDATION_USERS:
            ids = np.array([[user]], dtype=np.int64)
            outputs = _session_outputs(path, ids)
            entries.append(({"user_id": ids[0]}, {k: v[0] for k, v in outputs.items()}))
        return validation_set(model, int(ctx.details["target_version"]), entries, True)

    def run(self, ctx: DrillContext) -> None:
        """Baseline phase, then the canary; the phases follow its decisions."""
        from loadtests.targets import load_targets, targets_for
        from serving.release.canary import (
            BalancerWeights,
            CanaryController,
            CanaryDecision,
            CanaryReplica,
            parse_steps,
        )
        from serving.release.canary_verdict import CanaryThresholds

        assert ctx.load is not None
        args, model = ctx.args, ctx.options.model
        replicas = ctx.server["replicas"]
        targets = targets_for(load_targets(getattr(args, "targets", None)), model)
        thresholds = CanaryThresholds(
            max_error_ratio=targets.max_error_ratio, max_p99_ms=targets.p99_ms,
            max_latency_ratio=args.max_latency_ratio, latency_slack_ms=args.latency_slack_ms)
        with ctx.timeline.phase("baseline"):
            ctx.hold(min(5.0, ctx.load.remaining_s() / 6))

        def follow(decision: CanaryDecision) -> None:
            ctx.log(f"canary {decision.action} {decision.step_percent or ''} "
                    f"{decision.detail[:220]}")
            if decision.action == "weights" and decision.step_percent is not None:
                ctx.timeline.end_phase()
                ctx.timeline.start_phase(f"step-{decision.step_percent}%")
            elif decision.action == "weights" and decision.detail.startswith("rollback"):
                ctx.timeline.end_phase()
                ctx.timeline.start_phase("rolled-back")
            elif decision.action == "weights" and "restored: every replica" in decision.detail:
                ctx.timeline.end_phase()
                ctx.timeline.start_phase("promoted")

        apis = self._apis(ctx)
        infos = {info.name: info for info in replicas.info()}
        members = [CanaryReplica(name, api, infos[name].metrics_url)
                   for name, api in zip(replicas.names, apis, strict=True)]
        try:
            report = CanaryController(
                model, int(ctx.details["target_version"]), members, [replicas.names[0]],
                BalancerWeights(replicas.balancer.api), ctx.server["repository"],
                steps=parse_steps(args.steps), interval_s=args.interval,
                thresholds=thresholds, validation=self._validation(ctx),
                ready_timeout_s=60.0, on_decision=follow).run()
        finally:
            for api in apis:
                api.close()
        ctx.details["canary"] = report.as_dict()
        ctx.hold(min(3.0, ctx.load.remaining_s()))
        ctx.timeline.end_phase()
        ctx.hold(ctx.load.remaining_s() + 0.0)

    def checks(self, ctx: DrillContext, result: DrillResult) -> list[Check]:
        """The default checks, the expected outcome, and the per-step figures."""
        checks = default_checks(result)
        canary = ctx.details.get("canary", {})
        target = str(ctx.details.get("target_version"))
        case = ctx.details.get("case")
        expected = {"good": ("promoted", None), "slow": ("rolled_back", "latency"),
                    "wrong": ("rolled_back", "outputs")}[str(case)]
        checks.append(Check(f"{case} version {expected[0]}",
                            canary.get("outcome") == expected[0]
                            and canary.get("failed_check") == expected[1],
                            f"outcome {canary.get('outcome')}, failed check "
                            f"{canary.get('failed_check')}: {canary.get('reason', '')[:300]}"))
        steps = []
        for phase in result.phases:
            answered = sum(phase.versions.values())
            steps.append({"phase": phase.name, "requests": phase.requests,
                          "failures": phase.failures, "p99_ms": phase.p99_ms,
                          "new_version_share": round(phase.versions.get(target, 0)
                                                     / answered, 4) if answered else None})
        ctx.details["steps"] = steps
        bad = result.total.versions.get(target, 0) if case != "good" else None
        ctx.details["summary"] = {
            "requests": result.total.requests, "failures": result.total.failures,
            "new_version_answers": result.total.versions.get(target, 0),
            "new_version_share": round(result.total.versions.get(target, 0)
                                       / max(1, sum(result.total.versions.values())), 4),
            "bad_version_answers_before_rollback": bad,
            "decided_after_s": canary.get("decided_after_s")}
        return checks
