"""The report helpers shared by the run, drill and tune reports (no server needed)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from loadtests.errors import LoadTestError, PlotSkipped
from loadtests.report import (
    fields_of,
    read_json_object,
    write_json_and_markdown,
    write_report_files,
)
from tests.tune.test_report import _report as tune_report


def test_read_json_object_names_the_document_and_the_fault(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    with pytest.raises(LoadTestError, match=r"^drill report .*report\.json: "):
        read_json_object(path, "drill report")
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(LoadTestError, match="not a JSON object"):
        read_json_object(path, "report")
    path.write_text('{"a": 1}', encoding="utf-8")
    assert read_json_object(path, "report") == {"a": 1}


def test_fields_of_names_a_missing_field_and_reports_a_malformed_one() -> None:
    data: dict[str, object] = {"n": "x"}
    with (pytest.raises(LoadTestError, match=r"^report: field 'missing' is missing$"),
          fields_of("report")):
        data["missing"]
    with (pytest.raises(LoadTestError, match=r"^drill report: malformed field: "),
          fields_of("drill report")):
        int(str(data["n"]))


def test_write_json_and_markdown_writes_both_files(tmp_path: Path) -> None:
    written = write_json_and_markdown(tmp_path, {"a": [1]}, "# title\n")
    assert written == [tmp_path / "report.json", tmp_path / "report.md"]
    assert json.loads(written[0].read_text(encoding="utf-8")) == {"a": [1]}
    assert written[1].read_text(encoding="utf-8") == "# title\n"
    with pytest.raises(ValueError):
        write_json_and_markdown(tmp_path, {"a": float("nan")}, "")


@dataclass
class _Doc:
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"zeta": 1, "alpha": {"b": 2, "a": 1}, "notes": list(self.notes)}


def _markdown(doc: _Doc) -> str:
    return f"# doc\n{len(doc.notes)} notes\n"


def test_write_report_files_writes_sorted_indented_json_the_plot_and_markdown(
    tmp_path: Path,
) -> None:
    def plot(path: Path) -> None:
        path.write_bytes(b"png")

    written = write_report_files(tmp_path / "new", _Doc(), _markdown, "plot.png", plot)

    folder = tmp_path / "new"
    assert written == [folder / "report.json", folder / "report.md", folder / "plot.png"]
    text = (folder / "report.json").read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
    assert text.index('"alpha"') < text.index('"notes"') < text.index('"zeta"')
    assert (folder / "report.md").read_text(encoding="utf-8") == "# doc\n0 notes\n"


def test_write_report_files_puts_the_note_of_a_plot_it_cannot_draw_in_both_documents(
    tmp_path: Path,
) -> None:
    def plot(path: Path) -> None:
        raise PlotSkipped("plot skipped: nothing to draw")

    written = write_report_files(tmp_path, _Doc(), _markdown, "plot.png", plot)

    assert [p.name for p in written] == ["report.json", "report.md"]
    assert not (tmp_path / "plot.png").exists()
    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert data["notes"] == ["plot skipped: nothing to draw"]
    assert (tmp_path / "report.md").read_text(encoding="utf-8").endswith("1 notes\n")


def test_tune_report_json_has_the_same_form_as_every_other_report(tmp_path: Path) -> None:
    from loadtests.tune import write_tune_report

    write_tune_report(tune_report(verified=True), tmp_path)

    text = (tmp_path / "report.json").read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True,
                              allow_nan=False) + "\n"
