"""`python -m generator serve REPO --replicas 2 --state-file F` as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .conftest import MODEL, REPO_ROOT, REPOSITORY, steady_load, wait_for

START_TIMEOUT_S = 120.0


def _read_state(path: Path) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return state


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_serve_replicas_restarts_a_killed_replica_and_stops_cleanly_on_sigterm(
        haproxy: Path, tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    repository.mkdir()
    shutil.copytree(REPOSITORY / MODEL, repository / MODEL)
    state_file = tmp_path / "state.json"
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "generator", "serve", str(repository), "--replicas", "2",
         "--state-file", str(state_file), "--haproxy", str(haproxy)],
        cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    stop = threading.Event()
    threads: list[threading.Thread] = []
    try:
        wait_for(lambda: _read_state(state_file) is not None or process.poll() is not None,
                 START_TIMEOUT_S, "the state file")
        state = _read_state(state_file)
        assert state is not None, (tmp_path / "serve.log").read_text()
        first_pids = [r["pid"] for r in state["replicas"]]
        load, threads = steady_load(state["lb"]["grpc_url"], 2, stop)
        wait_for(lambda: load.ok >= 50, 60, "50 calls through the balancer")

        os.kill(first_pids[0], signal.SIGKILL)
        wait_for(lambda: (s := _read_state(state_file)) is not None
                 and s["replicas"][0]["pid"] not in (None, first_pids[0]), START_TIMEOUT_S,
                 "the state file naming the restarted replica")
        restarted = _read_state(state_file)
        assert restarted is not None
        calls_before_stop = load.ok
        wait_for(lambda: load.ok >= calls_before_stop + 50, 60, "50 calls after the restart")

        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(timeout=60)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
    output = (tmp_path / "serve.log").read_text()

    assert exit_code == 0, output
    assert "replica-1 exited; restarting it" in output
    assert "balancer gRPC:" in output and "replica-2: HTTP http://127.0.0.1:" in output
    assert not state_file.exists()
    pids = [r["pid"] for r in restarted["replicas"]] + [restarted["lb"]["pid"]]
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in pids)
    # Calls in flight at SIGTERM finished; later ones were refused, never cut half-way.
    cut = [e for e in load.errors if "ServerUnavailableError" not in e]
    assert cut == []


def test_serve_replicas_refuses_a_replica_count_out_of_range(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "generator", "serve", str(REPOSITORY), "--replicas", "0"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )

    assert result.returncode == 2
    assert "--replicas: must be 1-16, got 0" in result.stderr



def test_serve_replicas_fails_before_starting_triton_when_haproxy_is_missing(
        tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"

    result = subprocess.run(
        [sys.executable, "-m", "generator", "serve", str(REPOSITORY), "--replicas", "2",
         "--haproxy", str(tmp_path / "no-haproxy"), "--state-file", str(state_file)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )

    assert result.returncode == 1
    assert f"haproxy binary {tmp_path / 'no-haproxy'} does not exist" in result.stderr
    assert "replica-1" not in result.stdout
    assert not state_file.exists()
