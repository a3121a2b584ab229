"""Run a tuning session end to end: server, baseline, search, verification, report.

:class:`TrialRunner` turns a candidate into a measured :class:`TrialResult` (validate,
load with a ``config`` override, warm up, sweep); :func:`tune_model` drives a search on
an already running server inside a :class:`ConfigGuard`, so the model always ends in
the config it had before; :func:`run_tune` adds the embedded server, the report files
and the spec patch.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from tritonclient.grpc import model_config_pb2 as mc

from generator.layout import CONFIG_FILENAME
from generator.spec import QueuePolicy, TimeoutAction
from loadtests.calls import DataOptions, ModelCall, make_call
from loadtests.datasource import prepare_input_data
from loadtests.driver import LoopResult
from loadtests.errors import InputDataError, RunnerError
from loadtests.models import check_model_name
from loadtests.targets import Measured, evaluate_targets, load_targets, targets_for
from loadtests.tune.checks import CandidateChecker
from loadtests.tune.control import (
    ConfigGuard,
    ModelController,
    apply_candidate,
    candidate_from_config,
)
from loadtests.tune.errors import CandidateError, ModelControlError, TuneError
from loadtests.tune.measure import LoadProbe
from loadtests.tune.patch import apply_patch, build_patch
from loadtests.tune.report import HeadToHead, TuneReport, Verification, write_tune_report
from loadtests.tune.search import SEARCH_STRATEGIES, SearchOutcome, pick_winner, run_search
from loadtests.tune.space import Candidate, HostInfo, detect_host, host_space
from loadtests.tune.sweep import (
    DEFAULT_CONCURRENCIES,
    TrialResult,
    failed_trial,
    summarize_trial,
    sweep_concurrency,
)
from serving import ADMIN_HEADER, ServerStartError, TritonServer

__all__ = ["EXIT_NOT_MET", "EXIT_OK", "TrialRunner", "TuneOptions", "run_tune", "tune_model"]

EXIT_OK = 0
"""A winner was found and its final run met every target."""
EXIT_NOT_MET = 1
"""No configuration met the target, or the winner's final run missed a target."""

PROTOCOLS: tuple[str, ...] = ("grpc", "http")


