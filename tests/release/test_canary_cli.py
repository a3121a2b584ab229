"""``python -m serving.release canary``: bad input is refused, naming the field, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.release.cli import main


@pytest.mark.parametrize(("extra", "field"), [
    (["--steps", "10,5,100"], "steps"),
    (["--interval", "soon"], "interval"),
    (["--max-latency-ratio", "0.5"], "max_latency_ratio"),
    ([], "state_file"),
])
def test_canary_cli_refuses_bad_input_before_any_change(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str],
        field: str) -> None:
    code = main(["canary", "--model", "recommendation", "--to-version", "2",
                 "--state-file", str(tmp_path / "missing.json"), *extra])
    assert code == 2
    assert f"error: {field}:" in capsys.readouterr().err
