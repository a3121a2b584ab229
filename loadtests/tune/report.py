"""The tuning report: ``report.json``, ``report.md`` and ``trials.png`` in one folder.

``report.json`` holds at least ``baseline``, ``winner`` (each with ``config``,
``throughput_rps`` and ``p99_ms``), ``trials`` (a list of the same), ``search`` and
``verified`` (the final run's verdict). Files are written atomically and
deterministically (sorted keys, fixed float formatting in Markdown).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtests.report import save_figure, use_agg, write_report_files
from loadtests.targets import Measured, TargetVerdict
from loadtests.tune.search import SearchOutcome, pareto_front
from loadtests.tune.space import Candidate, HostInfo, SearchSpace, queue_policy_label
from loadtests.tune.sweep import TrialResult

__all__ = [
    "PLOT_NAME",
    "HeadToHead",
    "TuneReport",
    "Verification",
    "render_markdown",
    "write_tune_report",
]

PLOT_NAME = "trials.png"


@dataclass(frozen=True)
class Verification:
    """The final run of the winner, checked against the model's latency targets.

    Attributes:
        concurrency: Concurrency of the run (the winner's best step).
        duration_s: Length of the run, seconds.
        measured: What the client saw.
        verdicts: One verdict per target (p99 is the tuning target).
        baseline: The hand-written config re-measured the same way (None when the
            winner is the baseline).
    """

    concurrency: int
    duration_s: float
    measured: Measured
    verdicts: tuple[TargetVerdict, ...]
    baseline: Measured | None = None

    @property
    def passed(self) -> bool:
        """True when every target held."""
        return bool(self.verdicts) and all(v.passed for v in self.verdicts)

    @property
    def ratio_to_baseline(self) -> float | None:
        """Winner / baseline throughput in the re-measurement (None without a baseline)."""
        if self.baseline is None or self.baseline.rps <= 0:
            return None
        return self.measured.rps / self.baseline.rps

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        def figures(m: Measured) -> dict[str, Any]:
            return {"requests": m.requests, "failures": m.failures, "throughput_rps": m.rps,
                    "p50_ms": m.p50_ms, "p95_ms": m.p95_ms, "p99_ms": m.p99_ms}

        return {
            "concurrency": self.concurrency,
            "duration_s": self.duration_s,
            **figures(self.measured),
            "targets": [v.as_dict() for v in self.verdicts],
            "passed": self.passed,
            "baseline": None if self.baseline is None else figures(self.baseline),
            "ratio_to_baseline": self.ratio_to_baseline,
        }


@dataclass(frozen=True)
class HeadToHead:
    """Two strategies' best configs re-measured in alternation on the same footing.

    Attributes:
        candidates: The best config per strategy name.
        throughput_rps: Mean throughput per strategy over the rounds.
        p99_ms: Worst p99 per strategy over the rounds.
        rounds: Rounds measured (0 when both strategies found the same config, whose
            trial figures are then reported).
    """

    candidates: Mapping[str, Candidate]
    throughput_rps: Mapping[str, float]
    p99_ms: Mapping[str, float | None]
    rounds: int

    def ratio(self, numerator: str, denominator: str) -> float | None:
        """Throughput of one strategy's best over the other's (None when unknown)."""
        if self.rounds == 0:
            return 1.0
        low = self.throughput_rps.get(denominator, 0.0)
        return self.throughput_rps.get(numerator, 0.0) / low if low > 0 else None

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "configs": {k: v.as_dict() for k, v in sorted(self.candidates.items())},
            "throughput_rps": dict(sorted(self.throughput_rps.items())),
            "p99_ms": dict(sorted(self.p99_ms.items())),
            "rounds": self.rounds,
            "same_config": self.rounds == 0,
        }


@dataclass
class TuneReport:
    """Everything one tuning run found.

    Attributes:
        model: The model tuned.
        protocol: ``http`` or ``grpc``.
        p99_target_ms: The latency target.
        server: Where the model was served.
        host: The serving host.
        space: The search space.
        baseline: The hand-written config, measured like every trial.
        search: The primary search.
        comparison: The other strategy's search, with ``--compare-brute-force``.
        winner: The best config meeting the target (possibly the baseline), or None.
        winner_source: ``baseline`` or the strategy whose trial won.
        verification: The final run of the winner.
        restored: Whether the pre-tuning config was reloaded and read back unchanged.
        spec_patch: The lines to paste into the spec (None without a winner).
        spec_patch_file: The spec file the patch was applied to, if any.
        notes: Remarks for the reader.
        elapsed_s: Wall time of the whole run, seconds.
        head_to_head: The strategies' best configs re-measured in alternation.
    """

    model: str
    protocol: str
    p99_target_ms: float
    server: str
    host: HostInfo
    space: SearchSpace
    baseline: TrialResult
    search: SearchOutcome
    comparison: SearchOutcome | None = None
    winner: TrialResult | None = None
    winner_source: str = ""
    verification: Verification | None = None
    restored: bool = False
    spec_patch: str | None = None
    spec_patch_file: str | None = None
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    head_to_head: HeadToHead | None = None

    @property
    def verified(self) -> bool:
        """True when a winner exists and its final run met every target."""
        return self.winner is not None and self.verification is not None \
            and self.verification.passed

    def quick_vs_brute(self) -> dict[str, Any] | None:
        """Quick search's best throughput and trial count relative to brute search."""
        outcomes = {o.strategy: o for o in (self.search, self.comparison) if o is not None}
        quick, brute = outcomes.get("quick"), outcomes.get("brute")
        if quick is None or brute is None:
            return None
        quick_rps = quick.best.throughput_rps if quick.best else 0.0
        brute_rps = brute.best.throughput_rps if brute.best else 0.0
        head = self.head_to_head
        return {
            "head_to_head": None if head is None else head.as_dict(),
            "head_to_head_ratio": None if head is None else head.ratio("quick", "brute"),
            "quick_best_rps": quick_rps,
            "brute_best_rps": brute_rps,
            "throughput_ratio": quick_rps / brute_rps if brute_rps > 0 else None,
            "quick_trials": quick.trial_count,
            "brute_trials": brute.trial_count,
            "trial_ratio": quick.trial_count / brute.trial_count if brute.trial_count else None,
        }

    def queue_policy_trade(self) -> list[dict[str, Any]]:
        """:func:`queue_policy_trade` over the baseline and every trial of both searches."""
        trials = [self.baseline, *self.search.trials]
        if self.comparison is not None:
            trials += self.comparison.trials
        return queue_policy_trade(trials)

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON document written as ``report.json``."""
        winner = None
        if self.winner is not None:
            winner = {**self.winner.as_dict(), "source": self.winner_source}
        comparison = None
        if self.comparison is not None:
            comparison = {**self.comparison.as_dict(),
                          "trials": [t.as_dict() for t in self.comparison.trials]}
        return {
            "model": self.model,
            "protocol": self.protocol,
            "p99_target_ms": self.p99_target_ms,
            "server": self.server,
            "host": {"cpu_cores": self.host.cpu_cores, "gpus": self.host.gpus},
            "space": self.space.as_dict(),
            "baseline": self.baseline.as_dict(),
            "winner": winner,
            "trials": [t.as_dict() for t in self.search.trials],
            "search": self.search.as_dict(),
            "comparison": comparison,
            "quick_vs_brute": self.quick_vs_brute(),
            "queue_policy_trade": self.queue_policy_trade(),
            "verification": None if self.verification is None else self.verification.as_dict(),
            "verified": self.verified,
            "restored": self.restored,
            "spec_patch": self.spec_patch,
            "spec_patch_file": self.spec_patch_file,
            "notes": list(self.notes),
            "elapsed_s": self.elapsed_s,
        }


def _step_at(trial: TrialResult) -> Any:
    return next((s for s in trial.steps if s.concurrency == trial.concurrency), None)


def queue_policy_trade(trials: Sequence[TrialResult]) -> list[dict[str, Any]]:
    """Per queue policy measured, its best trial and what it shed: the trade the report
    states between refusing work (a queue policy) and throughput and p99.

    A trial's best is the feasible one with the most throughput, else the lowest p99.
    ``shed_ratio`` is the failed share of every call of the policy's trials (a full queue
    answers at once, and the tuner's client counts it as failed); ``best_step_error_ratio``
    is that share at the best trial's step.
    """
    groups: dict[str, list[TrialResult]] = {}
    for trial in trials:
        if trial.error is None and trial.candidate.dynamic_batching:
            groups.setdefault(queue_policy_label(trial.candidate.queue_policy), []).append(trial)
    rows = []
    for label, group in groups.items():
        best = min(group, key=lambda t: (not t.feasible, -t.throughput_rps,
                                         t.p99_ms if t.p99_ms is not None else float("inf")))
        requests = sum(s.requests for t in group for s in t.steps)
        failures = sum(s.failures for t in group for s in t.steps)
        step = _step_at(best)
        rows.append({
            "queue_policy": label, "trials": len(group), "best": best.candidate.label,
            "feasible": best.feasible, "throughput_rps": best.throughput_rps,
            "p99_ms": best.p99_ms,
            "best_step_error_ratio": None if step is None else step.error_ratio,
            "shed_ratio": failures / requests if requests else None,
        })
    return rows


def _num(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _trial_rows(trials: Sequence[TrialResult], winner: TrialResult | None) -> list[str]:
    rows = ["| # | config | meets target | throughput rps | p99 ms | at concurrency | "
            "queue ms | compute ms | batch |", "|---|---|---|---|---|---|---|---|---|"]
    for index, t in enumerate(trials, 1):
        mark = " **(winner)**" if winner is not None and t.candidate == winner.candidate else ""
        status = "yes" if t.feasible else ("error" if t.error else "no")
        rows.append(f"| {index} | {t.candidate.label}{mark} | {status} | "
                    f"{_num(t.throughput_rps)} | {_num(t.p99_ms, 2)} | {t.concurrency or 'n/a'} | "
                    f"{_num(t.queue_ms, 2)} | {_num(t.compute_ms, 2)} | "
                    f"{_num(t.mean_batch_size, 2)} |")
    return rows


def render_markdown(report: TuneReport) -> str:
    """Render the report for a person: verdict, winner vs baseline, trials, patch."""
    r = report
    lines = [f"# Tuning {r.model} to p99 <= {r.p99_target_ms:g} ms ({r.protocol})", ""]
    if r.winner is None:
        lines += ["**No configuration met the target.** Loosen `--p99-ms` or widen the "
                  "search space.", ""]
    else:
        verdict = "PASS" if r.verified else "FAIL"
        lines += [f"**Winner: {r.winner.candidate.label}** (from {r.winner_source}) - "
                  f"{_num(r.winner.throughput_rps)} rps at p99 {_num(r.winner.p99_ms, 2)} ms, "
                  f"concurrency {r.winner.concurrency}; baseline (the spec) "
                  f"{_num(r.baseline.throughput_rps)} rps. Verification: **{verdict}**.", ""]
    lines += ["## Settings", "",
              f"- server: `{r.server}`",
              f"- host: {r.host.cpu_cores} CPU cores, {r.host.gpus} GPUs",
              f"- search: {r.search.strategy}, {len(r.search.trials)} candidates measured "
              f"(+{len(r.search.confirmations)} confirmations) of a "
              f"{r.search.grid_size}-point grid (budget {r.search.budget}"
              f"{', exhausted' if r.search.budget_exhausted else ''})",
              f"- dimensions searched: {', '.join(r.space.searched) or 'none'}",
              f"- space: `{json.dumps(r.space.as_dict(), sort_keys=True)}`",
              f"- elapsed: {r.elapsed_s:.0f} s",
              f"- original config restored: {'yes' if r.restored else 'NO'}", ""]
    lines += ["## Baseline (the hand-written spec, as served)", ""]
    lines += _trial_rows([r.baseline], None)
    lines += ["", f"## Trials ({r.search.strategy} search)", ""]
    lines += _trial_rows(r.search.trials, r.winner)
    if r.search.moves:
        lines += ["", "Moves: " + "; ".join(r.search.moves)]
    if r.search.confirmations:
        lines += ["", "Confirmations (leaders measured again; the best is chosen on the mean):",
                  ""]
        lines += _trial_rows(r.search.confirmations, None)
    if r.comparison is not None:
        lines += ["", f"## Comparison: {r.comparison.strategy} search", ""]
        lines += _trial_rows(r.comparison.trials, None)
        versus = r.quick_vs_brute()
        if versus is not None:
            lines += ["", f"Quick search: {_num(versus['quick_best_rps'])} rps in "
                      f"{versus['quick_trials']} trials; brute force: "
                      f"{_num(versus['brute_best_rps'])} rps in {versus['brute_trials']} "
                      f"trials; ratio {_num(versus['throughput_ratio'], 3)} of the best "
                      f"throughput with {_num(versus['trial_ratio'], 2)} of the trials."]
            if versus["head_to_head"] is not None:
                lines += ["", "Head to head (both best configs re-measured in alternation): "
                          f"quick / brute throughput {_num(versus['head_to_head_ratio'], 3)}"
                          + (" (the same config)" if versus["head_to_head"]["same_config"]
                             else "") + "."]
    trade = r.queue_policy_trade()
    if len(trade) > 1 or any(row["queue_policy"] != "no queue policy" for row in trade):
        lines += ["", "## Queue policy: shedding against throughput and p99", "",
                  "A queue policy refuses the work beyond `max_queue_size` (or past its "
                  "timeout) at once instead of queueing it: the shed share below. On Triton "
                  "2.51 `max_queue_size`, a timeout or `allow_timeout_override` also turns "
                  "batch prefetching off and the batcher stalls up to 500 ms "
                  "(docs/stall.md), which the p99 and throughput show. Without a policy, "
                  "shed at the balancer (HAProxy `maxconn` + `timeout queue`).", "",
                  "| queue policy | trials | best config | meets target | rps | p99 ms | "
                  "errors at best step | shed, all steps |", "|---|---|---|---|---|---|---|---|"]
        for row in trade:
            ratio = row["best_step_error_ratio"]
            shed = row["shed_ratio"]
            lines.append(f"| {row['queue_policy']} | {row['trials']} | {row['best']} | "
                         f"{'yes' if row['feasible'] else 'no'} | "
                         f"{row['throughput_rps']:.1f} | {_num(row['p99_ms'], 2)} | "
                         f"{'n/a' if ratio is None else f'{ratio:.2%}'} | "
                         f"{'n/a' if shed is None else f'{shed:.2%}'} |")
    if r.verification is not None:
        v = r.verification
        m = v.measured
        lines += ["", "## Verification (final run of the winner)", "",
                  f"{v.duration_s:g} s at concurrency {v.concurrency}: {m.requests} requests, "
                  f"{m.failures} failed, {m.rps:.1f} rps, p50 {_num(m.p50_ms, 2)} ms, "
                  f"p99 {_num(m.p99_ms, 2)} ms.", "",
                  "| target | goal | measured | verdict |", "|---|---|---|---|"]
        for verdict_row in v.verdicts:
            measured = "n/a" if verdict_row.measured is None else f"{verdict_row.measured:.4g}"
            lines.append(f"| {verdict_row.target} | {verdict_row.comparison} "
                         f"{verdict_row.goal:g} | {measured} | "
                         f"{'PASS' if verdict_row.passed else 'FAIL'} |")
        if v.baseline is not None:
            lines += ["", f"Baseline re-measured the same way: {v.baseline.rps:.1f} rps, "
                      f"p99 {_num(v.baseline.p99_ms, 2)} ms; winner / baseline throughput "
                      f"{_num(v.ratio_to_baseline, 3)}."]
    if r.spec_patch:
        lines += ["", "## Spec patch", "", "```python", r.spec_patch.rstrip(), "```"]
        if r.spec_patch_file:
            lines += ["", f"Applied to `{r.spec_patch_file}`."]
    if r.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in r.notes]
    lines += ["", f"![throughput vs p99]({PLOT_NAME})", ""]
    return "\n".join(lines)


def _points(trials: Sequence[TrialResult]) -> tuple[list[float], list[float]]:
    """(p99, throughput) per trial; a trial over the target shows its step's throughput."""
    xs, ys = [], []
    for trial in trials:
        rps = trial.throughput_rps
        if not trial.feasible:
            rps = next((s.throughput_rps for s in trial.steps
                        if s.concurrency == trial.concurrency), 0.0)
        xs.append(trial.p99_ms or 0.0)
        ys.append(rps)
    return xs, ys


def _plot(report: TuneReport, path: Path) -> None:
    """Draw throughput against p99 per trial.

    Raises:
        PlotSkipped: matplotlib is not installed.
    """
    use_agg("trials plot")
    import matplotlib.pyplot as plt

    trials = [t for t in report.search.trials if t.p99_ms is not None]
    others = [t for t in (report.comparison.trials if report.comparison else ())
              if t.p99_ms is not None]
    figure, axes = plt.subplots(figsize=(8, 5), dpi=100)
    for group, style in ((others, {"marker": "x", "color": "0.6"}),
                         (trials, {"marker": "o", "color": "tab:blue"})):
        if not group:
            continue
        name = report.search.strategy if group is trials else (
            report.comparison.strategy if report.comparison else "other")
        meets = [t for t in group if t.feasible]
        misses = [t for t in group if not t.feasible]
        axes.scatter(*_points(meets), label=f"{name} trials", **style)  # type: ignore[arg-type]
        if misses:
            hollow = {"facecolors": "none", "edgecolors": style["color"], "marker": "o"}
            axes.scatter(*_points(misses), label=f"{name} trials over the target",
                         **hollow)  # type: ignore[arg-type]
    front = pareto_front([*trials, *others, report.baseline])
    if front:
        axes.plot(*_points(front), color="tab:green", drawstyle="steps-post",
                  label="Pareto front")
    if report.baseline.p99_ms is not None:
        axes.scatter(*_points([report.baseline]), marker="s", color="tab:orange", s=60,
                     label="baseline (spec)")
    if report.winner is not None and report.winner.p99_ms is not None:
        axes.scatter(*_points([report.winner]), marker="*", color="tab:red", s=220,
                     label="winner", zorder=5)
    axes.set_xscale("log")
    axes.axvline(report.p99_target_ms, color="tab:red", linestyle="--",
                 label=f"target p99 {report.p99_target_ms:g} ms")
    axes.set_xlabel("p99 latency, ms, log scale (the trial's best step at the target, "
                    "else its lowest p99)")
    axes.set_ylabel("throughput at that step, requests/s")
    axes.set_title(f"{report.model}: throughput vs p99 per trial")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    save_figure(figure, path)


def write_tune_report(report: TuneReport, report_dir: Path) -> list[Path]:
    """Write ``report.json``, ``report.md`` and the plot into ``report_dir``.

    Returns:
        The files written.
    """
    return write_report_files(report_dir, report, render_markdown, PLOT_NAME,
                              lambda path: _plot(report, path))
