"""N Triton replicas behind one HAProxy: start, drain, kill, restart and supervise them.

A replica keeps its ports for life, so the balancer's configuration never changes: a
restarted replica takes traffic again once it passes its health check. Stopping a
replica always drains it first (the balancer stops sending to it, requests in flight
finish), then sends SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from generator.layout import CONFIG_FILENAME, write_text_atomic
from serving.errors import ServingError
from serving.lb import Balancer, ReplicaAddress, ReplicaError, find_haproxy
from serving.ports import LOOPBACK, free_ports
from serving.server import TritonServer
from serving.signals import Interrupted, StopSignals

__all__ = [
    "ReplicaInfo",
    "ReplicaSet",
    "RestartTimes",
    "add_replica_arguments",
    "copy_models",
    "run_replicas",
    "served_models",
]

_MAX_REPLICAS = 16
_SUPERVISE_INTERVAL_S = 0.5


@dataclass(frozen=True)
class ReplicaInfo:
    """Where one replica listens, as written to the state file.

    Attributes:
        name: Server name in the balancer (``replica-1``, ...).
        http_url: Triton's HTTP endpoint.
        grpc_url: Triton's gRPC endpoint.
        metrics_url: Triton's Prometheus endpoint.
        pid: Process id of ``tritonserver``, or None while it is stopped.
        admin_key_file: The 0600 file holding its admin key (explicit model control), or
            None (``python -m serving.release canary`` reads it).
    """

    name: str
    http_url: str
    grpc_url: str
    metrics_url: str
    pid: int | None
    admin_key_file: str | None = None


@dataclass(frozen=True)
class RestartTimes:
    """How long a restart took, from the start of the new process.

    Attributes:
        ready_s: Until Triton answered ready.
        in_balancer_s: Until the balancer's health checks passed.
    """

    ready_s: float
    in_balancer_s: float


def served_models(repository: Path) -> tuple[str, ...]:
    """The models of a repository folder (each subfolder with a ``config.pbtxt``), sorted.

    In explicit model-control mode every replica loads them all at start, and the
    balancer's health check asks for each one (``BalancerConfig.check_models``).
    """
    return tuple(sorted(entry.name for entry in repository.iterdir()
                        if (entry / CONFIG_FILENAME).is_file()))


def copy_models(repository: Path, models: Sequence[str], destination: Path) -> Path:
    """Copy only ``models`` of a repository to ``destination`` (less memory per replica).

    Args:
        repository: The source repository.
        models: Model folder names to keep (list an ensemble's steps too).
        destination: A folder that must not exist yet.

    Returns:
        ``destination``.

    Raises:
        ReplicaError: A model folder is missing (``replica`` names the model).
    """
    for model in models:
        if not (Path(repository) / model / CONFIG_FILENAME).is_file():
            raise ReplicaError(model, f"no model folder {model!r} in {repository}")
    destination.mkdir(parents=True)
    for model in models:
        shutil.copytree(Path(repository) / model, destination / model)
    return destination


class ReplicaSet:
    """``replicas`` Triton servers on loopback ports and HAProxy in front of them.

    Use as a context manager::

        with ReplicaSet(Path("model_repository"), replicas=2) as replicas:
            print(replicas.balancer.grpc_url, [r.grpc_url for r in replicas.info()])

    Args:
        repository: The model repository every replica serves.
        replicas: How many replicas (1-16).
        models: Serve only these model folders (a private copy); all when None.
        drain_timeout_s: Bound on the wait for requests in flight when draining.
        restart_timeout_s: Bound on the wait for a restarted replica to take traffic.
        balancer_options: Keyword arguments of :class:`serving.lb.Balancer` (ports,
            ``haproxy``, timeouts, check interval, ...).
        **server_options: Keyword arguments of :class:`serving.TritonServer` for every
            replica (``tritonserver``, ``adapt``, ``exit_timeout_s``, ...).
    """

    def __init__(
        self,
        repository: Path,
        *,
        replicas: int,
        models: Sequence[str] | None = None,
        drain_timeout_s: float = 30.0,
        restart_timeout_s: float = 120.0,
        balancer_options: dict[str, Any] | None = None,
        **server_options: Any,
    ) -> None:
        if not isinstance(replicas, int) or not 1 <= replicas <= _MAX_REPLICAS:
            raise ReplicaError("replicas", f"count must be 1-{_MAX_REPLICAS}, got {replicas!r}")
        for option in ("http_port", "grpc_port", "metrics_port"):
            if option in server_options:
                raise ReplicaError("replicas", f"{option} is chosen per replica; do not pass it")
        self.repository = Path(repository)
        self.count = replicas
        self.models = tuple(models) if models is not None else None
        self.drain_timeout_s = drain_timeout_s
        self.restart_timeout_s = restart_timeout_s
        self._balancer_options = dict(balancer_options or {})
        self._server_options = server_options
        self.names = tuple(f"replica-{index + 1}" for index in range(replicas))
        self._servers: dict[str, TritonServer] = {}
        self._ports: dict[str, tuple[int, int, int]] = {}
        self._stopped: set[str] = set()
        self._workdir: Path | None = None
        self._served_repository = self.repository
        self._balancer: Balancer | None = None
        self._lock = threading.RLock()

    # ----------------------------------------------------------------- access
    @property
    def balancer(self) -> Balancer:
        """The running balancer."""
        if self._balancer is None:
            raise RuntimeError("the replica set is not started")
        return self._balancer

    def server(self, name: str) -> TritonServer:
        """The current :class:`TritonServer` of a replica.

        Raises:
            ReplicaError: No replica of that name.
        """
        try:
            return self._servers[name]
        except KeyError:
            raise ReplicaError(name, f"no such replica; replicas are {list(self.names)}") from None

    def info(self) -> list[ReplicaInfo]:
        """Where each replica listens and its current process id."""
        infos = []
        for name in self.names:
            http, grpc, metrics = self._ports[name]
            server = self._servers.get(name)
            pid = server.pid if server is not None and server.is_running else None
            key = server.admin_key_path if server is not None else None
            infos.append(ReplicaInfo(
                name=name, http_url=f"http://{LOOPBACK}:{http}",
                grpc_url=f"grpc://{LOOPBACK}:{grpc}",
                metrics_url=f"http://{LOOPBACK}:{metrics}/metrics", pid=pid,
                admin_key_file=None if key is None else str(key),
            ))
        return infos

    def state(self) -> dict[str, Any]:
        """The state-file document: the balancer's URLs and every replica's."""
        balancer = self.balancer
        return {
            "lb": {"http_url": balancer.http_url, "grpc_url": balancer.grpc_url,
                   "stats_url": balancer.stats_url, "metrics_url": balancer.metrics_url,
                   "runtime_api": str(balancer.api.socket_path), "pid": balancer.pid},
            "replicas": [asdict(info) for info in self.info()],
        }

    def write_state(self, path: Path) -> None:
        """Write :meth:`state` as JSON to ``path`` atomically (temporary sibling, rename)."""
        write_text_atomic(Path(path), json.dumps(self.state(), indent=2) + "\n")

    # ----------------------------------------------------------------- lifecycle
    def __enter__(self) -> ReplicaSet:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        """Start every replica (each waits until ready), then the balancer.

        Raises:
            ServerStartError: A replica did not become ready.
            HAProxyNotFoundError: HAProxy is not installed (nothing was started).
            BalancerError: HAProxy did not start.
        """
        with self._lock:
            if self._balancer is not None:
                raise RuntimeError("the replica set is already started")
            # Fail before starting any replica when HAProxy is missing.
            find_haproxy(self._balancer_options.get("haproxy"))
            try:
                repository = self.repository
                self._workdir = Path(tempfile.mkdtemp(prefix="triton-replicas-"))
                if self.models is not None:
                    repository = copy_models(self.repository, self.models,
                                             self._workdir / "repository")
                self._served_repository = repository
                for name in self.names:
                    self._start_replica(name, fresh_ports=True)
                options = dict(self._balancer_options)
                if self._server_options.get("model_control_mode") == "explicit":
                    options.setdefault("check_models", served_models(repository))
                self._balancer = Balancer(
                    [ReplicaAddress(name, LOOPBACK, self._ports[name][0], self._ports[name][1])
                     for name in self.names], **options)
                self._balancer.start()
            except BaseException:
                self.stop()
                raise

    def stop(self) -> None:
        """Stop everything: the balancer first (it finishes requests in flight), then replicas.

        Safe to call more than once.
        """
        with self._lock:
            if self._balancer is not None:
                self._balancer.close()
                self._balancer = None
            for server in self._servers.values():
                server.stop()
            self._servers.clear()
            if self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)
                self._workdir = None

    # ----------------------------------------------------------------- operations
    def drain(self, name: str) -> float:
        """Take a replica out of the balancer and wait for its requests in flight.

        Returns:
            Seconds until no request was in flight to it.
        """
        self.server(name)
        self.balancer.drain(name)
        return self.balancer.wait_idle(name, self.drain_timeout_s)

    def stop_replica(self, name: str) -> float:
        """Drain a replica, then stop it with SIGTERM (it stays stopped until restarted).

        Returns:
            Seconds spent draining.
        """
        with self._lock:
            drained_s = self.drain(name)
            self._stopped.add(name)
            self.server(name).stop()
            return drained_s

    def kill(self, name: str, signum: int = signal.SIGKILL) -> None:
        """Send ``signum`` to a replica, as a crash would (for drills).

        SIGKILL goes to the replica's whole process group (``tritonserver`` and its
        python-backend stubs, which share its sockets), like a container killed by the
        kernel; other signals go to ``tritonserver`` only. :meth:`supervise` restarts
        the replica unless it was stopped on purpose.
        """
        pid = self.server(name).pid
        if pid is None:
            raise ReplicaError(name, "is not running")
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if signum == signal.SIGKILL:
                os.killpg(pid, signum)
            else:
                os.kill(pid, signum)

    def restart(self, name: str) -> RestartTimes:
        """Start a replica again on its ports and put it back into the balancer.

        A replica still running is drained and stopped first.

        Returns:
            Seconds from the start of the new process until Triton was ready, and until
            the balancer's health checks passed (it takes traffic from then on).
        """
        with self._lock:
            server = self.server(name)
            if server.is_running:
                self.stop_replica(name)
            else:
                server.stop()
            started = time.monotonic()
            self._start_replica(name, fresh_ports=False)
            ready_s = time.monotonic() - started
            self._stopped.discard(name)
            balancer = self.balancer
            balancer.wait_up(name, self.restart_timeout_s)
            balancer.ready(name)
            return RestartTimes(ready_s=ready_s, in_balancer_s=time.monotonic() - started)

    def dead_replicas(self) -> list[str]:
        """Replicas whose process exited although nobody stopped them."""
        return [name for name in self.names
                if name not in self._stopped and not self.server(name).is_running]

    def supervise(self) -> list[str]:
        """Restart every replica that exited on its own; returns their names."""
        restarted = []
        for name in self.dead_replicas():
            self.restart(name)
            restarted.append(name)
        return restarted

    # ----------------------------------------------------------------- internals
    def _start_replica(self, name: str, *, fresh_ports: bool) -> None:
        attempts = 3 if fresh_ports else 1
        for attempt in range(attempts):
            if fresh_ports:
                http, grpc, metrics = free_ports(3)
            else:
                http, grpc, metrics = self._ports[name]
            server = TritonServer(self._served_repository, http_port=http, grpc_port=grpc,
                                  metrics_port=metrics, **self._server_options)
            self._servers[name] = server
            self._ports[name] = (http, grpc, metrics)
            try:
                server.start()
                return
            except Exception as error:
                server.stop()
                bind_race = "Address already in use" in str(getattr(error, "log_tail", ""))
                if not (fresh_ports and bind_race) or attempt == attempts - 1:
                    raise


def add_replica_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--replicas``, ``--state-file`` and ``--haproxy`` to the ``serve`` parser.

    Args:
        parser: The parser of the ``serve`` command.
    """
    parser.add_argument("--replicas", type=int, default=None, metavar="N",
                        help="run N Triton replicas behind HAProxy; --http-port and "
                        "--grpc-port are then the balancer's ports")
    parser.add_argument("--state-file", type=Path, default=None, metavar="FILE",
                        help="with --replicas: write the balancer's and each replica's URLs "
                        "and pids to FILE as JSON (rewritten when a replica restarts)")
    parser.add_argument("--haproxy", type=Path, default=None, metavar="PATH",
                        help="with --replicas: the haproxy binary (default: on PATH)")


