"""The canary's step verdict, weights and steps on synthetic figures (no server)."""

from __future__ import annotations

import numpy as np
import pytest

from serving.release.canary import parse_steps, step_weights, validation_set
from serving.release.canary_metrics import VersionCounters, window_metrics
from serving.release.canary_verdict import (
    CanaryThresholds,
    CheckName,
    Decision,
    OutputCheck,
    WindowMetrics,
    judge_step,
)
from serving.release.errors import ReleaseInputError

LIMITS = CanaryThresholds(max_error_ratio=0.01, max_error_ratio_increase=0.005,
                          max_latency_ratio=1.5, latency_slack_ms=1.0, max_p99_ms=250.0,
                          min_requests=20)
BASELINE = WindowMetrics(requests=900, failures=0, latency_ms=2.0)


def test_judge_step_passes_a_canary_as_good_as_the_baseline() -> None:
    verdict = judge_step(WindowMetrics(100, 0, 2.2), BASELINE, LIMITS)
    assert verdict.decision is Decision.PASS
    assert [c.name for c in verdict.checks] == [CheckName.TRAFFIC, CheckName.ERROR_RATIO,
                                                CheckName.LATENCY]


def test_judge_step_fails_a_slower_canary_and_gives_its_numbers() -> None:
    verdict = judge_step(WindowMetrics(100, 0, 25.0), BASELINE, LIMITS)
    assert verdict.decision is Decision.FAIL
    (failed,) = verdict.failed
    assert failed.name is CheckName.LATENCY
    assert (failed.canary, failed.baseline, failed.limit) == (25.0, 2.0, 4.0)


def test_judge_step_fails_errors_above_the_baseline_even_with_little_traffic() -> None:
    verdict = judge_step(WindowMetrics(5, 1, 2.0), BASELINE, LIMITS)
    assert verdict.decision is Decision.FAIL
    assert verdict.failed[0].name is CheckName.ERROR_RATIO
    assert verdict.failed[0].canary == pytest.approx(0.2)


def test_judge_step_error_limit_is_the_lower_of_absolute_and_baseline_plus_increase() -> None:
    noisy_baseline = WindowMetrics(1000, 8, 2.0)  # 0.8 %
    ok = judge_step(WindowMetrics(1000, 9, 2.0), noisy_baseline, LIMITS)
    over = judge_step(WindowMetrics(1000, 11, 2.0), noisy_baseline, LIMITS)
    assert ok.decision is Decision.PASS
    assert over.decision is Decision.FAIL
    assert over.failed[0].limit == pytest.approx(0.01)


def test_judge_step_is_inconclusive_with_too_little_canary_traffic() -> None:
    verdict = judge_step(WindowMetrics(5, 0, 50.0), BASELINE, LIMITS)
    assert verdict.decision is Decision.INCONCLUSIVE
    assert verdict.failed[0].name is CheckName.TRAFFIC


def test_judge_step_fails_wrong_outputs_whatever_the_traffic() -> None:
    outputs = OutputCheck(checked=4, mismatched=1, problems=("case 0 output 'scores' differ",))
    verdict = judge_step(WindowMetrics(0, 0, None), BASELINE, LIMITS, outputs)
    assert verdict.decision is Decision.FAIL
    assert verdict.failed[0].name is CheckName.OUTPUTS
    assert "scores" in verdict.failed[0].detail


def test_judge_step_holds_a_measured_p99_to_its_target() -> None:
    verdict = judge_step(WindowMetrics(100, 0, 2.0, p99_ms=300.0), BASELINE, LIMITS)
    assert verdict.decision is Decision.FAIL
    assert verdict.failed[0].name is CheckName.P99


@pytest.mark.parametrize(("field", "value"), [("max_error_ratio", 1.5),
                                              ("max_latency_ratio", 0.5),
                                              ("min_requests", 0), ("max_p99_ms", -1.0)])
def test_thresholds_refuse_a_bad_value_naming_the_field(field: str, value: float) -> None:
    with pytest.raises(ReleaseInputError) as caught:
        CanaryThresholds(**{field: value})
    assert caught.value.field == field


def test_window_metrics_sums_one_version_over_replicas_and_survives_a_counter_reset() -> None:
    before = [{1: VersionCounters(success=100, queue_us=1000, compute_infer_us=1000)},
              {1: VersionCounters(success=50), 2: VersionCounters(success=40, failure=1)}]
    after = [{1: VersionCounters(success=200, queue_us=2000, compute_infer_us=3000)},
             {1: VersionCounters(success=60), 2: VersionCounters(success=10, failure=1,
                                                                 compute_infer_us=5000)}]
    baseline = window_metrics(before, after, 1)
    assert (baseline.requests, baseline.failures) == (110, 0)
    assert baseline.latency_ms == pytest.approx(3000 / 110 / 1000)
    canary = window_metrics(before, after, 2, [1])
    assert (canary.requests, canary.failures) == (11, 1)  # reset: counted from zero


@pytest.mark.parametrize(("percent", "canary", "baseline", "expected"), [
    (10, ["r1"], ["r2"], {"r1": 1, "r2": 9}),
    (100, ["r1"], ["r2"], {"r1": 1, "r2": 0}),
    (25, ["r1"], ["r2", "r3"], {"r1": 2, "r2": 3, "r3": 3}),
])
def test_step_weights_give_the_canary_its_share(percent: int, canary: list[str],
                                                baseline: list[str],
                                                expected: dict[str, int]) -> None:
    weights = step_weights(percent, canary, baseline)
    assert weights == expected
    share = sum(weights[n] for n in canary) / sum(weights.values())
    assert share == pytest.approx(percent / 100)


@pytest.mark.parametrize("text", ["10,5,100", "10,50", "0,100", "a,100"])
def test_parse_steps_refuses_steps_that_do_not_climb_to_100(text: str) -> None:
    with pytest.raises(ReleaseInputError) as caught:
        parse_steps(text)
    assert caught.value.field == "steps"


def test_validation_set_adds_the_batch_dimension() -> None:
    golden = validation_set("m", 2, [({"x": np.array([3], dtype=np.int64)},
                                      {"y": np.array([1.0, 2.0], dtype=np.float32)}),
                                     ({"x": np.array([4], dtype=np.int64)}, {})], batched=True)
    (case,) = golden.cases
    assert case.inputs["x"].shape == (1, 1)
    assert case.outputs["y"].shape == (1, 2)
