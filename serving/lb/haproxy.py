"""Run HAProxy in front of Triton replicas on loopback ports, and steer it at run time."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

from generator.layout.atomic import write_text_atomic
from serving.lb.config import (
    GRPC_BACKEND,
    HTTP_BACKEND,
    BalancerConfig,
    ReplicaAddress,
    check_haproxy_config,
    find_haproxy,
    render_haproxy_config,
)
from serving.lb.errors import BalancerStartError, ReplicaError, RuntimeApiError
from serving.lb.runtime import RuntimeApi, ServerStat, ServerState
from serving.ports import LOOPBACK
from serving.process import ChildProcess, read_log, start_on_free_ports

__all__ = ["BACKENDS", "Balancer"]

BACKENDS = (HTTP_BACKEND, GRPC_BACKEND)
"""Every replica is a server in both backends."""

_POLL_INTERVAL_S = 0.05
_BIND_FAILURE_MARKERS = ("cannot bind socket", "Address already in use")


class Balancer:
    """An ``haproxy`` process balancing HTTP and gRPC requests over Triton replicas.

    Use as a context manager::

        with Balancer([ReplicaAddress("r0", "127.0.0.1", 8000, 8001)]) as lb:
            print(lb.http_url, lb.grpc_url, lb.stats_url)

    Args:
        replicas: The replicas (they should be ready before ``start``).
        http_port: HTTP frontend port; a free one when None.
        grpc_port: gRPC frontend port; a free one when None.
        stats_port: Prometheus/stats port; a free one when None.
        haproxy: The ``haproxy`` binary (default: found on PATH).
        ready_timeout_s: Bound on the wait for every replica to pass its health check.
        stop_timeout_s: Bound on the graceful stop before SIGKILL.
        **settings: Other :class:`BalancerConfig` fields (timeouts, check interval, ...).
    """

    def __init__(
        self,
        replicas: Sequence[ReplicaAddress],
        *,
        http_port: int | None = None,
        grpc_port: int | None = None,
        stats_port: int | None = None,
        haproxy: Path | None = None,
        ready_timeout_s: float = 30.0,
        stop_timeout_s: float = 30.0,
        **settings: Any,
    ) -> None:
        self.binary = find_haproxy(haproxy)
        self._requested_ports = (http_port, grpc_port, stats_port)
        self._workdir = Path(tempfile.mkdtemp(prefix="haproxy-"))
        socket_path = self._workdir / "admin.sock"
        # Checked now, with placeholder ports, so bad settings fail before anything starts.
        self.config = BalancerConfig(
            replicas=tuple(replicas), http_port=http_port or 1, grpc_port=grpc_port or 2,
            stats_port=stats_port or 3, socket_path=socket_path, **settings)
        self.ready_timeout_s = ready_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.api = RuntimeApi(socket_path)
        self._child = ChildProcess()
        self._lock = threading.RLock()

    # ----------------------------------------------------------------- addresses
    @property
    def http_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the HTTP frontend."""
        return f"http://{LOOPBACK}:{self.config.http_port}"

    @property
    def grpc_url(self) -> str:
        """``grpc://127.0.0.1:PORT`` of the gRPC frontend."""
        return f"grpc://{LOOPBACK}:{self.config.grpc_port}"

    @property
    def stats_url(self) -> str:
        """HAProxy's stats page."""
        return f"http://{LOOPBACK}:{self.config.stats_port}/stats"

    @property
    def metrics_url(self) -> str:
        """HAProxy's Prometheus endpoint."""
        return f"http://{LOOPBACK}:{self.config.stats_port}/metrics"

    @property
    def config_path(self) -> Path:
        """The ``haproxy.cfg`` this process runs."""
        return self._workdir / "haproxy.cfg"

    @property
    def log_path(self) -> Path:
        """HAProxy's log: server state changes and failed or retried requests."""
        return self._workdir / "haproxy.log"

    @property
    def pid(self) -> int | None:
        """Process id of HAProxy, or None."""
        return self._child.pid

    @property
    def is_running(self) -> bool:
        """True while HAProxy runs."""
        return self._child.is_running

    # ----------------------------------------------------------------- lifecycle
    def __enter__(self) -> Balancer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def start(self, *, wait_for_replicas: bool = True) -> None:
        """Write the configuration, check it with ``haproxy -c``, start HAProxy, wait.

        Args:
            wait_for_replicas: Also wait until every replica passes its health check.

        Raises:
            BalancerStartError: HAProxy rejected the configuration, exited, or a replica
                did not pass its health check within ``ready_timeout_s``.
        """
        with self._lock:
            if self._child.popen is not None:
                raise RuntimeError("Balancer is already started")

            def attempt(ports: tuple[int, ...]) -> None:
                self.config = replace(self.config, http_port=ports[0], grpc_port=ports[1],
                                      stats_port=ports[2])
                text = render_haproxy_config(self.config)
                check_haproxy_config(text, haproxy=self.binary)
                write_text_atomic(self.config_path, text)
                try:
                    self._child.launch([str(self.binary), "-db", "-f", str(self.config_path)],
                                       self.log_path)
                    self._wait_started(wait_for_replicas)
                except BalancerStartError:
                    self._kill()
                    raise

            start_on_free_ports(self._requested_ports, attempt, BalancerStartError,
                                lambda error: any(m in error.output
                                                  for m in _BIND_FAILURE_MARKERS))

    def stop(self) -> None:
        """Stop gracefully: stop listening, let requests in flight finish, then exit.

        HAProxy's soft stop (SIGUSR1) closes the listeners at once and finishes the
        requests it is serving; SIGKILL follows after ``stop_timeout_s``. Safe to call twice.
        """
        with self._lock:
            self._child.stop(signal.SIGUSR1, self.stop_timeout_s, whole_group=False)

    def close(self) -> None:
        """Stop HAProxy and delete its private folder (socket, configuration, log)."""
        self.stop()
        shutil.rmtree(self._workdir, ignore_errors=True)

    # ----------------------------------------------------------------- steering
    def server_stats(self) -> list[ServerStat]:
        """Statistics of every server in both backends."""
        return self.api.server_stats()

    def replica_stats(self, name: str) -> list[ServerStat]:
        """Statistics of one replica, one entry per backend.

        Raises:
            ReplicaError: The balancer has no replica of that name.
        """
        stats = [s for s in self.server_stats() if s.server == name]
        if not stats:
            raise ReplicaError(name, "the balancer has no such server")
        return stats

    def set_state(self, name: str, state: ServerState) -> None:
        """Set a replica's administrative state in both backends.

        Raises:
            ReplicaError: Unknown replica, or HAProxy refused.
        """
        for backend in BACKENDS:
            try:
                self.api.set_state(backend, name, state)
            except RuntimeApiError as error:
                raise ReplicaError(name, str(error)) from error

    def set_weight(self, name: str, weight: int) -> None:
        """Set a replica's weight (0-256) in both backends: its share of new requests.

        Raises:
            ReplicaError: Unknown replica, bad weight, or HAProxy refused.
        """
        for backend in BACKENDS:
            try:
                self.api.set_weight(backend, name, weight)
            except RuntimeApiError as error:
                raise ReplicaError(name, str(error)) from error

    def drain(self, name: str) -> None:
        """Stop sending new requests to a replica; requests in flight finish."""
        self.set_state(name, ServerState.DRAIN)

    def ready(self, name: str) -> None:
        """Send requests to a replica again (once it passes its health check)."""
        self.set_state(name, ServerState.READY)

    def wait_until(self, name: str, condition: Callable[[list[ServerStat]], bool],
                   timeout_s: float, what: str) -> float:
        """Wait (bounded) until ``condition`` holds for the replica's statistics.

        Returns:
            Seconds waited.

        Raises:
            ReplicaError: The deadline passed first; the message says what was awaited.
        """
        started = time.monotonic()
        while True:
            stats = self.replica_stats(name)
            if condition(stats):
                return time.monotonic() - started
            if time.monotonic() - started > timeout_s:
                states = ", ".join(f"{s.backend}: {s.status} ({s.current_sessions} in flight)"
                                   for s in stats)
                raise ReplicaError(name, f"not {what} after {timeout_s:.1f} s ({states})")
            time.sleep(_POLL_INTERVAL_S)

    def wait_idle(self, name: str, timeout_s: float) -> float:
        """Wait until no request is in flight to the replica; returns seconds waited."""
        return self.wait_until(name, lambda st: all(s.current_sessions == 0 for s in st),
                               timeout_s, "idle")

    def wait_down(self, name: str, timeout_s: float) -> float:
        """Wait until health checks have taken the replica out in both backends."""
        return self.wait_until(name, lambda st: not any(s.is_up for s in st),
                               timeout_s, "marked down")

    def wait_up(self, name: str, timeout_s: float) -> float:
        """Wait until the replica passes its health checks in both backends."""
        return self.wait_until(name, lambda st: all(s.is_up for s in st), timeout_s, "up")

    # ----------------------------------------------------------------- internals
    def _log_text(self) -> str:
        return read_log(self.log_path)

    def _wait_started(self, wait_for_replicas: bool) -> None:
        process = self._child.popen
        assert process is not None
        deadline = time.monotonic() + self.ready_timeout_s
        while True:
            if process.poll() is not None:
                raise BalancerStartError(f"haproxy exited with code {process.returncode}",
                                         self._log_text()[-4000:])
            try:
                stats = self.api.server_stats()
            except RuntimeApiError:
                stats = None
            if stats is not None and (not wait_for_replicas or all(s.is_up for s in stats)):
                return
            if time.monotonic() > deadline:
                detail = "" if stats is None else "; ".join(
                    f"{s.backend}/{s.server}: {s.status} {s.check_status}" for s in stats)
                raise BalancerStartError(
                    f"haproxy was not ready after {self.ready_timeout_s:.1f} s {detail}",
                    self._log_text()[-4000:])
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=_POLL_INTERVAL_S)

    def _kill(self) -> None:
        self._child.stop(None, 0.0, whole_group=False)