@dataclass(frozen=True)
class TuneOptions:
    """Settings of one tuning session (see ``python -m loadtests tune --help``).

    Attributes:
        model: Model to tune: any non-ensemble model the server serves.
        p99_ms: The p99 latency target, milliseconds.
        report_dir: Folder for report.json, report.md and trials.png.
        protocol: ``grpc`` or ``http`` for the load.
        search: ``quick`` or ``brute``.
        max_trials: Trial budget (default: half the grid for quick, the grid for brute).
        compare_brute_force: Also run the other strategy and report both.
        write_spec_patch: Spec file to apply the winner's patch to.
        host: Server URL; None starts the embedded server in explicit mode.
        stats_url: Triton HTTP URL for statistics and model control (default: ``host``
            when it is http, the embedded server's otherwise).
        repository: Model repository for the embedded server and the validator.
        admin_key_file: File holding a remote server's admin key.
        gpus: GPUs of the serving host (default: detected; 0 for the embedded server).
        concurrencies: Client concurrencies swept per trial.
        step_s: Length of each concurrency step, seconds.
        warmup_s: Unmeasured load after each load, seconds.
        verify_s: Length of the final verification run, seconds.
        targets: Latency-targets TOML (default: loadtests/targets.toml).
        instance_counts: Narrow the instance counts.
        dynamic_batching: Narrow batching to off and/or on.
        max_queue_delays_us: Narrow the queue delays.
        preferred_batch_sizes: Narrow the preferred-size sets.
        max_batch_sizes: Narrow the max_batch_size caps.
        queue_policies: Narrow the queue policies (None for none).
        data: Where the inputs come from (``--input-data``, ``--shape`` ...), as for
            ``run``; without any, a reference model's own call or generated inputs.
        export_input_data: Also write the inputs used here, in perf_analyzer's format.
    """

    model: str
    p99_ms: float
    report_dir: Path
    protocol: str = "grpc"
    search: str = "quick"
    max_trials: int | None = None
    compare_brute_force: bool = False
    write_spec_patch: Path | None = None
    host: str | None = None
    stats_url: str | None = None
    repository: Path = Path("model_repository")
    admin_key_file: Path | None = None
    gpus: int | None = None
    concurrencies: tuple[int, ...] = DEFAULT_CONCURRENCIES
    step_s: float = 1.5
    warmup_s: float = 1.0
    verify_s: float = 10.0
    targets: Path | None = None
    instance_counts: tuple[int, ...] | None = None
    dynamic_batching: tuple[bool, ...] | None = None
    max_queue_delays_us: tuple[int, ...] | None = None
    preferred_batch_sizes: tuple[tuple[int, ...], ...] | None = None
    max_batch_sizes: tuple[int, ...] | None = None
    queue_policies: tuple[QueuePolicy | None, ...] | None = None
    data: DataOptions = field(default_factory=DataOptions)
    export_input_data: Path | None = None

    def __post_init__(self) -> None:
        try:
            check_model_name(self.model)
        except ValueError as exc:
            raise TuneError(f"model: {exc}") from None
        if not self.p99_ms > 0:
            raise TuneError(f"p99_ms: must be > 0, got {self.p99_ms}")
        if self.protocol not in PROTOCOLS:
            raise TuneError(f"protocol: {self.protocol!r} is not one of {PROTOCOLS}")
        if self.search not in SEARCH_STRATEGIES:
            raise TuneError(f"search: {self.search!r} is not one of {SEARCH_STRATEGIES}")
        if self.max_trials is not None and self.max_trials < 1:
            raise TuneError(f"max_trials: must be >= 1, got {self.max_trials}")
        for name in ("step_s", "verify_s"):
            if not getattr(self, name) > 0:
                raise TuneError(f"{name}: must be > 0, got {getattr(self, name)}")
        if self.warmup_s < 0:
            raise TuneError(f"warmup_s: must be >= 0, got {self.warmup_s}")
        levels = list(self.concurrencies)
        if not levels or min(levels) < 1 or levels != sorted(set(levels)):
            raise TuneError(f"concurrency: need distinct levels >= 1 in rising order, "
                            f"got {levels}")
        if self.host is not None and not self.host.startswith(("http://", "https://",
                                                               "grpc://", "grpcs://")):
            raise TuneError(f"host: {self.host!r} must be http(s)://host:port or "
                            "grpc(s)://host:port")
        if self.host is not None and self.stats_url is None \
                and not self.host.startswith("http"):
            raise TuneError("stats_url: required with a gRPC --host (Triton's HTTP URL for "
                            "statistics and model control)")
        if self.gpus is not None and self.gpus < 0:
            raise TuneError(f"gpus: must be >= 0, got {self.gpus}")


def _progress(message: str) -> None:
    print(f"[tune] {message}", file=sys.stderr, flush=True)


