"""A call whose server is killed while it runs: a lost connection, retried by policy.

The model below sleeps for as long as it is asked, after writing a marker named after
its Triton process; the test waits for the marker, SIGKILLs that server mid-call, and
starts it again on the same ports. Inference here is side-effect free, so the default
``RetryPolicy`` retries the lost call until the server is back; with
``retry_lost_connections=False`` the HTTP call fails at once with ``ConnectionLostError``.
"""

from __future__ import annotations

import os
import signal
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clients import ConnectionLostError, ModelClient, RetryPolicy, ServerUnavailableError
from serving import TritonServer, free_ports

_CONFIG = """\
name: "slow"
backend: "python"
max_batch_size: 0
input { name: "seconds" data_type: TYPE_FP32 dims: [ 1 ] }
output { name: "seconds_out" data_type: TYPE_FP32 dims: [ 1 ] }
instance_group { kind: KIND_CPU count: 1 }
"""

_MODEL = textwrap.dedent('''
    import os
    import time
    import triton_python_backend_utils as pb_utils

    class TritonPythonModel:
        def execute(self, requests):
            responses = []
            for request in requests:
                seconds = pb_utils.get_input_tensor_by_name(request, "seconds").as_numpy()
                marker = os.environ.get("SLOW_MODEL_MARKERS")
                if marker:
                    with open(os.path.join(marker, str(os.getppid())), "w") as handle:
                        handle.write("running")
                time.sleep(float(seconds[0]))
                responses.append(pb_utils.InferenceResponse(
                    [pb_utils.Tensor("seconds_out", seconds)]))
            return responses
''')


@pytest.fixture
def slow_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    repository = tmp_path / "repo"
    (repository / "slow" / "1").mkdir(parents=True)
    (repository / "slow" / "config.pbtxt").write_text(_CONFIG)
    (repository / "slow" / "1" / "model.py").write_text(_MODEL)
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv("SLOW_MODEL_MARKERS", str(markers))
    yield repository


def _kill_mid_call_and_restart(repository: Path, protocol: str, retry: RetryPolicy
                               ) -> tuple[dict[str, Any], int]:
    http_port, grpc_port, metrics_port = free_ports(3)
    ports = {"http_port": http_port, "grpc_port": grpc_port, "metrics_port": metrics_port}
    markers = Path(os.environ["SLOW_MODEL_MARKERS"])
    first = TritonServer(repository, **ports)
    first.start()
    second: TritonServer | None = None
    url = first.http_url if protocol == "http" else first.grpc_url
    outcome: dict[str, Any] = {}

    def call() -> None:  # a sync client stays in the thread that made it
        with ModelClient(url, "slow", retry=retry) as client:
            client.wait_until_ready(60.0)
            try:
                outcome["outputs"] = client.infer({"seconds": np.array([2.0], np.float32)})
            except Exception as exc:
                outcome["error"] = exc
            outcome["retries"] = client.retries

    try:
        caller = threading.Thread(target=call)
        caller.start()
        deadline = time.monotonic() + 30
        while not any(markers.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert first.pid is not None and any(markers.iterdir()), f"the call never ran: {outcome}"
        os.kill(first.pid, signal.SIGKILL)
        first.stop()
        if "error" not in outcome:
            second = TritonServer(repository, **ports)
            second.start()
        caller.join(120)
        assert not caller.is_alive()
        return outcome, int(outcome["retries"])
    finally:
        for server in (first, second):
            if server is not None:
                server.stop()


_PATIENT = RetryPolicy(max_attempts=200, initial_backoff_s=0.2, max_backoff_s=1.0,
                       max_total_s=120.0)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_call_lost_to_a_killed_server_is_retried_until_the_restarted_server_answers(
        slow_repository: Path, protocol: str) -> None:
    outcome, retries = _kill_mid_call_and_restart(slow_repository, protocol, _PATIENT)

    assert "error" not in outcome, outcome
    assert float(outcome["outputs"]["seconds_out"][0]) == 2.0
    assert retries >= 1


@pytest.mark.timeout(300)
def test_http_call_lost_to_a_killed_server_fails_at_once_when_lost_connections_are_not_retried(
        slow_repository: Path) -> None:
    strict = RetryPolicy(max_attempts=200, max_total_s=120.0, retry_lost_connections=False)
    outcome, retries = _kill_mid_call_and_restart(slow_repository, "http", strict)

    error = outcome.get("error")
    assert isinstance(error, ConnectionLostError), outcome
    assert isinstance(error, ServerUnavailableError)
    assert retries == 0
