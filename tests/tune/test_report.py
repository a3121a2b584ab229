"""The tuning report written from synthetic trials: JSON fields, Markdown and the plot."""

from __future__ import annotations

import json
from pathlib import Path

from loadtests.targets import Measured, evaluate_targets, load_targets, targets_for
from loadtests.tune import (
    Candidate,
    HeadToHead,
    HostInfo,
    TrialResult,
    TuneReport,
    Verification,
    brute_search,
    host_space,
    quick_search,
    write_tune_report,
)

TARGET_MS = 10.0
SPEC = Candidate(1, True, 1000, (16, 32), 64)


def _evaluate(candidate: Candidate) -> TrialResult:
    rps = 1000.0 + 300.0 * candidate.instance_count - (200.0 if candidate.dynamic_batching else 0)
    p99 = 4.0 + candidate.max_queue_delay_us / 250.0
    feasible = p99 <= TARGET_MS
    return TrialResult(candidate, feasible, rps if feasible else 0.0, p99, 4)


def _report(verified: bool) -> TuneReport:
    space = host_space(SPEC, HostInfo(cpu_cores=2))
    quick = quick_search(space, _evaluate, SPEC)
    brute = brute_search(space, _evaluate)
    baseline = _evaluate(SPEC)
    winner = quick.best
    assert winner is not None
    measured = Measured(requests=1000, failures=0, p50_ms=2.0, p95_ms=5.0,
                        p99_ms=8.0 if verified else 30.0, rps=winner.throughput_rps)
    goals = targets_for(load_targets(), "recommendation").with_overrides({"p99_ms": TARGET_MS})
    verdicts = tuple(evaluate_targets("recommendation", goals, measured))
    return TuneReport(
        model="recommendation", protocol="grpc", p99_target_ms=TARGET_MS, server="test",
        host=HostInfo(cpu_cores=2), space=space, baseline=baseline, search=quick,
        comparison=brute, winner=winner, winner_source="quick",
        verification=Verification(4, 10.0, measured, verdicts, baseline=measured),
        restored=True, spec_patch="    dynamic_batching=None,\n",
        head_to_head=HeadToHead({"quick": winner.candidate, "brute": winner.candidate},
                                {"quick": 1.0, "brute": 1.0}, {"quick": 1.0, "brute": 1.0}, 0),
    )


def test_report_json_has_baseline_winner_trials_search_and_verified(tmp_path: Path) -> None:
    report = _report(verified=True)

    written = write_tune_report(report, tmp_path)

    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    for entry in [data["baseline"], data["winner"], *data["trials"]]:
        assert {"config", "throughput_rps", "p99_ms"} <= set(entry)
    assert data["verified"] is True
    assert data["search"]["strategy"] == "quick"
    assert data["search"]["trial_count"] == len(data["trials"]) + len(
        data["search"]["confirmations"])
    versus = data["quick_vs_brute"]
    assert versus["throughput_ratio"] == 1.0
    assert versus["quick_trials"] <= versus["brute_trials"] / 2
    assert versus["head_to_head_ratio"] == 1.0
    assert {p.name for p in written} == {"report.json", "report.md", "trials.png"}
    assert (tmp_path / "trials.png").read_bytes()[:4] == b"\x89PNG"


def test_report_markdown_names_the_winner_and_the_failed_target(tmp_path: Path) -> None:
    report = _report(verified=False)

    write_tune_report(report, tmp_path)

    text = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert report.winner is not None
    assert f"**Winner: {report.winner.candidate.label}**" in text
    assert "Verification: **FAIL**" in text
    assert "| p99_ms | <= 10 | 30 | FAIL |" in text
    assert json.loads((tmp_path / "report.json").read_text())["verified"] is False


def test_report_is_deterministic_for_the_same_results(tmp_path: Path) -> None:
    write_tune_report(_report(verified=True), tmp_path / "a")
    write_tune_report(_report(verified=True), tmp_path / "b")

    for name in ("report.json", "report.md"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_report_states_the_queue_policy_trade_of_shedding_against_throughput_and_p99(
    tmp_path: Path,
) -> None:
    from generator.spec import QueuePolicy
    from loadtests.tune.sweep import StepResult

    policy = QueuePolicy(max_queue_size=8)
    spec = Candidate(1, True, 0, (), 64, queue_policy=policy)
    space = host_space(spec, HostInfo(cpu_cores=1), dynamic_batching=(True,),
                       max_queue_delays_us=(0,), preferred_batch_sizes=((),),
                       max_batch_sizes=(64,))
    assert space.values("queue_policy") == (None, policy)  # none, and the spec's own

    def evaluate(candidate: Candidate) -> TrialResult:
        shed = candidate.queue_policy is not None
        step = StepResult(4, 1000, 100 if shed else 0, 1.0, 300.0 if shed else 2000.0,
                          2.0, 5.0, 505.0 if shed else 9.0)
        return TrialResult(candidate, not shed, 0.0 if shed else 2000.0, step.p99_ms, 4,
                           steps=(step,))

    search = brute_search(space, evaluate)
    report = TuneReport(model="recommendation", protocol="grpc", p99_target_ms=TARGET_MS,
                        server="test", host=HostInfo(cpu_cores=1), space=space,
                        baseline=evaluate(spec), search=search, comparison=None,
                        winner=search.best, winner_source="brute", verification=None,
                        restored=True)

    write_tune_report(report, tmp_path)

    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    trade = {row["queue_policy"]: row for row in data["queue_policy_trade"]}
    assert trade["no queue policy"]["shed_ratio"] == 0.0
    assert trade["no queue policy"]["throughput_rps"] == 2000.0
    assert trade["queue max 8"]["shed_ratio"] == 0.1
    assert trade["queue max 8"]["p99_ms"] == 505.0
    assert data["winner"]["config"]["queue_policy"] is None
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "## Queue policy: shedding against throughput and p99" in markdown
    assert "| queue max 8 | 2 |" in markdown