class TrialRunner:
    """Measures candidates on a running server: validate, load, warm up, sweep.

    Args:
        model: The model.
        original: The config the model had before tuning (candidates edit a copy).
        controller: Loads configs.
        probe: Drives load and reads statistics.
        checker: Validates each candidate before it is sent.
        options: Target, concurrencies and step lengths.
        max_error_ratio: Highest error ratio a step may have and still count.
        progress: Where progress lines go.
    """

    def __init__(self, model: str, original: mc.ModelConfig, controller: ModelController,
                 probe: LoadProbe, checker: CandidateChecker, options: TuneOptions,
                 max_error_ratio: float = 0.01,
                 progress: Callable[[str], None] = _progress) -> None:
        self.model = model
        self.original = original
        self.controller = controller
        self.probe = probe
        self.checker = checker
        self.options = options
        self.max_error_ratio = max_error_ratio
        self.progress = progress
        self.count = 0

    def measure_loaded(self, candidate: Candidate) -> TrialResult:
        """Warm up and sweep the config that is loaded now."""
        o = self.options
        if o.warmup_s > 0:
            self.probe.warm_up(min(4, max(o.concurrencies)), o.warmup_s)
        steps = sweep_concurrency(o.concurrencies, lambda c: self.probe.step(c, o.step_s),
                                  o.p99_ms, max_error_ratio=self.max_error_ratio)
        return summarize_trial(candidate, steps, o.p99_ms, self.max_error_ratio)

    def load(self, candidate: Candidate) -> None:
        """Validate ``candidate`` and load it.

        Raises:
            CandidateError: The validator rejected it (nothing was sent).
            ModelControlError: Triton refused it.
        """
        config = apply_candidate(self.original, candidate)
        self.checker.check(candidate, config)
        self.controller.load(self.model, config)

    def evaluate(self, candidate: Candidate) -> TrialResult:
        """One trial: a candidate that cannot be loaded becomes a failed trial."""
        self.count += 1
        self.progress(f"trial {self.count}: {candidate.label}")
        try:
            self.load(candidate)
            result = self.measure_loaded(candidate)
        except (CandidateError, ModelControlError) as exc:
            self.progress(f"  rejected: {exc}")
            return failed_trial(candidate, str(exc))
        except TuneError as exc:
            self.progress(f"  failed: {exc}")
            return failed_trial(candidate, str(exc))
        state = "meets" if result.feasible else "misses"
        self.progress(f"  {state} the target: {result.throughput_rps:.0f} rps, p99 "
                      f"{result.p99_ms or 0.0:.2f} ms at concurrency {result.concurrency}")
        return result


def _head_to_head(runner: TrialRunner, first: SearchOutcome, second: SearchOutcome,
                  rounds: int = 2) -> HeadToHead | None:
    """Re-measure both strategies' best configs in alternation, each at its best concurrency.

    Trial figures are single noisy measurements, and the best of many of them is biased
    upwards; measuring the two finalists in turn on the same footing removes that bias.
    """
    if first.best is None or second.best is None:
        return None
    finalists = {first.strategy: first.best, second.strategy: second.best}
    if first.best.candidate == second.best.candidate:
        return HeadToHead({name: t.candidate for name, t in finalists.items()},
                          {name: t.throughput_rps for name, t in finalists.items()},
                          {name: t.p99_ms for name, t in finalists.items()}, rounds=0)
    options = runner.options
    rps: dict[str, list[float]] = {name: [] for name in finalists}
    p99: dict[str, list[float]] = {name: [] for name in finalists}
    for index in range(rounds):
        order = list(finalists.items()) if index % 2 == 0 else list(finalists.items())[::-1]
        for name, trial in order:
            runner.progress(f"head to head, round {index + 1}: {name} best, "
                            f"{trial.candidate.label}")
            runner.load(trial.candidate)
            if options.warmup_s > 0:
                runner.probe.warm_up(min(4, trial.concurrency or 1), options.warmup_s)
            measured = runner.probe.load(trial.concurrency or 1, 2 * options.step_s).measured()
            rps[name].append(measured.rps)
            p99[name].append(measured.p99_ms or 0.0)
    return HeadToHead({name: t.candidate for name, t in finalists.items()},
                      {name: sum(v) / len(v) for name, v in rps.items()},
                      {name: max(v) for name, v in p99.items()}, rounds)


