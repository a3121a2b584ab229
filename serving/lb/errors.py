"""Errors of the load balancer and the replica supervisor."""

from __future__ import annotations

from serving.errors import ServingError

__all__ = [
    "BalancerConfigError",
    "BalancerError",
    "BalancerStartError",
    "HAProxyNotFoundError",
    "ReplicaError",
    "RuntimeApiError",
]


class BalancerError(ServingError):
    """Base class of every load-balancer and replica error."""


class BalancerConfigError(BalancerError):
    """A balancer setting is invalid; nothing was written or started.

    Attributes:
        field: The setting at fault, e.g. ``replicas[1].name``.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class HAProxyNotFoundError(BalancerError):
    """No ``haproxy`` binary; the message says how to install it."""


class BalancerStartError(BalancerError):
    """HAProxy refused its configuration or did not become ready.

    Attributes:
        output: What HAProxy printed.
    """

    def __init__(self, message: str, output: str = "") -> None:
        self.output = output
        super().__init__(message + (f"\n{output.strip()}" if output.strip() else ""))


class RuntimeApiError(BalancerError):
    """HAProxy's runtime API (stats socket) refused a command or could not be reached."""


class ReplicaError(BalancerError):
    """A replica cannot be found, started, stopped or restarted.

    Attributes:
        replica: The replica's name.
    """

    def __init__(self, replica: str, message: str) -> None:
        self.replica = replica
        super().__init__(f"replica {replica!r}: {message}")
