"""``haproxy.cfg`` for N Triton replicas, rendered from a jinja2 template after checks."""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jinja2

from generator.layout import model_name_problem
from serving.lb.errors import BalancerConfigError, BalancerStartError, HAProxyNotFoundError

__all__ = [
    "GRPC_BACKEND",
    "HTTP_BACKEND",
    "INSTALL_HINT",
    "BalancerConfig",
    "ReplicaAddress",
    "check_haproxy_config",
    "find_haproxy",
    "render_haproxy_config",
]

HTTP_BACKEND = "triton_http"
"""Name of the backend behind the HTTP frontend."""

GRPC_BACKEND = "triton_grpc"
"""Name of the backend behind the gRPC (h2c) frontend."""

INSTALL_HINT = "install it with: sudo apt-get install -y --no-install-recommends haproxy"
"""How to get the HAProxy binary on Debian/Ubuntu (``make install`` does it as root)."""

_TEMPLATE = Path(__file__).resolve().parent.parent / "templates" / "haproxy.cfg.j2"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,62}")
_HOST = re.compile(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")
_SAFE_PATH = re.compile(r"/[A-Za-z0-9_./+-]*")
_CHECK_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ReplicaAddress:
    """Where the balancer finds one Triton replica.

    Attributes:
        name: Server name in HAProxy (letters, digits, ``_.-``; starts with a letter).
        host: IP address or DNS name (a compose service name, for example).
        http_port: Triton's HTTP port; also used for the health check.
        grpc_port: Triton's gRPC port.
    """

    name: str
    host: str
    http_port: int
    grpc_port: int


@dataclass(frozen=True)
class BalancerConfig:
    """Settings of the generated ``haproxy.cfg``. Units are in the names.

    Attributes:
        replicas: The Triton replicas, in order.
        http_port: Port of the HTTP frontend.
        grpc_port: Port of the gRPC (h2c) frontend.
        stats_port: Port of the Prometheus endpoint (``/metrics``) and stats page (``/stats``).
        bind_address: Address of the HTTP and gRPC frontends.
        stats_address: Address of the stats frontend.
        public_bind: Opt in to addresses other than loopback (e.g. inside a container).
        socket_path: Runtime-API unix socket (mode 600, admin level), or None for none.
        nameservers: ``IP:PORT`` DNS servers; when given, replica hosts are resolved at
            run time (compose), and a replica that is not up yet does not stop HAProxy.
        connect_timeout_ms: Time to open a connection to a replica.
        server_timeout_s: Longest wait for a replica's answer (inference included).
        client_timeout_s: Longest idle time of a client connection.
        http_request_timeout_s: Longest time for a client to send a whole request.
        queue_timeout_ms: Longest wait in HAProxy's queue when every replica is full
            (at ``server_max_requests``); past it HAProxy answers 503 (gRPC UNAVAILABLE),
            which the clients count as shed.
        server_max_requests: Requests in flight per replica (HAProxy's per-server
            ``maxconn``, which counts requests, HTTP/2 streams included); the rest wait
            in HAProxy's queue. None: no limit. This is where load is shed: a Triton
            queue policy stalls Triton 2.51's dynamic batcher (docs/stall.md).
        check_models: Models the health check asks for one by one
            (``/v2/models/NAME/ready``); empty: the server's ``/v2/health/ready``. Set it
            for replicas in explicit model-control mode, where strict readiness is off and
            ``/v2/health/ready`` stays 200 whatever is loaded: a replica that lost one of
            these models then leaves the balancer.
        check_interval_ms: Interval of the active health checks.
        check_timeout_ms: Timeout of one health check.
        rise: Consecutive good checks before a replica gets traffic again.
        fall: Consecutive failed checks before a replica is taken out.
        retries: Attempts after the first for a request that could not be delivered.
        max_connections: HAProxy's global connection limit.
        buffer_size_bytes: HAProxy's buffer; a request is retried only if it fits in one
            (64 KiB holds the reference models' PNG scans; bigger buffers cost latency).
        threads: HAProxy's worker threads (``nbthread``); None: one per CPU. One thread
            serves tens of thousands of requests/s, far above what a Triton replica on a
            few cores answers, and avoids hand-offs between threads (measured: the added
            latency at concurrency 1 falls by about a third).
    """

    replicas: tuple[ReplicaAddress, ...]
    http_port: int
    grpc_port: int
    stats_port: int
    bind_address: str = "127.0.0.1"
    stats_address: str = "127.0.0.1"
    public_bind: bool = False
    socket_path: Path | None = None
    nameservers: tuple[str, ...] = ()
    connect_timeout_ms: int = 1000
    server_timeout_s: int = 60
    client_timeout_s: int = 75
    http_request_timeout_s: int = 10
    queue_timeout_ms: int = 5000
    check_interval_ms: int = 500
    check_timeout_ms: int = 1000
    rise: int = 2
    fall: int = 2
    retries: int = 3
    max_connections: int = 4096
    buffer_size_bytes: int = 65536
    threads: int | None = 1
    server_max_requests: int | None = None
    check_models: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "replicas", tuple(self.replicas))
        object.__setattr__(self, "nameservers", tuple(self.nameservers))
        object.__setattr__(self, "check_models", tuple(self.check_models))
        _validate(self)


