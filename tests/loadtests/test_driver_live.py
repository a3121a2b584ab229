"""The closed-loop driver over a model's call, on a real embedded Triton.

The ONNX zoo's ``scalar`` graph (``y = 3 x + 1``, one scalar per row) is served; the
driver sends perf_analyzer input data through :class:`loadtests.calls.DataCall`, the
same call ``run`` and the tuner make, and counts what ``validation_data`` rejects.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator.init import init_module_source
from generator.loader import load_specs
from generator.writer import build_repository
from loadtests.calls import DataCall, DataOptions
from loadtests.driver import run_closed_loop
from serving import TritonServer, start_server
from tests.generator.onnx_zoo import scalar_model

MODEL = "scalar"
WINDOW_S = 60.0  # the request budget ends every loop here long before the window


@pytest.fixture(scope="module")
def scalar_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    root = tmp_path_factory.mktemp("driver")
    spec = root / "specs" / "scalar.py"
    spec.parent.mkdir()
    spec.write_text(init_module_source(scalar_model(root / "onnx"), out=spec))
    build_repository(load_specs(spec.parent), root / "repo")
    with start_server(root / "repo") as server:
        yield server


def _call(tmp_path: Path, expected: list[float]) -> DataCall:
    document = {"data": [{"x": [1.0]}, {"x": [2.0]}],
                "validation_data": [{"y": [value]} for value in expected]}
    path = tmp_path / f"data-{'-'.join(map(str, expected))}.json"
    path.write_text(json.dumps(document))
    return DataCall(MODEL, DataOptions(input_data=str(path)))


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_closed_loop_answers_every_call_of_valid_data_and_stops_at_the_request_budget(
    scalar_server: TritonServer, tmp_path: Path, protocol: str,
) -> None:
    url = scalar_server.grpc_url if protocol == "grpc" else scalar_server.http_url

    result = run_closed_loop(_call(tmp_path, [4.0, 7.0]), url, 3, WINDOW_S, max_requests=30)

    assert result.requests == 30
    assert result.failures == 0
    assert len(result.latencies_ms) == 30
    assert result.rps > 0


def test_closed_loop_counts_a_wrong_validation_entry_as_failures_naming_the_output(
    scalar_server: TritonServer, tmp_path: Path,
) -> None:
    call = _call(tmp_path, [4.0, 8.0])  # 3 * 2 + 1 is 7, not 8

    result = run_closed_loop(call, scalar_server.grpc_url, 1, WINDOW_S, max_requests=20)

    # the untimed first call took entry 0; the 20 counted calls alternate from entry 1
    assert result.requests == 20
    assert result.failures == 10
    assert result.first_error is not None
    assert "output 'y'" in result.first_error and "validation_data[1]" in result.first_error