def _verify(runner: TrialRunner, winner: TrialResult, baseline: TrialResult,
            options: TuneOptions, rounds: int = 2) -> Verification:
    """Re-measure the winner for ``verify_s`` and check the targets.

    When the winner is not the baseline, the two are measured in alternation
    (``rounds`` turns each, ``verify_s / rounds`` seconds a turn, order swapped every
    round), so a change in the machine's load hits both alike.
    """
    probe = runner.probe
    finalists = [("winner", winner)] if winner is baseline else [
        ("winner", winner), ("baseline", baseline)]
    turns = rounds if len(finalists) > 1 else 1
    loads: dict[str, list[LoopResult]] = {name: [] for name, _ in finalists}
    for index in range(turns):
        for name, trial in finalists if index % 2 == 0 else finalists[::-1]:
            if trial is baseline:
                runner.controller.load(options.model, runner.original)
            else:
                runner.load(trial.candidate)
            concurrency = trial.concurrency or 1
            if options.warmup_s > 0:
                probe.warm_up(min(4, concurrency), options.warmup_s)
            runner.progress(f"verification, turn {index + 1}: {name}, "
                            f"{trial.candidate.label} at concurrency {concurrency}")
            loads[name].append(probe.load(concurrency, options.verify_s / turns))
    measured = LoopResult.combine(loads["winner"]).measured()
    table = load_targets(options.targets)
    targets = targets_for(table, options.model).with_overrides({"p99_ms": options.p99_ms})
    verdicts = tuple(evaluate_targets(options.model, targets, measured))
    baseline_measured: Measured | None = None
    if "baseline" in loads:
        baseline_measured = LoopResult.combine(loads["baseline"]).measured()
    return Verification(winner.concurrency or 1, options.verify_s, measured, verdicts,
                        baseline_measured)


def _notes(original: mc.ModelConfig, winner: TrialResult | None, host: HostInfo,
           embedded: bool) -> list[str]:
    notes = []
    if winner is not None and not winner.candidate.dynamic_batching:
        batching = original.dynamic_batching
        if original.HasField("dynamic_batching") and (
                batching.HasField("default_queue_policy") or batching.priority_levels):
            notes.append("the winner turns dynamic batching off, which also drops the queue "
                         "policy (max_queue_size, timeouts) configured inside it: keep "
                         "batching on (--dynamic-batching on) if load shedding matters more")
    if host.gpus == 0:
        notes.append("tuned on a CPU-only host: instance groups are KIND_CPU and the answer "
                     "does not carry over to a GPU host (see docs/tuning.md)")
    if embedded:
        notes.append("embedded server: ONNX models run in a python-backend wrapper around "
                     "onnxruntime, so serving overhead weighs more than on a full Triton")
    return notes


def _refuse_ensemble(model: str, config: mc.ModelConfig) -> None:
    if config.platform == "ensemble" or config.HasField("ensemble_scheduling"):
        steps = ", ".join(repr(s.model_name) for s in config.ensemble_scheduling.step)
        raise TuneError(f"model: {model!r} is an ensemble, which has no batching or instance "
                        f"settings of its own; tune its steps ({steps})")


