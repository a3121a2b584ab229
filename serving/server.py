"""Start, watch and stop a real ``tritonserver`` process on loopback ports."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from serving.adapt import AdaptTarget, Substitution, adapt_repository
from serving.embedded import embedded_environment, prepare_backend_dir
from serving.errors import ServerStartError
from serving.locate import EmbeddedTriton, find_embedded_triton
from serving.logparse import parse_model_errors
from serving.ports import LOOPBACK, loopback_opener
from serving.process import ChildProcess, read_log, start_on_free_ports

__all__ = ["ADMIN_HEADER", "MODEL_CONTROL_MODES", "TritonServer", "start_server"]

#: Header that unlocks the restricted admin APIs (repository, shared memory, logging, trace).
ADMIN_HEADER = "triton-suite-admin-key"
#: ``TritonServer(model_control_mode=...)`` choices.
MODEL_CONTROL_MODES = ("none", "explicit")
_ADMIN_KEY_FILE = "admin-key"

_POLL_INTERVAL_S = 0.1
_BIND_FAILURE_MARKERS = ("Address already in use", "failed to start", "Failed to start")
_LIVE: set[TritonServer] = set()  # strong references: stopped at exit even if dropped


def _stop_all_at_exit() -> None:
    for server in list(_LIVE):
        server.stop()


atexit.register(_stop_all_at_exit)


class TritonServer:
    """A ``tritonserver`` process serving one model repository on 127.0.0.1.

    By default the Triton 2.51 build shipped in ``nvidia-pytriton`` is used; it only
    has the python backend, so (with ``adapt=True``) a private adapted copy of the
    repository is served, see :func:`serving.adapt_repository` with
    ``AdaptTarget.EMBEDDED``. A full
    Triton binary given as ``tritonserver`` serves the repository unchanged.

    Use as a context manager::

        with TritonServer(Path("model_repository")) as server:
            print(server.http_url)

    Args:
        repository: Model repository folder.
        http_port: HTTP port; a free one is chosen when None.
        grpc_port: gRPC port; a free one is chosen when None.
        metrics_port: Metrics port; a free one is chosen when None.
        tritonserver: Path of a ``tritonserver`` binary; the embedded one when None.
        adapt: Serve an adapted copy when the binary is the embedded one.
        extra_args: Extra command-line arguments passed to ``tritonserver``.
        ready_timeout_s: How long ``__enter__``/``start`` wait for readiness.
        exit_timeout_s: Triton's ``--exit-timeout-secs``: on SIGTERM it waits this long
            for in-flight requests and for clients to close their HTTP connections.
        stop_timeout_s: How long ``stop`` waits after SIGTERM before SIGKILL
            (default ``exit_timeout_s + 15``).
        restrict_admin_apis: Lock the repository, shared-memory, logging and trace APIs behind the
            :data:`ADMIN_HEADER` header (value in :attr:`admin_key`, and in the 0600 file
            :attr:`admin_key_path` once started).
        model_control_mode: ``"none"`` (default) or ``"explicit"``: every model is loaded
            at start either way; explicit mode lets the repository API (behind the admin
            key) load and unload models and versions, as :mod:`serving.release` does.
    """

    def __init__(
        self,
        repository: Path,
        *,
        http_port: int | None = None,
        grpc_port: int | None = None,
        metrics_port: int | None = None,
        tritonserver: Path | None = None,
        adapt: bool = True,
        extra_args: Sequence[str] = (),
        ready_timeout_s: float = 120.0,
        exit_timeout_s: int = 5,
        stop_timeout_s: float | None = None,
        restrict_admin_apis: bool = True,
        model_control_mode: str = "none",
    ) -> None:
        if model_control_mode not in MODEL_CONTROL_MODES:
            raise ValueError(f"model_control_mode must be one of {MODEL_CONTROL_MODES}, "
                             f"got {model_control_mode!r}")
        self.model_control_mode = model_control_mode
        self.repository = Path(repository)
        self._requested_ports = (http_port, grpc_port, metrics_port)
        self._ports: tuple[int, int, int] | None = None
        self._embedded: EmbeddedTriton | None = None
        if tritonserver is None:
            self._embedded = find_embedded_triton()
            self.binary = self._embedded.binary
        else:
            self.binary = Path(tritonserver)
            candidate = _find_embedded_or_none()
            if candidate is not None and self.binary.resolve() == candidate.binary.resolve():
                self._embedded = candidate
        self.adapt = adapt and self._embedded is not None
        self.extra_args = tuple(extra_args)
        self.ready_timeout_s = ready_timeout_s
        self.exit_timeout_s = exit_timeout_s
        self.stop_timeout_s = exit_timeout_s + 15.0 if stop_timeout_s is None else stop_timeout_s
        self.admin_key = secrets.token_hex(16) if restrict_admin_apis else None
        self.substitutions: list[Substitution] = []
        self._workdir: Path | None = None
        self._child = ChildProcess()
        self._lock = threading.RLock()

    # ----------------------------------------------------------------- properties
    @property
    def is_embedded(self) -> bool:
        """True when the binary is the python-only build from ``nvidia-pytriton``."""
        return self._embedded is not None

    def _port(self, index: int) -> int:
        if self._ports is not None:
            return self._ports[index]
        requested = self._requested_ports[index]
        if requested is None:
            raise RuntimeError("the server is not started; its ports are chosen at start")
        return requested

    @property
    def http_port(self) -> int:
        """HTTP port (known once started when chosen automatically)."""
        return self._port(0)

    @property
    def grpc_port(self) -> int:
        """gRPC port (known once started when chosen automatically)."""
        return self._port(1)

    @property
    def metrics_port(self) -> int:
        """Metrics port (known once started when chosen automatically)."""
        return self._port(2)

    @property
    def http_address(self) -> str:
        """``127.0.0.1:PORT`` of the HTTP endpoint, as raw tritonclient expects."""
        return f"{LOOPBACK}:{self.http_port}"

    @property
    def grpc_address(self) -> str:
        """``127.0.0.1:PORT`` of the gRPC endpoint, as raw tritonclient expects."""
        return f"{LOOPBACK}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.http_address}"

    @property
    def grpc_url(self) -> str:
        """``grpc://127.0.0.1:PORT``."""
        return f"grpc://{self.grpc_address}"

    @property
    def metrics_url(self) -> str:
        """``http://127.0.0.1:PORT/metrics``."""
        return f"http://{LOOPBACK}:{self.metrics_port}/metrics"

    @property
    def log_path(self) -> Path | None:
        """The server's combined stdout/stderr log (inside the private temp dir)."""
        return None if self._workdir is None else self._workdir / "tritonserver.log"

    @property
    def served_repository(self) -> Path:
        """The folder Triton actually serves (the adapted copy when adapting)."""
        if self.adapt and self._workdir is not None:
            return self._workdir / "repository"
        return self.repository

    @property
    def admin_key_path(self) -> Path | None:
        """The 0600 file holding :attr:`admin_key` while the server runs, or None."""
        if self.admin_key is None or self._workdir is None:
            return None
        return self._workdir / _ADMIN_KEY_FILE

    @property
    def pid(self) -> int | None:
        """Process id of the running ``tritonserver``, or None."""
        return self._child.pid

    @property
    def is_running(self) -> bool:
        """True while the ``tritonserver`` process is alive."""
        return self._child.is_running

    # ----------------------------------------------------------------- lifecycle
    def __enter__(self) -> TritonServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Prepare the private folder, launch ``tritonserver`` and wait until ready.

        Raises:
            ServerStartError: If the server exits or is not ready within
                ``ready_timeout_s``; ``model_errors`` names each model that failed.
            AdaptationError: If the repository cannot be adapted.
            RuntimeError: If the server is already running.
        """
        with self._lock:
            if self._child.popen is not None:
                raise RuntimeError("TritonServer is already started")
            try:
                self._prepare()
                self._launch_with_port_retries()
            except BaseException:
                self.stop()
                raise
            _LIVE.add(self)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``stop_timeout_s``) and clean up.

        Safe to call more than once and on a server that never started.
        """
        with self._lock:
            self._terminate()
            _LIVE.discard(self)
            if self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)
                self._workdir = None
            self._ports = None

    def wait_until_ready(self, timeout_s: float) -> None:
        """Poll ``/v2/health/ready`` until it answers 200.

        Args:
            timeout_s: Deadline in seconds.

        Raises:
            ServerStartError: If the process exits or the deadline passes first.
        """
        process = self._child.popen
        if process is None:
            raise ServerStartError("the server is not started", log_path=self.log_path)
        deadline = time.monotonic() + timeout_s
        url = f"{self.http_url}/v2/health/ready"
        while True:
            if _http_status(url) == 200:
                return
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                raise self._start_error(f"Triton was not ready after {timeout_s:.1f} s")
            with contextlib.suppress(subprocess.TimeoutExpired):
                # Waiting on the process doubles as the poll interval and returns at once
                # if the server exits.
                process.wait(timeout=min(_POLL_INTERVAL_S, remaining_s))
            if process.poll() is not None:
                raise self._start_error(f"Triton exited with code {process.returncode}")

    def repository_index(self) -> list[dict[str, Any]]:
        """Return Triton's ``/v2/repository/index`` (name, version, state, reason)."""
        request = urllib.request.Request(
            f"{self.http_url}/v2/repository/index", data=b"{}", method="POST",
            headers=self._admin_headers(),
        )
        with loopback_opener().open(request, timeout=5.0) as response:
            payload: list[dict[str, Any]] = json.loads(response.read())
        return payload

    # ----------------------------------------------------------------- internals
    def _admin_headers(self) -> dict[str, str]:
        return {} if self.admin_key is None else {ADMIN_HEADER: self.admin_key}

    def _prepare(self) -> None:
        self._workdir = Path(tempfile.mkdtemp(prefix="triton-serving-"))
        if self.admin_key is not None:
            key_fd = os.open(self._workdir / _ADMIN_KEY_FILE,
                             os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(key_fd, "w", encoding="utf-8") as key_file:
                key_file.write(self.admin_key + "\n")
        if self._embedded is not None:
            prepare_backend_dir(self._embedded, self._workdir / "backends")
        if self.adapt:
            self.substitutions = adapt_repository(
                self.repository, self._workdir / "repository", target=AdaptTarget.EMBEDDED
            )
        if not self.served_repository.is_dir():
            raise ServerStartError(f"model repository {self.served_repository} is not a folder")

    def _launch_with_port_retries(self) -> None:
        start_on_free_ports(self._requested_ports, self._launch_on, ServerStartError,
                            _is_bind_race)

    def _launch_on(self, ports: tuple[int, ...]) -> None:
        http, grpc, metrics = ports
        self._ports = (http, grpc, metrics)
        log_path = self.log_path
        assert log_path is not None
        self._child.launch(self._command(), log_path, env=self._environment())
        try:
            self.wait_until_ready(self.ready_timeout_s)
        except ServerStartError:
            self._terminate()
            raise

    def _command(self) -> list[str]:
        command = [
            str(self.binary),
            f"--model-repository={self.served_repository}",
            f"--http-address={LOOPBACK}",
            f"--http-port={self.http_port}",
            f"--grpc-address={LOOPBACK}",
            f"--grpc-port={self.grpc_port}",
            f"--metrics-address={LOOPBACK}",
            f"--metrics-port={self.metrics_port}",
            f"--model-control-mode={self.model_control_mode}",
            "--allow-sagemaker=false",
            "--allow-vertex-ai=false",
            f"--exit-timeout-secs={self.exit_timeout_s}",
        ]
        if self.model_control_mode == "explicit":
            # Strict readiness would report the whole server not ready for good once one
            # version fails to load (a refused rollout); clients check model readiness.
            command += ["--load-model=*", "--strict-readiness=false"]
        if self.admin_key is not None:
            restricted = (f"model-repository,shared-memory,logging,trace:"
                          f"{ADMIN_HEADER}={self.admin_key}")
            command += [f"--http-restricted-api={restricted}",
                        f"--grpc-restricted-protocol={restricted}"]
        if self._embedded is not None and self._workdir is not None:
            command += [
                f"--backend-directory={self._workdir / 'backends'}",
                f"--cache-directory={self._embedded.caches_dir}",
            ]
        return command + list(self.extra_args)

    def _environment(self) -> dict[str, str]:
        if self._embedded is None:
            return dict(os.environ)
        return embedded_environment(self._embedded, os.environ)

    def _terminate(self) -> None:
        # The server leads its own process group; killing it also reaps python backend stubs.
        self._child.stop(signal.SIGTERM, self.stop_timeout_s, whole_group=True)

    def _log_text(self) -> str:
        return read_log(self.log_path)

    def _start_error(self, message: str) -> ServerStartError:
        text = self._log_text()
        model_errors = parse_model_errors(text)
        if not model_errors and self.is_running:
            with contextlib.suppress(OSError, ValueError):
                for entry in self.repository_index():
                    if entry.get("state") not in (None, "READY") and entry.get("reason"):
                        model_errors.setdefault(str(entry["name"]), str(entry["reason"]))
        tail = "\n".join(text.splitlines()[-40:])
        if model_errors:
            message += f"; {len(model_errors)} model(s) failed to load"
        return ServerStartError(
            message, model_errors=model_errors, log_path=self.log_path, log_tail=tail
        )


def _is_bind_race(error: ServerStartError) -> bool:
    return not error.model_errors and any(
        marker in error.log_tail for marker in _BIND_FAILURE_MARKERS
    )


def _find_embedded_or_none() -> EmbeddedTriton | None:
    """Return the embedded Triton layout, or None when it is not installed."""
    try:
        return find_embedded_triton()
    except Exception:
        return None


def _http_status(url: str) -> int | None:
    try:
        with loopback_opener().open(url, timeout=1.0) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def start_server(repository: Path, **kwargs: Any) -> Iterator[TritonServer]:
    """Start a :class:`TritonServer` on ``repository`` for the duration of a block.

    Args:
        repository: Model repository folder.
        **kwargs: Keyword arguments of :class:`TritonServer`.

    Yields:
        The ready server; it is stopped when the block exits, even on errors.
    """
    server = TritonServer(repository, **kwargs)
    with server:
        yield server