def _print_urls(replicas: ReplicaSet, out: TextIO) -> None:
    balancer = replicas.balancer
    print(f"balancer HTTP:    {balancer.http_url}", file=out)
    print(f"balancer gRPC:    {balancer.grpc_url}", file=out)
    print(f"balancer stats:   {balancer.stats_url} (Prometheus: {balancer.metrics_url})",
          file=out)
    print(f"balancer log:     {balancer.log_path}", file=out)
    for info in replicas.info():
        print(f"{info.name}: HTTP {info.http_url}  gRPC {info.grpc_url}  "
              f"metrics {info.metrics_url}  pid {info.pid}", file=out)


def run_replicas(args: argparse.Namespace) -> int:
    """``serve REPO --replicas N``: replicas and HAProxy in the foreground until a signal.

    A replica that exits on its own is restarted on its ports (and the state file
    rewritten). On SIGINT/SIGTERM the balancer stops first: it closes its listeners and
    lets requests in flight finish, so no replica is stopped while the balancer still
    sends to it; then every replica gets SIGTERM.

    Args:
        args: Parsed ``serve`` arguments with ``replicas`` set.

    Returns:
        0 after a clean stop, 1 if something could not start or HAProxy died, 2 on
        a bad argument, 130 if interrupted while starting.
    """
    out, err = sys.stdout, sys.stderr
    if args.replicas < 1 or args.replicas > _MAX_REPLICAS:
        print(f"error: --replicas: must be 1-{_MAX_REPLICAS}, got {args.replicas}", file=err)
        return 2
    if args.metrics_port is not None:
        print("error: --metrics-port: each replica picks its own; not allowed with --replicas",
              file=err)
        return 2
    server_options: dict[str, Any] = {
        "tritonserver": args.tritonserver, "adapt": args.adapt,
        "ready_timeout_s": args.ready_timeout_s, "exit_timeout_s": args.exit_timeout_s,
        "model_control_mode": getattr(args, "model_control", "none"),
    }
    replicas: ReplicaSet | None = None
    with StopSignals() as signals:
        try:
            replicas = ReplicaSet(
                args.repository, replicas=args.replicas,
                balancer_options={"http_port": args.http_port, "grpc_port": args.grpc_port,
                                  "haproxy": args.haproxy},
                **server_options,
            )
            replicas.start()
            signals.starting = False
            _print_urls(replicas, out)
            if args.state_file is not None:
                replicas.write_state(args.state_file)
                print(f"state file:       {args.state_file}", file=out)
            print("ready; press Ctrl+C to stop", file=out, flush=True)
            while not signals.stop.wait(_SUPERVISE_INTERVAL_S):
                if not replicas.balancer.is_running:
                    print(f"error: haproxy exited unexpectedly; see {replicas.balancer.log_path}",
                          file=err)
                    return 1
                for name in replicas.dead_replicas():
                    print(f"{name} exited; restarting it", file=out, flush=True)
                    replicas.restart(name)
                    if args.state_file is not None:
                        replicas.write_state(args.state_file)
                    print(f"{name} is back: pid {replicas.server(name).pid}", file=out, flush=True)
            print("stopping: balancer first (requests in flight finish), then replicas",
                  file=out, flush=True)
            return 0
        except Interrupted:
            print("interrupted while starting", file=err)
            return 130
        except (ServingError, OSError) as error:
            print(f"error: {error}", file=err)
            return 1
        finally:
            signals.starting = False
            if replicas is not None:
                replicas.stop()
            if args.state_file is not None:
                Path(args.state_file).unlink(missing_ok=True)
            out.flush()