def tune_model(options: TuneOptions, controller: ModelController, probe: LoadProbe,
               model_dir: Path, host: HostInfo, *, embedded: bool = False,
               runner_factory: Callable[..., TrialRunner] = TrialRunner) -> TuneReport:
    """Baseline, search, verification on a running server; the original config is restored.

    Args:
        options: The session's settings.
        controller: Model control on the server.
        probe: Load and statistics for the model.
        model_dir: The model's folder, for the validator.
        host: The serving host.
        embedded: Whether the server is the embedded build (for the notes).
        runner_factory: Builds the :class:`TrialRunner` (tests inject failures here).

    Returns:
        The report (without spec patch and elapsed time); ``restored`` tells whether
        the rollback succeeded.

    Raises:
        TuneError: The session cannot run, e.g. the model is an ensemble (the config is
            restored first).
        KeyboardInterrupt: On Ctrl-C, after the config is restored.
    """
    checker = CandidateChecker(options.model, model_dir, host)
    guard = ConfigGuard(controller, options.model)
    with guard as original:
        _refuse_ensemble(options.model, original)
        base = replace(candidate_from_config(original), kind=host.kind)
        space = host_space(
            base, host, instance_counts=options.instance_counts,
            dynamic_batching=options.dynamic_batching,
            max_queue_delays_us=options.max_queue_delays_us,
            preferred_batch_sizes=options.preferred_batch_sizes,
            max_batch_sizes=options.max_batch_sizes,
            min_max_batch_size=max((w.batch_size for w in original.model_warmup), default=1),
            queue_policies=options.queue_policies,
        )
        table = load_targets(options.targets)
        max_error = targets_for(table, options.model).max_error_ratio
        runner = runner_factory(options.model, original, controller, probe, checker,
                                options, max_error)
        runner.progress(f"baseline: {base.label} (the config served before tuning)")
        controller.load(options.model, original)  # reloaded like every trial: same footing
        baseline = runner.measure_loaded(candidate_from_config(original))
        runner.progress(f"  {baseline.throughput_rps:.0f} rps, p99 "
                        f"{baseline.p99_ms or 0.0:.2f} ms")
        search = run_search(options.search, space, runner.evaluate, base,
                            options.max_trials)
        comparison = None
        head_to_head = None
        if options.compare_brute_force:
            other = "brute" if options.search == "quick" else "quick"
            runner.progress(f"comparison: {other} search")
            comparison = run_search(other, space, runner.evaluate, base)
            head_to_head = _head_to_head(runner, search, comparison)
        winner = pick_winner(baseline, [search.best] if search.best is not None else [])
        source = "" if winner is None else (
            "baseline" if winner is baseline else search.strategy)
        verification = None
        if winner is not None:
            verification = _verify(runner, winner, baseline, options)
        report = TuneReport(
            model=options.model, protocol=options.protocol, p99_target_ms=options.p99_ms,
            server=options.host or "embedded Triton (explicit model control)", host=host,
            space=space, baseline=baseline, search=search, comparison=comparison,
            winner=winner, winner_source=source, verification=verification,
            notes=_notes(original, winner, host, embedded), head_to_head=head_to_head)
    report.restored = guard.restored
    return report


def _admin_headers(options: TuneOptions) -> dict[str, str]:
    from serving.release import AdminKeyError, admin_headers

    try:
        return admin_headers(os.environ, options.admin_key_file)
    except AdminKeyError as exc:
        raise TuneError(str(exc)) from exc


def _model_dir(options: TuneOptions, served: Path | None) -> Path:
    if served is not None and (served / options.model / CONFIG_FILENAME).is_file():
        return served / options.model
    return options.repository / options.model


def _model_call(options: TuneOptions, url: str) -> ModelCall:
    """The model's call as ``run`` makes it, with its inputs resolved before any load.

    Raises:
        TuneError: The input data does not fit the model or cannot be generated (naming
            the file, entry or input), or the model is not served.
    """
    values = asdict(options.data)
    try:
        resolved, _data = prepare_input_data(options.model, url, values, options.report_dir,
                                             options.export_input_data)
    except (InputDataError, RunnerError) as exc:
        raise TuneError(str(exc)) from exc
    return make_call(options.model, {**values, **resolved})