def _check_port(field_name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise BalancerConfigError(field_name, f"must be a port number 1-65535, got {value!r}")


def _check_positive(field_name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise BalancerConfigError(field_name, f"must be a positive integer, got {value!r}")


def _check_address(field_name: str, value: str, public_bind: bool) -> None:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise BalancerConfigError(field_name, f"must be an IP address, got {value!r}") from None
    if not address.is_loopback and not public_bind:
        raise BalancerConfigError(
            field_name, f"{value} is not a loopback address; set public_bind to opt in")


def _validate(config: BalancerConfig) -> None:
    if not config.replicas:
        raise BalancerConfigError("replicas", "at least one replica is needed")
    names: set[str] = set()
    for index, replica in enumerate(config.replicas):
        where = f"replicas[{index}]"
        if not isinstance(replica.name, str) or not _NAME.fullmatch(replica.name):
            raise BalancerConfigError(
                f"{where}.name", f"{replica.name!r} is not a valid server name (letters, "
                "digits, '_', '.', '-', starting with a letter, at most 63 characters)")
        if replica.name in names:
            raise BalancerConfigError(f"{where}.name", f"duplicate replica name {replica.name!r}")
        names.add(replica.name)
        if not isinstance(replica.host, str) or not _HOST.fullmatch(replica.host):
            raise BalancerConfigError(f"{where}.host",
                                      f"{replica.host!r} is not an IP address or host name")
        _check_port(f"{where}.http_port", replica.http_port)
        _check_port(f"{where}.grpc_port", replica.grpc_port)
    ports = {"http_port": config.http_port, "grpc_port": config.grpc_port,
             "stats_port": config.stats_port}
    for name, port in ports.items():
        _check_port(name, port)
    if len(set(ports.values())) != len(ports):
        raise BalancerConfigError("stats_port", f"the three frontend ports must differ: {ports}")
    _check_address("bind_address", config.bind_address, config.public_bind)
    _check_address("stats_address", config.stats_address, config.public_bind)
    if config.socket_path is not None and not _SAFE_PATH.fullmatch(str(config.socket_path)):
        raise BalancerConfigError(
            "socket_path", f"{str(config.socket_path)!r} must be an absolute path of letters, "
            "digits and '_./+-'")
    for index, nameserver in enumerate(config.nameservers):
        host, _, port_text = nameserver.rpartition(":")
        _check_address(f"nameservers[{index}]", host, public_bind=True)
        _check_port(f"nameservers[{index}]", int(port_text) if port_text.isdigit() else port_text)
    for name in ("connect_timeout_ms", "server_timeout_s", "client_timeout_s",
                 "http_request_timeout_s", "queue_timeout_ms", "check_interval_ms",
                 "check_timeout_ms", "rise", "fall", "max_connections", "buffer_size_bytes"):
        _check_positive(name, getattr(config, name))
    if config.threads is not None:
        _check_positive("threads", config.threads)
    if config.server_max_requests is not None:
        _check_positive("server_max_requests", config.server_max_requests)
    for index, model in enumerate(config.check_models):
        problem = model_name_problem(model) if isinstance(model, str) else "is not a string"
        if problem is not None:
            raise BalancerConfigError(f"check_models[{index}]", f"{model!r}: {problem}")
    if len(set(config.check_models)) != len(config.check_models):
        raise BalancerConfigError("check_models", "names a model twice")
    if not isinstance(config.retries, int) or config.retries < 0:
        raise BalancerConfigError("retries", f"must be an integer >= 0, got {config.retries!r}")


def render_haproxy_config(config: BalancerConfig) -> str:
    """Render ``haproxy.cfg`` for ``config`` (deterministic: same config, same text).

    Args:
        config: Checked balancer settings.

    Returns:
        The configuration text.
    """
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATE.parent)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    variables = {
        name: getattr(config, name) for name in (
            "replicas", "http_port", "grpc_port", "stats_port", "bind_address",
            "stats_address", "nameservers", "connect_timeout_ms", "server_timeout_s",
            "client_timeout_s", "http_request_timeout_s", "queue_timeout_ms",
            "check_interval_ms", "check_timeout_ms", "rise", "fall", "retries",
            "max_connections", "buffer_size_bytes", "threads", "server_max_requests",
            "check_models")
    }
    variables["socket_path"] = "" if config.socket_path is None else str(config.socket_path)
    return env.get_template(_TEMPLATE.name).render(**variables)


def find_haproxy(binary: Path | None = None) -> Path:
    """Return the ``haproxy`` binary to use.

    Args:
        binary: An explicit path; otherwise ``haproxy`` on PATH, then ``/usr/sbin/haproxy``.

    Raises:
        HAProxyNotFoundError: No binary found; the message says how to install it.
    """
    if binary is not None:
        if not Path(binary).is_file():
            raise HAProxyNotFoundError(f"haproxy binary {binary} does not exist")
        return Path(binary)
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise HAProxyNotFoundError(f"haproxy is not installed; {INSTALL_HINT}")
    return Path(found)


def check_haproxy_config(text: str, *, haproxy: Path | None = None) -> None:
    """Check a configuration with ``haproxy -c`` (nothing is bound or started).

    Args:
        text: The configuration.
        haproxy: The binary (default: :func:`find_haproxy`).

    Raises:
        BalancerStartError: HAProxy rejected it; ``output`` holds its messages.
        HAProxyNotFoundError: HAProxy is not installed.
    """
    binary = find_haproxy(haproxy)
    with tempfile.TemporaryDirectory(prefix="haproxy-check-") as tmp:
        path = Path(tmp) / "haproxy.cfg"
        path.write_text(text, encoding="utf-8")
        result = subprocess.run(
            [str(binary), "-c", "-f", str(path)], capture_output=True, text=True,
            timeout=_CHECK_TIMEOUT_S, check=False, stdin=subprocess.DEVNULL,
        )
    if result.returncode != 0:
        raise BalancerStartError("haproxy -c rejected the configuration",
                                 result.stdout + result.stderr)

