"""Unit tests of target loading, overrides and evaluation (pure functions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests import (
    Measured,
    Targets,
    TargetsError,
    all_passed,
    evaluate_targets,
    format_verdict_table,
    load_targets,
    parse_targets,
    targets_for,
)

GOALS = Targets(p50_ms=100.0, p95_ms=200.0, p99_ms=400.0, max_error_ratio=0.01,
                max_shed_ratio=0.05, max_unfinished_ratio=0.0, max_gap_s=2.0, min_rps=10.0)


def _measured(**changes: float | int | None) -> Measured:
    values: dict[str, float | int | None] = dict(
        requests=1000, failures=0, p50_ms=50.0, p95_ms=150.0, p99_ms=300.0, rps=50.0,
        max_gap_s=0.0,
    )
    values.update(changes)
    return Measured(**values)  # type: ignore[arg-type]


def test_evaluate_targets_passes_every_target_when_measurements_are_within_goals() -> None:
    verdicts = evaluate_targets("recommendation", GOALS, _measured())
    assert [v.target for v in verdicts] == ["p50_ms", "p95_ms", "p99_ms", "max_error_ratio",
                                            "max_shed_ratio", "max_unfinished_ratio",
                                            "max_gap_s", "min_rps"]
    assert all_passed(verdicts)


def test_evaluate_targets_fails_only_p95_when_p95_exceeds_goal() -> None:
    verdicts = evaluate_targets("recommendation", GOALS, _measured(p95_ms=250.0))
    failed = [v.target for v in verdicts if not v.passed]
    assert failed == ["p95_ms"]
    assert not all_passed(verdicts)


def test_evaluate_targets_fails_min_rps_when_throughput_is_below_goal() -> None:
    verdicts = {v.target: v for v in evaluate_targets("m", GOALS, _measured(rps=9.9))}
    assert not verdicts["min_rps"].passed
    assert verdicts["min_rps"].comparison == ">="


def test_evaluate_targets_fails_error_ratio_when_two_percent_of_calls_fail() -> None:
    verdicts = {v.target: v for v in evaluate_targets("m", GOALS, _measured(failures=20))}
    assert verdicts["max_error_ratio"].measured == pytest.approx(0.02)
    assert not verdicts["max_error_ratio"].passed


def test_evaluate_targets_fails_unfinished_ratio_when_one_call_was_left_unanswered() -> None:
    verdicts = {v.target: v for v in evaluate_targets("m", GOALS,
                                                      _measured(unfinished=1))}
    assert verdicts["max_unfinished_ratio"].measured == pytest.approx(0.001)
    assert [t for t, v in verdicts.items() if not v.passed] == ["max_unfinished_ratio"]


def test_evaluate_targets_fails_max_gap_when_the_server_was_silent_too_long() -> None:
    verdicts = {v.target: v for v in evaluate_targets("m", GOALS, _measured(max_gap_s=6.5))}
    assert [t for t, v in verdicts.items() if not v.passed] == ["max_gap_s"]


def test_evaluate_targets_leaves_max_gap_out_when_the_measurement_has_no_timeline() -> None:
    verdicts = {v.target: v for v in evaluate_targets("m", GOALS, _measured(max_gap_s=None))}
    assert "max_gap_s" not in verdicts
    assert all_passed(verdicts.values())


def test_parse_targets_refuses_an_unfinished_ratio_above_one() -> None:
    with pytest.raises(TargetsError, match="max_unfinished_ratio"):
        parse_targets({"default": {"max_unfinished_ratio": 2}})


def test_evaluate_targets_fails_everything_when_no_request_was_sent() -> None:
    measured = Measured(0, 0, None, None, None, 0.0)
    verdicts = evaluate_targets("m", GOALS, measured)
    assert not any(v.passed for v in verdicts)
    assert all(v.measured is None for v in verdicts)


def test_evaluate_targets_passes_when_measurement_equals_goal_exactly() -> None:
    verdicts = evaluate_targets("m", GOALS, _measured(p50_ms=100.0, rps=10.0))
    assert all_passed(verdicts)


def test_format_verdict_table_names_failing_target_when_p95_fails() -> None:
    table = format_verdict_table(evaluate_targets("image_diagnosis", GOALS,
                                                  _measured(p95_ms=999.0)))
    assert "FAIL" in table
    assert "OVERALL: FAIL (image_diagnosis.p95_ms)" in table


def test_parse_targets_fills_missing_model_keys_from_default_table() -> None:
    table = parse_targets({"default": {"p50_ms": 7, "min_rps": 3},
                           "recommendation": {"p95_ms": 50}})
    assert table["recommendation"].p50_ms == 7.0
    assert table["recommendation"].p95_ms == 50.0
    assert targets_for(table, "unknown_model").min_rps == 3.0


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"recommendation": {"p95": 1}}, "recommendation.p95"),
        ({"recommendation": {"p95_ms": "fast"}}, "recommendation.p95_ms"),
        ({"recommendation": {"max_error_ratio": 2}}, "recommendation.max_error_ratio"),
        ({"default": {"p50_ms": -1}}, "default.p50_ms"),
    ],
)
def test_parse_targets_raises_naming_the_field_when_a_value_is_invalid(
    document: dict[str, dict[str, object]], field: str
) -> None:
    with pytest.raises(TargetsError, match=field.replace(".", r"\.")):
        parse_targets(document, "t.toml")


def test_with_overrides_replaces_only_given_targets_when_others_are_none() -> None:
    changed = GOALS.with_overrides({"p95_ms": 0.01, "p50_ms": None})
    assert changed.p95_ms == 0.01
    assert changed.p50_ms == GOALS.p50_ms


def test_load_targets_reads_packaged_defaults_for_both_models() -> None:
    table = load_targets()
    assert {"image_diagnosis", "recommendation"} <= set(table)
    assert table["image_diagnosis"].p95_ms >= table["image_diagnosis"].p50_ms


def test_load_targets_raises_naming_the_file_when_toml_is_malformed(tmp_path: Path) -> None:
    bad = tmp_path / "targets.toml"
    bad.write_text("[recommendation\np95_ms = 1\n", encoding="utf-8")
    with pytest.raises(TargetsError, match=r"targets\.toml"):
        load_targets(bad)
