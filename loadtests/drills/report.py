"""A drill's report: ``report.json``, ``report.md`` and a plot of latency and versions.

:func:`read_drill_report` reads a ``report.json`` back into a :class:`DrillReport`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loadtests.drills.stats import PhaseStats
from loadtests.drills.timeline import Mark
from loadtests.records import Outcome, RequestRecord
from loadtests.report import fields_of, read_json_object, save_figure, use_agg, write_report_files

__all__ = [
    "PLOT_NAME",
    "Check",
    "DrillReport",
    "read_drill_report",
    "render_drill_markdown",
    "version_label",
    "write_drill_plot",
    "write_drill_report",
]

PLOT_NAME = "drill.png"
"""File name of the latency-and-versions plot."""


@dataclass(frozen=True)
class Check:
    """One pass/fail condition of a drill.

    Attributes:
        name: What was checked, e.g. ``no failed request``.
        passed: Whether it held.
        detail: The measured value or the reason.
    """

    name: str
    passed: bool
    detail: str = ""


@dataclass
class DrillReport:
    """Everything a drill reports.

    Attributes:
        drill: Drill name.
        protocol: ``grpc`` or ``http``.
        model: Model under load.
        settings: How the drill was configured (users, duration, host, ...).
        started_at_s: When the load started, seconds since the epoch.
        phases: Figures per phase, in time order.
        total: Figures over the whole load.
        marks: Switches and other moments, times relative to the load start.
        checks: Every pass/fail condition.
        details: Drill-specific figures (switch durations, failover times, ...).
        notes: Remarks.
        locust_exit_code: Exit code of the locust process.
    """

    drill: str
    protocol: str
    model: str
    settings: Mapping[str, Any]
    started_at_s: float
    phases: Sequence[PhaseStats]
    total: PhaseStats
    marks: Sequence[Mark] = ()
    checks: Sequence[Check] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    locust_exit_code: int | None = None

    @property
    def passed(self) -> bool:
        """True when there is at least one check and every check held."""
        return bool(self.checks) and all(c.passed for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON document written to ``report.json``."""
        return {
            "drill": self.drill,
            "passed": self.passed,
            "protocol": self.protocol,
            "model": self.model,
            "settings": dict(self.settings),
            "started_at_s": self.started_at_s,
            "phases": [p.as_dict() for p in self.phases],
            "total": self.total.as_dict(),
            "marks": [asdict(m) for m in self.marks],
            "checks": [asdict(c) for c in self.checks],
            "details": dict(self.details),
            "notes": list(self.notes),
            "locust_exit_code": self.locust_exit_code,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DrillReport:
        """Build the report back from :meth:`as_dict`'s output.

        Raises:
            LoadTestError: A field is missing or malformed (names the field).
        """
        with fields_of("drill report"):
            report = cls(
                drill=str(data["drill"]),
                protocol=str(data["protocol"]),
                model=str(data["model"]),
                settings=dict(data["settings"]),
                started_at_s=float(data["started_at_s"]),
                phases=[PhaseStats.from_dict(p) for p in data["phases"]],
                total=PhaseStats.from_dict(data["total"]),
                marks=[Mark(**m) for m in data["marks"]],
                checks=[Check(**c) for c in data["checks"]],
                details=dict(data["details"]),
                notes=[str(n) for n in data["notes"]],
                locust_exit_code=data.get("locust_exit_code"),
            )
        return report


def read_drill_report(path: Path) -> DrillReport:
    """Read a drill's ``report.json``.

    Raises:
        LoadTestError: The file cannot be read, is not JSON, or a field is malformed.
    """
    return DrillReport.from_dict(read_json_object(path, "drill report"))


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def version_label(version: str) -> str:
    """Return ``v2`` for version ``2``; a call whose result named no version is ``unknown``."""
    return version if version == "unknown" else f"v{version}"


def _versions(stats: PhaseStats) -> str:
    return ", ".join(f"{version_label(k)}: {v}" for k, v in stats.versions.items()) or "none"


def _server(stats: PhaseStats) -> str:
    if stats.server_requests is None:
        return "n/a"
    return f"{stats.server_requests} ok / {stats.server_failures} failed"


def render_drill_markdown(report: DrillReport) -> str:
    """Render the report as Markdown: verdict, checks, phases, marks, details, notes."""
    lines = [
        f"# Drill `{report.drill}`: {report.model} over {report.protocol}",
        "",
        f"**Verdict: {'PASS' if report.passed else 'FAIL'}**",
        "",
        "## Checks",
        "",
        "| check | result | detail |",
        "|---|---|---|",
    ]
    lines += [f"| {c.name} | {'PASS' if c.passed else 'FAIL'} | {c.detail} |"
              for c in report.checks]
    lines += ["", "## Phases (client view; Triton's statistics in the last column)", "",
              "| phase | from s | to s | requests | failures | shed | unfinished | retries | "
              "p50 ms | p99 ms | max ms | rps | versions answered | Triton |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in [*report.phases, report.total]:
        lines.append(
            f"| {p.name} | {p.start_s:.1f} | {p.end_s:.1f} | {p.requests} | {p.failures} | "
            f"{p.shed} | {p.unfinished} | {p.retries} | {_ms(p.p50_ms)} | {_ms(p.p99_ms)} | "
            f"{_ms(p.max_ms)} | "
            f"{p.rps:.1f} | {_versions(p)} | {_server(p)} |"
        )
    errors = [(p.name, e) for p in report.phases for e in p.errors]
    if errors:
        lines += ["", "## Errors seen", ""] + [f"- {name}: `{e}`" for name, e in errors]
    if report.marks:
        lines += ["", "## Marks (seconds after the load started)", "",
                  "| at s | mark | kind | took s | ok | detail |", "|---|---|---|---|---|---|"]
        for m in report.marks:
            took = "" if m.duration_s is None else f"{m.duration_s:.2f}"
            lines.append(f"| {m.at_s:.2f} | {m.label} | {m.kind} | {took} | "
                         f"{'yes' if m.ok else 'NO'} | {m.detail} |")
    if report.details:
        lines += ["", "## Details", "", "```json",
                  json.dumps(dict(report.details), indent=2, sort_keys=True), "```"]
    lines += ["", "## Settings", ""]
    lines += [f"- {key}: `{value}`" for key, value in report.settings.items()]
    if report.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in report.notes]
    lines.append("")
    return "\n".join(lines)


def write_drill_plot(report: DrillReport, records: Sequence[RequestRecord], path: Path) -> None:
    """Plot per-request latency and the version that answered over time, marks drawn.

    Raises:
        PlotSkipped: matplotlib is not installed.
    """
    use_agg("drill plot")
    import matplotlib.pyplot as plt

    origin = report.started_at_s
    fig, (lat, ver) = plt.subplots(2, 1, figsize=(10, 6), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 1]})
    styles = {Outcome.OK: ("tab:blue", ".", "ok"), Outcome.FAILED: ("tab:red", "x", "failed"),
              Outcome.SHED: ("tab:orange", "+", "shed"),
              Outcome.UNFINISHED: ("tab:purple", "v", "unfinished")}
    for outcome, (colour, marker, label) in styles.items():
        chosen = [r for r in records if r.outcome is outcome]
        if chosen:
            lat.scatter([r.started_at_s - origin for r in chosen],
                        [r.latency_ms for r in chosen], s=4, c=colour, marker=marker,
                        label=f"{label} ({len(chosen)})", alpha=0.5, linewidths=0.5)
    lat.set_yscale("log")
    lat.set_ylabel("latency ms (log)")
    lat.set_title(f"drill {report.drill}: {report.model} over {report.protocol} "
                  f"({'PASS' if report.passed else 'FAIL'})")
    answered = [r for r in records if r.outcome is Outcome.OK]
    names = sorted({r.version or "unknown" for r in answered})
    index = {name: i for i, name in enumerate(names)}
    ver.scatter([r.started_at_s - origin for r in answered],
                [index[r.version or "unknown"] for r in answered], s=3, c="tab:green")
    ver.set_yticks(range(len(names)), [version_label(n) for n in names])
    ver.set_ylabel("version")
    ver.set_xlabel("seconds after the load started")
    for i, phase in enumerate(report.phases):
        for axis in (lat, ver):
            axis.axvspan(phase.start_s, phase.end_s, color="grey" if i % 2 else "white",
                         alpha=0.12)
        lat.annotate(phase.name, (phase.start_s, 1.0), xycoords=("data", "axes fraction"),
                     fontsize=7, va="top")
    for mark in report.marks:
        if mark.kind != "switch":
            continue
        for axis in (lat, ver):
            axis.axvline(mark.at_s, color="tab:red" if not mark.ok else "black",
                         linestyle="--", linewidth=0.8)
        lat.annotate(mark.label, (mark.at_s, 0.02), xycoords=("data", "axes fraction"),
                     rotation=90, fontsize=7, va="bottom")
    lat.legend(loc="upper right", fontsize=7)
    save_figure(fig, path)


def write_drill_report(report: DrillReport, records: Sequence[RequestRecord],
                       report_dir: Path) -> list[Path]:
    """Write ``report.json``, ``report.md`` and the plot into ``report_dir``.

    Returns:
        The files written. Without matplotlib the plot is skipped with a note.
    """
    return write_report_files(report_dir, report, render_drill_markdown, PLOT_NAME,
                              lambda path: write_drill_plot(report, records, path))
