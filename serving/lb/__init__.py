"""HAProxy in front of Triton replicas: configuration, process and runtime API.

:func:`render_haproxy_config` writes ``haproxy.cfg`` from a jinja2 template for N
replicas (HTTP and gRPC h2c frontends balanced per request, health checks on
``/v2/health/ready``, retries with redispatch, a Prometheus endpoint on loopback);
:class:`Balancer` runs it; :class:`RuntimeApi` drains and restores replicas.
"""

from serving.lb.config import (
    GRPC_BACKEND,
    HTTP_BACKEND,
    INSTALL_HINT,
    BalancerConfig,
    ReplicaAddress,
    check_haproxy_config,
    find_haproxy,
    render_haproxy_config,
)
from serving.lb.errors import (
    BalancerConfigError,
    BalancerError,
    BalancerStartError,
    HAProxyNotFoundError,
    ReplicaError,
    RuntimeApiError,
)
from serving.lb.haproxy import BACKENDS, Balancer
from serving.lb.runtime import RuntimeApi, ServerStat, ServerState

__all__ = [
    "BACKENDS",
    "GRPC_BACKEND",
    "HTTP_BACKEND",
    "INSTALL_HINT",
    "Balancer",
    "BalancerConfig",
    "BalancerConfigError",
    "BalancerError",
    "BalancerStartError",
    "HAProxyNotFoundError",
    "ReplicaAddress",
    "ReplicaError",
    "RuntimeApi",
    "RuntimeApiError",
    "ServerStat",
    "ServerState",
    "check_haproxy_config",
    "find_haproxy",
    "render_haproxy_config",
]
