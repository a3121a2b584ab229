"""Unit tests of scenarios, durations and server-side deltas (pure functions)."""

from __future__ import annotations

import pytest

from loadtests import (
    ModelCounters,
    RunnerError,
    RunOptions,
    ServerSnapshot,
    diff_snapshots,
    latency_breakdown,
    parse_duration_s,
    scenario_stages,
    stage_at,
)

_KINDS = ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output")


def _counters(name: str, requests: int, executions: int, queue_ns: int,
              compute_ns: int) -> ModelCounters:
    counts = {k: requests for k in _KINDS}
    counts["fail"] = 0
    ns = {"success": queue_ns + 3 * compute_ns, "fail": 0, "queue": queue_ns,
          "compute_input": compute_ns, "compute_infer": compute_ns, "compute_output": compute_ns}
    return ModelCounters(name, requests, executions, counts, ns)


def _snapshot(*models: ModelCounters, composing: dict[str, list[str]] | None = None
              ) -> ServerSnapshot:
    return ServerSnapshot(0.0, {m.name: m for m in models}, composing=composing or {})


def test_stage_at_returns_peak_users_for_whole_run_when_scenario_is_steady() -> None:
    stages = scenario_stages("steady", 8, 2.0, 30.0)
    assert stage_at(stages, 0.0) == stages[0]
    assert stages[0].users == 8
    assert stage_at(stages, 30.0) is None


def test_scenario_stages_steps_up_to_peak_when_scenario_is_ramp() -> None:
    users = [s.users for s in scenario_stages("ramp", 8, 2.0, 40.0)]
    assert users == [2, 4, 6, 8]


def test_scenario_stages_spikes_then_returns_to_baseline_when_scenario_is_spike() -> None:
    stages = scenario_stages("spike", 8, 1.0, 100.0)
    assert [s.users for s in stages] == [2, 8, 2]
    assert stage_at(stages, 50.0) is stages[1]
    assert stages[1].spawn_rate >= 8  # the spike is sudden, not ramped


def test_scenario_stages_raises_when_scenario_is_unknown() -> None:
    with pytest.raises(ValueError, match="unknown scenario 'soak'"):
        scenario_stages("soak", 1, 1.0, 1.0)


@pytest.mark.parametrize(("text", "seconds"),
                         [("30s", 30.0), ("2m", 120.0), ("1m30s", 90.0), ("45", 45.0)])
def test_parse_duration_s_reads_seconds_when_given_locust_style_durations(
    text: str, seconds: float
) -> None:
    assert parse_duration_s(text) == seconds


def test_parse_duration_s_raises_when_text_is_not_a_duration() -> None:
    with pytest.raises(ValueError, match="ten"):
        parse_duration_s("ten")


def test_run_options_accepts_any_model_name_and_refuses_a_path() -> None:
    assert RunOptions(model="resnet50", protocol="http").model == "resnet50"
    with pytest.raises(RunnerError, match=r"model: model '\.\./x'.*contains '/'"):
        RunOptions(model="../x", protocol="http")


def test_diff_snapshots_reports_mean_batch_and_per_request_ms_when_counters_grow() -> None:
    before = _snapshot(_counters("rec", 100, 100, 1_000_000, 2_000_000))
    after = _snapshot(_counters("rec", 300, 150, 5_000_000, 4_000_000))
    delta = diff_snapshots(before, after)["rec"]
    assert delta.success_count == 200
    assert delta.mean_batch_size == pytest.approx(4.0)
    assert delta.queue_ms == pytest.approx(4_000_000 / 200 / 1e6)
    assert delta.compute_ms == pytest.approx(3 * 2_000_000 / 200 / 1e6)


def test_latency_breakdown_sums_composing_models_when_model_is_an_ensemble() -> None:
    before = _snapshot(_counters("ens", 0, 0, 0, 0), _counters("pre", 0, 0, 0, 0),
                       _counters("cls", 0, 0, 0, 0))
    after = _snapshot(
        _counters("ens", 10, 10, 10_000, 90_000_000),
        _counters("pre", 10, 10, 1_000_000, 10_000_000),
        _counters("cls", 10, 5, 20_000_000, 20_000_000),
        composing={"ens": ["pre", "cls"]},
    )
    split = latency_breakdown(20.0, "ens", diff_snapshots(before, after))
    assert split is not None
    assert split.queue_ms == pytest.approx(0.1 + 2.0)
    assert split.compute_ms == pytest.approx(3.0 + 6.0)
    assert split.other_ms == pytest.approx(20.0 - 2.1 - 9.0)


def test_latency_breakdown_returns_none_when_server_saw_no_requests() -> None:
    snap = _snapshot(_counters("rec", 5, 5, 10, 10))
    assert latency_breakdown(3.0, "rec", diff_snapshots(snap, snap)) is None


def test_parse_stages_reads_back_what_format_stages_wrote_when_spawn_rate_is_given() -> None:
    from loadtests.scenarios import Stage, format_stages, parse_stages

    stages = [Stage(10.0, 4, 2.0), Stage(30.0, 24, 24.0), Stage(40.0, 4, 4.0)]
    assert parse_stages(format_stages(stages)) == stages
    assert parse_stages("5:3") == [Stage(5.0, 3, 3.0)]


@pytest.mark.parametrize("text", ["10:4,5:2", "10", "ten:4", "10:-1"])
def test_parse_stages_raises_naming_the_stage_when_it_is_malformed(text: str) -> None:
    from loadtests.scenarios import parse_stages

    with pytest.raises(ValueError, match=r"stage [12]"):
        parse_stages(text)
