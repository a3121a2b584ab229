"""The clients' exception tree.

Every error the clients raise on purpose derives from :class:`ClientError`, so a
caller can catch the whole family in one place::

    ClientError
    ├── ConfigurationError       a bad URL, TLS or timeout option (also a ValueError)
    ├── InvalidInputError        input rejected before sending (also a ValueError)
    ├── ServerUnavailableError   connection refused, HTTP 503, gRPC UNAVAILABLE
    │   ├── QueueFullError       the server answered that its queue is full (HTTP 503)
    │   └── ConnectionLostError  the connection broke after the request was sent
    ├── TimeoutError             deadline exceeded (also a builtins.TimeoutError)
    ├── ModelNotReadyError       model unknown, not loaded or version missing (404)
    ├── MetadataMismatchError    the served model's signature differs from the expected one
    └── ServerError              any other error reported by the server

Errors coming from ``tritonclient``, ``grpc``, ``aiohttp``, ``geventhttpclient`` or
the socket layer are translated at one boundary function per transport, by status
code or exception type (never by message text); the original exception is kept as
``__cause__``.

Triton 2.51 reports a full queue over gRPC as ``UNAVAILABLE``, the same code a
down server produces, so over gRPC a full queue surfaces as
:class:`ServerUnavailableError`; catch that class to handle both.
"""

from __future__ import annotations

import builtins

__all__ = [
    "ClientError",
    "ConfigurationError",
    "ConnectionLostError",
    "InvalidInputError",
    "MetadataMismatchError",
    "ModelNotReadyError",
    "QueueFullError",
    "ServerError",
    "ServerUnavailableError",
    "TimeoutError",
]


class ClientError(Exception):
    """Base class of every error the clients raise on purpose."""


class ConfigurationError(ClientError, ValueError):
    """A client option is invalid (unsupported URL scheme, missing TLS file, ...)."""


class InvalidInputError(ClientError, ValueError):
    """An input was rejected locally, before any request was sent.

    Examples: corrupt image bytes, an array of the wrong shape or dtype, a negative
    user id, ``k`` out of range. Also raised when the server rejects an input
    (HTTP 400, gRPC ``INVALID_ARGUMENT``).
    """


class ServerUnavailableError(ClientError):
    """The server could not be reached or reported that it is unavailable.

    Retried automatically according to the client's :class:`~clients.RetryPolicy`.
    """


class QueueFullError(ServerUnavailableError):
    """The server is reachable but rejected the request because its queue is full."""


class ConnectionLostError(ServerUnavailableError):
    """The connection broke after the request was sent, before its whole answer arrived.

    The server may have run the request. HTTP: the connection was reset or closed while
    the client waited for (or read) the response. gRPC: the call ended with ``UNKNOWN``,
    the status gRPC gives a call whose HTTP/2 stream was removed under it (a replica
    killed mid-response; Triton reports its own failures with other codes). Retried only
    while :attr:`~clients.RetryPolicy.retry_lost_connections` is True.
    """


class TimeoutError(ClientError, builtins.TimeoutError):
    """A call or a readiness wait did not finish before its deadline."""


class ModelNotReadyError(ClientError):
    """The model (or the requested version) is unknown to the server or not ready."""


class MetadataMismatchError(ClientError):
    """The served model's inputs/outputs differ from what the client expects.

    Attributes:
        model_name: Name of the model whose metadata was checked.
        differences: One human-readable line per difference.
    """

    def __init__(self, model_name: str, differences: list[str]) -> None:
        self.model_name = model_name
        self.differences = tuple(differences)
        listing = "; ".join(self.differences)
        super().__init__(f"model '{model_name}' does not match the client: {listing}")


class ServerError(ClientError):
    """The server reported an error the other classes do not describe.

    Attributes:
        status: The protocol status (HTTP status code or gRPC status name), if any.
    """

    def __init__(self, message: str, status: str | None = None) -> None:
        self.status = status
        super().__init__(message)
