"""Unit tests of the liveness facts: calls in flight and the longest silence (pure)."""

from __future__ import annotations

import pytest

from loadtests.liveness import CallsInFlight, longest_gap_s


def test_longest_gap_is_zero_when_every_second_has_an_answer() -> None:
    answered = {second: 5 for second in range(100, 112)}
    assert longest_gap_s(answered, 100.2, 111.9) == 0.0


def test_longest_gap_counts_an_inner_silence_in_whole_seconds() -> None:
    answered = {second: 3 for second in range(100, 112) if not 104 <= second <= 106}
    assert longest_gap_s(answered, 100.0, 111.5) == pytest.approx(3.0)


def test_longest_gap_runs_to_the_stop_when_the_server_froze_and_never_answered_again() -> None:
    answered = {second: 3 for second in range(100, 106)}
    assert longest_gap_s(answered, 100.3, 112.6) == pytest.approx(6.6)


def test_longest_gap_is_the_whole_window_when_nothing_was_answered() -> None:
    assert longest_gap_s({}, 100.5, 110.0) == pytest.approx(9.5)


def test_longest_gap_ignores_seconds_with_failures_only() -> None:
    answered = {100: 4, 101: 0, 102: 0, 103: 4}
    assert longest_gap_s(answered, 100.0, 103.9) == pytest.approx(2.0)


def test_calls_in_flight_lists_only_calls_that_have_not_ended_oldest_first() -> None:
    now = iter([10.0, 11.0, 12.0])
    calls = CallsInFlight(clock=lambda: next(now))
    first = calls.begin("UserA#1", "m")
    calls.begin("UserB#2", "m")
    third = calls.begin("UserA#3", "other")
    calls.end(first)
    calls.end(first)  # ending twice is harmless
    assert [(c.user, c.started_at_s) for c in calls.snapshot()] == [("UserB#2", 11.0),
                                                                    ("UserA#3", 12.0)]
    assert calls.count_by_model() == {"m": 1, "other": 1}
    calls.end(third)
    assert calls.snapshot()[0].as_dict(now_s=14.5)["waited_s"] == 3.5
