"""Run reports: ``report.json``, ``report.md`` and a latency-over-time PNG.

Everything here is pure data handling; the locust plugin collects the inputs.
:func:`read_report` reads a ``report.json`` back into a :class:`RunReport`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any, Protocol, TypeVar

from generator.layout import write_bytes_atomic, write_text_atomic
from loadtests.errors import LoadTestError, PlotSkipped
from loadtests.server_stats import LatencyBreakdown, ModelDelta
from loadtests.targets import Measured, TargetVerdict, all_passed, format_verdict_table

__all__ = [
    "ClientStats",
    "Report",
    "RunReport",
    "TimePoint",
    "fields_of",
    "read_json_object",
    "read_report",
    "render_markdown",
    "save_figure",
    "use_agg",
    "write_json_and_markdown",
    "write_latency_png",
    "write_report",
    "write_report_files",
]


@dataclass(frozen=True)
class ClientStats:
    """Client-side figures of one model over a run.

    Attributes:
        model: Model name.
        request_type: How locust labelled the calls (``HTTP`` or ``GRPC``).
        measured: Requests, failures, percentiles and throughput.
        mean_ms: Mean latency in milliseconds (None without requests).
        max_ms: Slowest call in milliseconds (None without requests).
    """

    model: str
    request_type: str
    measured: Measured
    mean_ms: float | None
    max_ms: float | None

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        m = self.measured
        return {
            "model": self.model,
            "request_type": self.request_type,
            "requests": m.requests,
            "failures": m.failures,
            "shed": m.shed,
            "unfinished": m.unfinished,
            "error_ratio": m.error_ratio,
            "shed_ratio": m.shed_ratio,
            "unfinished_ratio": m.unfinished_ratio,
            "max_gap_s": m.max_gap_s,
            "rps": m.rps,
            "p50_ms": m.p50_ms,
            "p95_ms": m.p95_ms,
            "p99_ms": m.p99_ms,
            "mean_ms": self.mean_ms,
            "max_ms": self.max_ms,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClientStats:
        """Build the stats back from :meth:`as_dict`'s output."""
        return cls(
            model=str(data["model"]),
            request_type=str(data["request_type"]),
            measured=Measured(
                requests=int(data["requests"]),
                failures=int(data["failures"]),
                p50_ms=data["p50_ms"],
                p95_ms=data["p95_ms"],
                p99_ms=data["p99_ms"],
                rps=float(data["rps"]),
                shed=int(data.get("shed", 0)),
                unfinished=int(data.get("unfinished", 0)),
                max_gap_s=data.get("max_gap_s"),
            ),
            mean_ms=data["mean_ms"],
            max_ms=data["max_ms"],
        )


@dataclass(frozen=True)
class TimePoint:
    """One sample of the run's progress (taken once a second).

    Attributes:
        elapsed_s: Seconds since the test started.
        users: Users running.
        rps: Current requests per second.
        p50_ms: Current median latency (None before the first response).
        p95_ms: Current 95th percentile (None before the first response).
    """

    elapsed_s: float
    users: int
    rps: float
    p50_ms: float | None
    p95_ms: float | None


