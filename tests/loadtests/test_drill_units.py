"""Unit tests of the drill framework's pure parts: timeline, phase figures, report, registry."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from itertools import count
from pathlib import Path

import pytest

from loadtests.drills import (
    Check,
    Drill,
    DrillContext,
    DrillError,
    DrillReport,
    Timeline,
    drills,
    get_drill,
    read_drill_report,
    register,
)
from loadtests.drills.report import write_drill_report
from loadtests.drills.stats import phase_stats
from loadtests.records import Outcome, RequestRecord, read_records, write_all


def _clock() -> Iterator[float]:
    return (float(t) for t in count(100))


def _record(at_s: float, outcome: Outcome = Outcome.OK, version: str | None = "1",
            latency_ms: float = 5.0, retries: int = 0) -> RequestRecord:
    return RequestRecord(at_s, latency_ms, outcome, retries, version,
                         None if outcome is Outcome.OK else f"{outcome.value} error")


def test_timeline_ends_the_running_phase_when_the_next_one_starts() -> None:
    ticks = _clock()
    timeline = Timeline(clock=lambda: next(ticks))
    timeline.start_phase("steady")
    with timeline.phase("rollout"):
        timeline.mark("switch to v2")
    assert [(p.name, p.start_s, p.end_s) for p in timeline.phases] == [
        ("steady", 100.0, 101.0), ("rollout", 101.0, 103.0)]
    assert timeline.marks[0].at_s == 102.0
    assert timeline.current is None


def test_timeline_raises_when_a_phase_name_is_used_twice() -> None:
    timeline = Timeline()
    timeline.start_phase("steady")
    with pytest.raises(DrillError, match="'steady' already exists"):
        timeline.start_phase("steady")


def test_timed_mark_records_duration_and_failure_when_the_step_raises() -> None:
    ticks = _clock()
    timeline = Timeline(clock=lambda: next(ticks))
    with pytest.raises(RuntimeError), timeline.timed("rollout to v3"):
        raise RuntimeError("model file is corrupt")
    (mark,) = timeline.marks
    assert (mark.at_s, mark.duration_s, mark.ok) == (100.0, 1.0, False)
    assert "corrupt" in mark.detail


def test_phase_stats_counts_shed_apart_from_failures_and_versions_per_answer() -> None:
    records = [_record(10.0), _record(10.5, version="2", latency_ms=50.0),
               _record(11.0, Outcome.FAILED), _record(11.5, Outcome.SHED, latency_ms=0.5),
               _record(12.0, retries=2), _record(20.0)]
    stats = phase_stats("rollout", 10.0, 13.0, records, origin_s=9.0)
    assert (stats.requests, stats.failures, stats.shed, stats.retries) == (5, 1, 1, 2)
    assert stats.versions == {"1": 2, "2": 1}
    assert stats.max_ms == 50.0  # the shed call's fast refusal is not a latency sample
    assert (stats.start_s, stats.end_s) == (1.0, 4.0)
    assert stats.lost == 2


def test_drill_report_reads_back_equal_when_written_and_read(tmp_path: Path) -> None:
    records = [_record(1.0 + i / 10) for i in range(30)]
    write_all(tmp_path / "requests.jsonl", records)
    phase = phase_stats("steady", 1.0, 4.0, records, 1.0)
    report = DrillReport("steady", "grpc", "recommendation", {"users": 2}, 1.0, [phase],
                         phase, checks=[Check("no failed request", True, "0 failed")])
    write_drill_report(report, read_records(tmp_path / "requests.jsonl"), tmp_path)
    again = read_drill_report(tmp_path / "report.json")
    assert again.as_dict() == report.as_dict()
    assert again.passed
    assert (tmp_path / "drill.png").stat().st_size > 0


def test_read_records_skips_a_last_line_cut_short_when_writer_was_killed(
    tmp_path: Path
) -> None:
    path = tmp_path / "requests.jsonl"
    write_all(path, [_record(1.0), _record(2.0)])
    with path.open("a", encoding="utf-8") as file:
        file.write('{"started_at_s": 3.0, "lat')
    assert [r.started_at_s for r in read_records(path)] == [1.0, 2.0]


def test_registry_lists_steady_and_refuses_a_second_drill_of_the_same_name() -> None:
    assert "steady" in drills()
    assert get_drill("steady").name == "steady"

    class Impostor(Drill):
        name = "steady"

        def run(self, ctx: DrillContext) -> None:
            del ctx

    with pytest.raises(DrillError, match="registered twice"):
        register(Impostor)
    with pytest.raises(DrillError, match="unknown drill 'nope'"):
        get_drill("nope")


def test_drill_parser_has_common_options_with_the_drills_defaults() -> None:
    from loadtests.cli import build_parser

    args = build_parser().parse_args(["drill", "steady", "--model", "recommendation",
                                      "--protocol", "http"])
    assert isinstance(args, argparse.Namespace)
    assert (args.users, args.duration_s) == (4, 30.0)
    assert args.report_dir == Path(".reports/drill-steady")
    assert args.top_k == 10 and args.max_attempts == 1


def test_drill_command_exits_two_naming_the_repository_when_it_does_not_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from loadtests.cli import main

    missing = tmp_path / "no-such-repository"
    code = main(["drill", "steady", "--model", "recommendation", "--protocol", "http",
                 "--repository", str(missing), "--report-dir", str(tmp_path / "out")])
    assert code == 2
    assert f"repository: {missing} is not a folder" in capsys.readouterr().err
    assert not (tmp_path / "out" / "report.json").exists()
