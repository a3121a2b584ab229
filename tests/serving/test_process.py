"""The child-process helpers shared by TritonServer and Balancer (no Triton needed)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from serving.process import ChildProcess, read_log, start_on_free_ports


class _Race(Exception):
    pass


def test_start_on_free_ports_keeps_requested_ports_and_picks_the_others() -> None:
    seen: list[tuple[int, ...]] = []
    start_on_free_ports([1234, None, None], seen.append, _Race, lambda _: True)
    assert len(seen) == 1
    assert seen[0][0] == 1234
    assert len(set(seen[0])) == 3


def test_start_on_free_ports_retries_a_bind_race_up_to_the_limit() -> None:
    calls: list[tuple[int, ...]] = []

    def attempt(ports: tuple[int, ...]) -> None:
        calls.append(ports)
        raise _Race("taken")

    with pytest.raises(_Race):
        start_on_free_ports([None], attempt, _Race, lambda _: True, retries=3)
    assert len(calls) == 3


def test_start_on_free_ports_does_not_retry_fixed_ports_or_other_errors() -> None:
    calls: list[tuple[int, ...]] = []

    def attempt(ports: tuple[int, ...]) -> None:
        calls.append(ports)
        raise _Race("taken")

    with pytest.raises(_Race):
        start_on_free_ports([1234], attempt, _Race, lambda _: True)
    with pytest.raises(_Race):
        start_on_free_ports([None], attempt, _Race, lambda _: False)
    assert len(calls) == 2


def test_child_process_logs_and_stops_gracefully_then_by_sigkill(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    child = ChildProcess()
    assert child.pid is None and not child.is_running
    ignoring = ("import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                "print('up', flush=True); time.sleep(60)")
    process = child.launch([sys.executable, "-c", ignoring], log)
    assert child.pid == process.pid and child.is_running
    while "up" not in read_log(log):
        assert process.poll() is None
    child.stop(signal.SIGTERM, 0.2, whole_group=True)
    assert process.returncode == -signal.SIGKILL
    assert child.popen is None and not child.is_running
    child.stop(signal.SIGTERM, 0.2, whole_group=True)  # a second stop is harmless


def test_read_log_is_empty_without_a_file(tmp_path: Path) -> None:
    assert read_log(None) == ""
    assert read_log(tmp_path / "missing.log") == ""
