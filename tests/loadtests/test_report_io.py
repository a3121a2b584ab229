"""The report helpers shared by load-test and drill reports (no server needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtests.errors import LoadTestError
from loadtests.report import fields_of, read_json_object, write_json_and_markdown


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
