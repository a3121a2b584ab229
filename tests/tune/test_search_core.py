"""The tuner's pure decision core: search space, concurrency sweep and search strategies.

No server: trials are scored by synthetic throughput landscapes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from generator.spec import InstanceKind
from loadtests.tune import (
    Candidate,
    HostInfo,
    SearchSpace,
    StepResult,
    TrialResult,
    TuneError,
    brute_search,
    confirm_leaders,
    host_space,
    pareto_front,
    pick_winner,
    quick_search,
    summarize_trial,
    sweep_concurrency,
)

TARGET_MS = 10.0
SPEC = Candidate(1, True, 1000, (16, 32), 64, InstanceKind.GPU)


def _trial(candidate: Candidate, rps: float, p99_ms: float = 5.0) -> TrialResult:
    feasible = p99_ms <= TARGET_MS
    return TrialResult(candidate, feasible, rps if feasible else 0.0, p99_ms, 4)


def _step(concurrency: int, rps: float, p99_ms: float, failures: int = 0) -> StepResult:
    return StepResult(concurrency, 1000, failures, 1.0, rps, p99_ms / 2, p99_ms * 0.9, p99_ms)


def _landscape(score: Callable[[Candidate], float]) -> Callable[[Candidate], TrialResult]:
    return lambda c: _trial(c, score(c))


def _cpu_space(**narrow: object) -> SearchSpace:
    return host_space(SPEC, HostInfo(cpu_cores=2), **narrow)  # type: ignore[arg-type]


def test_host_space_on_cpu_host_never_proposes_gpu_instances() -> None:
    space = _cpu_space()

    grid = space.grid()

    assert grid
    assert {c.kind for c in grid} == {InstanceKind.CPU}
    assert {c.instance_count for c in grid} == {1, 2}


def test_host_space_on_gpu_host_proposes_gpu_instances_up_to_two_per_gpu() -> None:
    space = host_space(SPEC, HostInfo(cpu_cores=8, gpus=2))

    assert {c.kind for c in space.grid()} == {InstanceKind.GPU}
    assert space.values("instance_count") == (1, 2, 3, 4)


def test_host_space_rejects_more_instances_than_cores_naming_the_field() -> None:
    with pytest.raises(TuneError, match="instance_counts"):
        _cpu_space(instance_counts=[1, 8])


def test_host_space_rejects_a_cap_above_the_spec_max_batch_size() -> None:
    with pytest.raises(TuneError, match="max_batch_sizes"):
        _cpu_space(max_batch_sizes=[128])


def test_grid_collapses_batching_off_points_and_skips_preferred_sizes_above_the_cap() -> None:
    space = _cpu_space(instance_counts=[1], max_queue_delays_us=[0, 500],
                       preferred_batch_sizes=[[], [16, 32]], max_batch_sizes=[16, 64])

    grid = space.grid()

    off = [c for c in grid if not c.dynamic_batching]
    assert off == [Candidate(1, False, 0, (), 64)]
    assert all(max(c.preferred_batch_sizes, default=0) <= c.max_batch_size for c in grid)
    # on: 2 delays x (no preferred at cap 16, no preferred at 64, [16, 32] at 64)
    assert len(grid) == 1 + 2 * 3
    assert len(set(grid)) == len(grid)


def test_candidate_round_trips_through_its_dict() -> None:
    candidate = Candidate(2, True, 500, (8, 16), 32, InstanceKind.GPU)

    assert Candidate.from_dict(candidate.as_dict()) == candidate


def test_candidate_rejects_zero_instances_naming_the_field() -> None:
    with pytest.raises(TuneError, match="instance_count"):
        Candidate(0, False, 0, (), 8)


def test_sweep_stops_after_two_steps_in_a_row_over_the_target() -> None:
    seen: list[int] = []

    def measure(concurrency: int) -> StepResult:
        seen.append(concurrency)
        return _step(concurrency, 100.0 * concurrency, 2.0 * concurrency)

    steps = sweep_concurrency([1, 2, 4, 8, 16, 32], measure, TARGET_MS)

    assert seen == [1, 2, 4, 8, 16]  # 8 and 16 miss 10 ms: no point going higher
    trial = summarize_trial(SPEC, steps, TARGET_MS)
    assert trial.feasible
    assert (trial.concurrency, trial.throughput_rps) == (4, 400.0)


def test_sweep_stops_when_throughput_saturates() -> None:
    rates = {1: 100.0, 2: 190.0, 4: 192.0, 8: 191.0, 16: 400.0}

    steps = sweep_concurrency(list(rates), lambda c: _step(c, rates[c], 1.0), TARGET_MS,
                              min_gain=0.03)

    assert [s.concurrency for s in steps] == [1, 2, 4, 8]  # two steps in a row without gain


def test_sweep_survives_one_step_over_the_target_from_a_stall() -> None:
    p99 = {1: 50.0, 2: 4.0, 4: 5.0, 8: 30.0, 16: 40.0}

    steps = sweep_concurrency(list(p99), lambda c: _step(c, 100.0 * c, p99[c]), TARGET_MS)

    trial = summarize_trial(SPEC, steps, TARGET_MS)
    assert (trial.feasible, trial.concurrency) == (True, 4)
    assert [s.concurrency for s in steps] == [1, 2, 4, 8, 16]


def test_sweep_survives_one_noisy_step_without_gain() -> None:
    rates = {1: 100.0, 2: 190.0, 4: 150.0, 8: 400.0, 16: 390.0, 32: 380.0}

    steps = sweep_concurrency(list(rates), lambda c: _step(c, rates[c], 1.0), TARGET_MS,
                              min_gain=0.03)

    assert summarize_trial(SPEC, steps, TARGET_MS).concurrency == 8


def test_trial_with_failing_requests_does_not_count_as_meeting_the_target() -> None:
    steps = [_step(1, 100.0, 1.0, failures=50)]

    trial = summarize_trial(SPEC, steps, TARGET_MS)

    assert not trial.feasible
    assert trial.throughput_rps == 0.0


def test_infeasible_trial_reports_its_lowest_p99() -> None:
    steps = [_step(1, 100.0, 30.0)]

    trial = summarize_trial(SPEC, steps, TARGET_MS)

    assert (trial.feasible, trial.p99_ms) == (False, 30.0)


def test_sweep_rejects_unsorted_concurrencies() -> None:
    with pytest.raises(TuneError, match="concurrencies"):
        sweep_concurrency([4, 2], lambda c: _step(c, 1.0, 1.0), TARGET_MS)


def _peaked(candidate: Candidate) -> float:
    """Best at 2 instances, batching on, delay 500 us, no preferred sizes, cap 64."""
    score = 1000.0
    score -= 150.0 * abs(candidate.instance_count - 2)
    if candidate.dynamic_batching:
        score += 200.0
        score -= 0.1 * abs(candidate.max_queue_delay_us - 500)
        score -= 50.0 * len(candidate.preferred_batch_sizes) / 2
        score -= 0.5 * (64 - candidate.max_batch_size)
    return score


def test_quick_search_finds_the_brute_force_best_in_at_most_half_the_trials() -> None:
    space = host_space(SPEC, HostInfo(cpu_cores=4), max_queue_delays_us=[0, 500, 1000, 2000],
                       max_batch_sizes=[16, 64])
    evaluate = _landscape(_peaked)

    brute = brute_search(space, evaluate)
    quick = quick_search(space, evaluate, SPEC)

    assert brute.best is not None and quick.best is not None
    assert quick.best.throughput_rps >= 0.95 * brute.best.throughput_rps
    assert quick.best.candidate == brute.best.candidate
    assert quick.trial_count <= brute.trial_count / 2
    assert len(brute.trials) == len(space.grid())


def test_quick_search_measures_each_candidate_once_then_confirms_the_two_leaders() -> None:
    space = _cpu_space()
    measured: list[Candidate] = []

    def evaluate(candidate: Candidate) -> TrialResult:
        measured.append(candidate)
        return _trial(candidate, _peaked(candidate))

    outcome = quick_search(space, evaluate, SPEC)

    explored = measured[:len(outcome.trials)]
    assert len(explored) == len(set(explored))
    leaders = sorted(outcome.trials, key=lambda t: -t.throughput_rps)[:2]
    assert [t.candidate for t in outcome.confirmations] == [t.candidate for t in leaders]
    assert outcome.trial_count == len(measured) == len(outcome.trials) + 2


def test_confirmation_keeps_one_lucky_measurement_from_winning() -> None:
    lucky, steady = Candidate(1, False, 0, (), 64), Candidate(2, False, 0, (), 64)
    second_look = {lucky: 500.0, steady: 800.0}
    trials = [_trial(lucky, 1000.0), _trial(steady, 800.0)]

    extra, best = confirm_leaders(trials, lambda c: _trial(c, second_look[c]), 2)

    assert len(extra) == 2
    assert best is not None and best.candidate == steady
    assert best.throughput_rps == 800.0


def test_quick_search_respects_its_trial_budget() -> None:
    space = _cpu_space()

    outcome = quick_search(space, _landscape(_peaked), SPEC, max_trials=2)

    assert outcome.trial_count == 2
    assert outcome.budget_exhausted


def test_quick_search_walks_towards_the_target_when_the_start_misses_it() -> None:
    space = _cpu_space()

    def evaluate(candidate: Candidate) -> TrialResult:
        p99 = 20.0 if candidate.dynamic_batching else 4.0  # batching breaks the target
        return _trial(candidate, 500.0, p99)

    outcome = quick_search(space, evaluate, SPEC)

    assert outcome.best is not None
    assert not outcome.best.candidate.dynamic_batching


def test_search_without_any_feasible_trial_has_no_best() -> None:
    space = _cpu_space(instance_counts=[1])

    outcome = brute_search(space, lambda c: _trial(c, 100.0, 50.0))

    assert outcome.best is None
    assert pick_winner(None, outcome.trials) is None


def test_winner_is_the_baseline_when_no_trial_beats_it() -> None:
    baseline = _trial(SPEC, 900.0)
    trials = [_trial(Candidate(2, False, 0, (), 64), 800.0)]

    assert pick_winner(baseline, trials) is baseline


def test_pareto_front_keeps_only_undominated_trials_by_ascending_p99() -> None:
    a = _trial(Candidate(1, False, 0, (), 64), 100.0, 2.0)
    b = _trial(Candidate(2, False, 0, (), 64), 300.0, 6.0)
    dominated = _trial(Candidate(1, True, 0, (), 64), 90.0, 7.0)

    front = pareto_front([b, dominated, a])

    assert front == [a, b]


def test_trial_result_round_trips_through_its_dict() -> None:
    steps = [_step(1, 100.0, 2.0), _step(2, 180.0, 3.0)]
    trial = summarize_trial(SPEC, steps, TARGET_MS)

    again = TrialResult.from_dict(trial.as_dict())

    assert again == trial
    assert math.isclose(again.throughput_rps, 180.0)


def test_host_space_leaves_out_default_caps_below_the_largest_warm_up_batch() -> None:
    space = host_space(SPEC, HostInfo(cpu_cores=2), min_max_batch_size=32)

    assert space.values("max_batch_size") == (64,)
    with pytest.raises(TuneError, match="max_batch_sizes"):
        host_space(SPEC, HostInfo(cpu_cores=2), max_batch_sizes=[16], min_max_batch_size=32)