@dataclass
class RunReport:
    """Everything a run reports.

    Attributes:
        settings: How the run was configured (model, protocol, scenario, host, ...).
        clients: Client-side figures per model.
        verdicts: Target verdicts.
        server: Server-side deltas per model (composing models included).
        breakdown: Client mean latency split per model.
        timeline: Progress samples.
        notes: Anything the reader should know (missing metrics, skipped PNG, ...).
        aborted: Why the run was aborted before measuring, if it was.
        targets_checked: False when targets were not evaluated (``--skip-targets``).
        hung: Set when the run did not end by itself within ``--stop-timeout`` plus
            ``--stop-grace-s`` and its watchdog stopped it: how long it had been stopping
            and the calls still in flight (``user``, ``model``, ``waited_s``).
    """

    settings: Mapping[str, Any]
    clients: Sequence[ClientStats]
    verdicts: Sequence[TargetVerdict]
    server: Mapping[str, ModelDelta] = field(default_factory=dict)
    breakdown: Mapping[str, LatencyBreakdown] = field(default_factory=dict)
    timeline: Sequence[TimePoint] = ()
    notes: list[str] = field(default_factory=list)
    aborted: str | None = None
    targets_checked: bool = True
    hung: Mapping[str, Any] | None = None

    @property
    def passed(self) -> bool:
        """True when the run was not aborted, ended by itself and every target held (if
        they were checked)."""
        if self.aborted is not None or self.hung is not None:
            return False
        return all_passed(self.verdicts) if self.targets_checked else True

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON document written to ``report.json``."""
        return {
            "passed": self.passed,
            "aborted": self.aborted,
            "settings": dict(self.settings),
            "client": {c.model: c.as_dict() for c in self.clients},
            "targets": [v.as_dict() for v in self.verdicts],
            "server": {name: d.as_dict() for name, d in self.server.items()},
            "breakdown": {name: b.as_dict() for name, b in self.breakdown.items()},
            "timeline": [asdict(p) for p in self.timeline],
            "notes": list(self.notes),
            "targets_checked": self.targets_checked,
            "hung": None if self.hung is None else dict(self.hung),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunReport:
        """Build the report back from :meth:`as_dict`'s output.

        Raises:
            LoadTestError: A field is missing or malformed (names the field).
        """
        with fields_of("report"):
            report = cls(
                settings=dict(data["settings"]),
                clients=[ClientStats.from_dict(c) for c in data["client"].values()],
                verdicts=[TargetVerdict(v["model"], v["target"], float(v["goal"]),
                                        v["measured"], bool(v["passed"]))
                          for v in data["targets"]],
                server={name: ModelDelta.from_dict(d) for name, d in data["server"].items()},
                breakdown={name: LatencyBreakdown(**b) for name, b in data["breakdown"].items()},
                timeline=[TimePoint(**p) for p in data["timeline"]],
                notes=[str(n) for n in data["notes"]],
                aborted=data["aborted"],
                targets_checked=bool(data.get("targets_checked", True)),
                hung=data.get("hung"),
            )
        return report


@contextlib.contextmanager
def fields_of(what: str) -> Iterator[None]:
    """Turn a missing or malformed field met in the block into a :class:`LoadTestError`.

    Args:
        what: The document read, the start of the message (``report``).

    Raises:
        LoadTestError: ``KeyError`` (names the missing field), ``TypeError``,
            ``ValueError`` or ``AttributeError`` in the block.
    """
    try:
        yield
    except KeyError as exc:
        raise LoadTestError(f"{what}: field {exc.args[0]!r} is missing") from exc
    except (TypeError, ValueError, AttributeError) as exc:
        raise LoadTestError(f"{what}: malformed field: {exc}") from exc


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    """Read a JSON file that holds one object.

    Args:
        path: The file.
        what: The document read, the start of the message (``report``).

    Raises:
        LoadTestError: The file cannot be read, is not JSON, or is not an object.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise LoadTestError(f"{what} {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise LoadTestError(f"{what} {path}: not a JSON object")
    return data


def read_report(path: Path) -> RunReport:
    """Read a ``report.json`` written by :func:`write_report`.

    Raises:
        LoadTestError: The file cannot be read, is not JSON, or a field is malformed.
    """
    return RunReport.from_dict(read_json_object(path, "report"))


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def render_markdown(report: RunReport) -> str:
    """Render the report as Markdown (verdicts first, then client and server views)."""
    s = report.settings
    lines = [
        f"# Load test: {s.get('model', '?')} over {s.get('protocol', '?')} "
        f"({s.get('scenario', '?')})",
        "",
        f"**Verdict: {'PASS' if report.passed else 'FAIL'}**",
        "",
    ]
    if report.aborted:
        lines += [f"Run aborted: {report.aborted}", ""]
    if report.hung is not None:
        calls = report.hung.get("in_flight", [])
        lines += [f"Run stopped by its watchdog: it had not ended "
                  f"{report.hung.get('stopping_for_s', '?')} s after it began to stop; "
                  f"{len(calls)} call(s) in flight:", ""]
        lines += [f"- {c['user']}: {c['model']}, waiting {c['waited_s']} s" for c in calls]
        lines += [""]
    lines += ["## Settings", ""]
    lines += [f"- {key}: `{value}`" for key, value in s.items()]
    lines += ["", "## Targets", "", "| model | target | goal | measured | verdict |",
              "|---|---|---|---|---|"]
    for v in report.verdicts:
        measured = "n/a" if v.measured is None else f"{v.measured:.4g}"
        lines.append(f"| {v.model} | {v.target} | {v.comparison} {v.goal:g} | {measured} | "
                     f"{'PASS' if v.passed else 'FAIL'} |")
    lines += ["", "## Client view", "",
              "| model | requests | failures | shed | unfinished | longest gap s | rps | "
              "p50 ms | p95 ms | p99 ms | mean ms |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in report.clients:
        m = c.measured
        lines.append(f"| {c.model} | {m.requests} | {m.failures} | {m.shed} | {m.unfinished} | "
                     f"{_ms(m.max_gap_s)} | {m.rps:.1f} | "
                     f"{_ms(m.p50_ms)} | {_ms(m.p95_ms)} | {_ms(m.p99_ms)} | {_ms(c.mean_ms)} |")
    if report.server:
        lines += ["", "## Server view (Triton statistics, deltas over the run)", "",
                  "| model | success | failed | executions | mean batch | queue ms | "
                  "input ms | infer ms | output ms | server ms |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for d in report.server.values():
            batch = "n/a" if d.mean_batch_size is None else f"{d.mean_batch_size:.2f}"
            lines.append(
                f"| {d.model} | {d.success_count} | {d.failure_count} | {d.execution_count} | "
                f"{batch} | {_ms(d.queue_ms)} | {_ms(d.compute_input_ms)} | "
                f"{_ms(d.compute_infer_ms)} | {_ms(d.compute_output_ms)} | {_ms(d.request_ms)} |"
            )
    if report.breakdown:
        lines += ["", "## Where the client's mean latency went", "",
                  "| model | client mean ms | server queue ms | server compute ms | "
                  "transport + client ms |", "|---|---|---|---|---|"]
        for name, b in report.breakdown.items():
            lines.append(f"| {name} | {b.client_mean_ms:.2f} | {b.queue_ms:.2f} | "
                         f"{b.compute_ms:.2f} | {b.other_ms:.2f} |")
    if report.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in report.notes]
    lines += ["", "## Verdict table", "", "```", format_verdict_table(report.verdicts), "```", ""]
    return "\n".join(lines)


def use_agg(what: str) -> None:
    """Select matplotlib's Agg backend, before ``matplotlib.pyplot`` is imported.

    Raises:
        PlotSkipped: matplotlib (optional) is not installed; the message names ``what``.
    """
    try:
        import matplotlib
    except ImportError:
        raise PlotSkipped(f"{what} skipped: matplotlib is not installed "
                          "(pip install matplotlib)") from None
    matplotlib.use("Agg")


def write_latency_png(timeline: Sequence[TimePoint], path: Path, title: str) -> None:
    """Plot p50/p95 latency and users over time.

    Raises:
        PlotSkipped: No progress samples were taken, or matplotlib is missing.
    """
    if not timeline:
        raise PlotSkipped("latency PNG skipped: no progress samples were taken")
    use_agg("latency PNG")
    import matplotlib.pyplot as plt

    t = [p.elapsed_s for p in timeline]
    fig, ax = plt.subplots(figsize=(8, 4))
    nan = float("nan")
    ax.plot(t, [nan if p.p50_ms is None else p.p50_ms for p in timeline], label="p50 ms")
    ax.plot(t, [nan if p.p95_ms is None else p.p95_ms for p in timeline], label="p95 ms")
    ax.set_xlabel("elapsed s")
    ax.set_ylabel("latency ms")
    ax.set_title(title)
    ax2 = ax.twinx()
    ax2.step(t, [p.users for p in timeline], color="grey", where="post", label="users")
    ax2.set_ylabel("users")
    ax.legend(loc="upper left")
    save_figure(fig, path)


def save_figure(fig: Any, path: Path) -> None:
    """Write a matplotlib figure to ``path`` as a PNG (atomically) and close it.

    Args:
        fig: The ``matplotlib.figure.Figure``.
        path: The PNG file.
    """
    import matplotlib.pyplot as plt

    buffer = BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())


def write_json_and_markdown(report_dir: Path, data: Mapping[str, Any],
                            markdown: str) -> list[Path]:
    """Write ``report.json`` and ``report.md`` into ``report_dir`` (atomically).

    Every report's JSON has the same form: keys sorted, indented by 2, no NaN.

    Args:
        report_dir: The report folder (it exists).
        data: The report as JSON data (no NaN).
        markdown: The report rendered as Markdown.

    Returns:
        The two files written.

    Raises:
        ValueError: ``data`` holds a NaN or an infinity.
    """
    json_path = report_dir / "report.json"
    write_text_atomic(json_path,
                      json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")
    md_path = report_dir / "report.md"
    write_text_atomic(md_path, markdown)
    return [json_path, md_path]


class Report(Protocol):
    """What :func:`write_report_files` writes: notes, and the JSON document."""

    notes: list[str]

    def as_dict(self) -> dict[str, Any]:
        """The JSON document."""


ReportT = TypeVar("ReportT", bound=Report)


def write_report_files(report_dir: Path, report: ReportT, render: Callable[[ReportT], str],
                       plot_name: str, plot: Callable[[Path], None]) -> list[Path]:
    """The one writer of a report folder (``run``, ``drill`` and ``tune``).

    The plot is drawn first, so a plot that cannot be drawn leaves its note in the
    report; then :func:`write_json_and_markdown` writes both documents. Each file is
    written to a temporary sibling and renamed.

    Args:
        report_dir: The report folder (created if missing).
        report: The report.
        render: Renders it as Markdown.
        plot_name: The plot's file name in ``report_dir``.
        plot: Draws the plot into the path it is given; raises :class:`PlotSkipped`
            when it cannot (e.g. matplotlib missing, nothing to draw).

    Returns:
        The files written.
    """
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / plot_name
    try:
        plot(path)
    except PlotSkipped as skipped:
        report.notes.append(str(skipped))
        return write_json_and_markdown(report_dir, report.as_dict(), render(report))
    return [*write_json_and_markdown(report_dir, report.as_dict(), render(report)), path]


def write_report(report: RunReport, report_dir: Path) -> list[Path]:
    """Write ``report.json``, ``report.md`` and ``latency.png`` into ``report_dir``.

    Returns:
        The files written.
    """
    title = f"{report.settings.get('model', '')} {report.settings.get('protocol', '')}"
    return write_report_files(report_dir, report, render_markdown, "latency.png",
                              lambda png: write_latency_png(report.timeline, png, title))
