"""The one reader of Triton's statistics extension, on a real embedded Triton.

The ONNX zoo's ``scalar`` graph is served in explicit model-control mode so that a
reload (which restarts Triton's counters) can be made under the reader.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from clients import ModelClient, RetryPolicy
from generator.init import init_module_source
from generator.loader import load_specs
from generator.writer import build_repository
from loadtests.errors import ServerStatsError
from loadtests.server_stats import (
    StatsAccumulator,
    diff_snapshots,
    fetch_snapshot,
    model_counters,
    read_model_stats,
)
from loadtests.tune.control import ModelController
from serving import ADMIN_HEADER, TritonServer
from tests.generator.onnx_zoo import scalar_model

MODEL = "scalar"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    root = tmp_path_factory.mktemp("stats")
    spec = root / "specs" / "scalar.py"
    spec.parent.mkdir()
    spec.write_text(init_module_source(scalar_model(root / "onnx"), out=spec))
    build_repository(load_specs(spec.parent), root / "repo")
    with TritonServer(root / "repo", model_control_mode="explicit") as running:
        yield running


def _calls(server: TritonServer, count: int, rows: int = 1) -> None:
    with ModelClient(server.grpc_url, MODEL, retry=RetryPolicy(max_attempts=1)) as client:
        for _ in range(count):
            client.infer({"x": np.ones((rows, 1), np.float32)})


def _reload(server: TritonServer) -> None:
    assert server.admin_key is not None
    with ModelController(server.http_url, {ADMIN_HEADER: server.admin_key}) as control:
        control.load(MODEL, control.config(MODEL))


def test_snapshots_count_exactly_the_requests_and_rows_made_between_them(
    server: TritonServer,
) -> None:
    before = fetch_snapshot(server.http_url, [MODEL])
    _calls(server, 5, rows=3)
    after = fetch_snapshot(server.http_url, [MODEL])

    delta = diff_snapshots(before, after)[MODEL]
    assert delta.success_count == 5
    assert delta.failure_count == 0
    assert delta.inference_count == 15
    assert delta.queue_ms is not None and delta.compute_ms is not None


def test_read_model_stats_lists_each_version_and_model_counters_sums_them(
    server: TritonServer,
) -> None:
    _calls(server, 2)

    versions = read_model_stats(server.http_url, MODEL)

    assert [v.version for v in versions] == ["1"]
    assert model_counters(server.http_url, MODEL).counts["success"] \
        == sum(v.counts["success"] for v in versions) >= 2


def test_reading_a_model_the_server_does_not_have_names_it(server: TritonServer) -> None:
    with pytest.raises(ServerStatsError, match="'no_such_model'"):
        model_counters(server.http_url, "no_such_model")


def test_accumulator_keeps_counting_across_a_reload_that_restarts_the_counters(
    server: TritonServer,
) -> None:
    accumulator = StatsAccumulator(server.http_url, MODEL)
    accumulator.poll()
    start = accumulator.snapshot().models[MODEL].counts["success"]
    _calls(server, 4)
    accumulator.poll()

    _reload(server)
    for _ in range(3):  # the accumulator believes a drop once it lasts three polls
        accumulator.poll()
    _calls(server, 3)

    total = accumulator.snapshot().models[MODEL].counts["success"] - start
    assert model_counters(server.http_url, MODEL).counts["success"] == 3  # restarted
    assert total == 7
    assert accumulator.polls_failed == 0