def run_tune(options: TuneOptions) -> tuple[int, TuneReport]:
    """Run a whole session and write its report (and the spec patch when asked).

    Returns:
        The exit code (:data:`EXIT_OK` or :data:`EXIT_NOT_MET`) and the report.

    Raises:
        TuneError: The session cannot run; the model's config is restored first.
    """
    started = time.monotonic()
    server: TritonServer | None = None
    try:
        if options.host is None:
            if not (options.repository / options.model / CONFIG_FILENAME).is_file():
                raise TuneError(f"repository: {options.repository} has no model "
                                f"{options.model!r}")
            _progress(f"starting the embedded Triton (explicit model control) on "
                      f"{options.repository}")
            server = TritonServer(options.repository, model_control_mode="explicit")
            try:
                server.start()
            except ServerStartError as exc:
                raise TuneError(f"server: {exc}") from exc
            url = server.grpc_url if options.protocol == "grpc" else server.http_url
            stats_url = server.http_url
            headers = {} if server.admin_key is None else {ADMIN_HEADER: server.admin_key}
            host = HostInfo(detect_host().cpu_cores, 0)
        else:
            url = options.host
            stats_url = options.stats_url or options.host
            headers = _admin_headers(options)
            detected = detect_host()
            host = HostInfo(detected.cpu_cores,
                            detected.gpus if options.gpus is None else options.gpus)
        if options.gpus is not None and server is not None and options.gpus > 0:
            raise TuneError("gpus: the embedded server runs on the CPU only")
        probe = LoadProbe(options.model, url, stats_url, call=_model_call(options, url))
        served = server.served_repository if server is not None else None
        with ModelController(stats_url, headers) as controller:
            report = tune_model(options, controller, probe, _model_dir(options, served), host,
                                embedded=server is not None)
    finally:
        if server is not None:
            server.stop()
    if report.winner is not None:
        patch = build_patch(options.model, report.winner.candidate,
                            report.baseline.candidate.max_batch_size)
        report.spec_patch = patch.text()
        if options.write_spec_patch is not None:
            if not report.verified:
                report.notes.append(f"spec patch not applied to {options.write_spec_patch}: "
                                    "the winner's final run missed a target")
            elif report.winner_source == "baseline":
                report.notes.append("spec patch not applied: the hand-written config is "
                                    "already the best measured")
            else:
                apply_patch(options.write_spec_patch, patch, report.winner.candidate)
                report.spec_patch_file = str(options.write_spec_patch)
    report.elapsed_s = time.monotonic() - started
    write_tune_report(report, options.report_dir)
    return (EXIT_OK if report.verified else EXIT_NOT_MET), report


def parse_int_list(text: str, field_name: str) -> tuple[int, ...]:
    """Parse ``"1,2,4"`` into a tuple of ints (``"none"`` gives an empty tuple).

    Raises:
        TuneError: A value is not an integer; the message names ``field_name``.
    """
    if text.strip().lower() in ("none", ""):
        return ()
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError as exc:
        raise TuneError(f"{field_name}: expected comma-separated integers, got {text!r}") \
            from exc


def parse_switches(values: Sequence[str]) -> tuple[bool, ...]:
    """Parse ``on``/``off`` values of ``--dynamic-batching``.

    Raises:
        TuneError: A value is neither ``on`` nor ``off``.
    """
    mapping: Mapping[str, bool] = {"on": True, "off": False}
    try:
        return tuple(mapping[v.strip().lower()] for part in values for v in part.split(","))
    except KeyError as exc:
        raise TuneError(f"dynamic_batching: expected on and/or off, got {exc.args[0]!r}") \
            from exc


_QUEUE_POLICY_KEYS = ("max_queue_size", "default_timeout_us", "allow_timeout_override",
                      "timeout_action")


def parse_queue_policy(text: str) -> QueuePolicy | None:
    """Parse one ``--queue-policies`` value: ``none``, or ``KEY=VALUE,...`` with keys
    ``max_queue_size``, ``default_timeout_us``, ``allow_timeout_override`` (true/false)
    and ``timeout_action`` (REJECT/DELAY).

    Raises:
        TuneError: An unknown key or a malformed value; the message names it.
    """
    if text.strip().lower() == "none":
        return None
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in _QUEUE_POLICY_KEYS:
            raise TuneError(f"queue_policies: expected 'none' or KEY=VALUE pairs with keys "
                            f"{', '.join(_QUEUE_POLICY_KEYS)}, got {part!r}")
        fields[key] = value.strip()
    try:
        override = fields.get("allow_timeout_override", "false").lower()
        if override not in ("true", "false"):
            raise ValueError(f"allow_timeout_override must be true or false, got {override!r}")
        policy = QueuePolicy(
            timeout_action=TimeoutAction(fields.get("timeout_action", "REJECT").upper()),
            default_timeout_microseconds=int(fields.get("default_timeout_us", "0")),
            allow_timeout_override=override == "true",
            max_queue_size=int(fields.get("max_queue_size", "0")))
    except ValueError as exc:
        raise TuneError(f"queue_policies: {text!r}: {exc}") from exc
    if policy.max_queue_size < 0 or policy.default_timeout_microseconds < 0:
        raise TuneError(f"queue_policies: {text!r}: sizes and timeouts must be >= 0")
    return policy
