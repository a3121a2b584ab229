"""Status-code -> exception class tables shared by all transports."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from clients.errors import (
    ClientError,
    ConnectionLostError,
    InvalidInputError,
    ModelNotReadyError,
    QueueFullError,
    ServerError,
    ServerUnavailableError,
    TimeoutError,
)

__all__ = [
    "GRPC_STATUS_ERRORS",
    "HTTP_STATUS_ERRORS",
    "error_for_status",
    "is_retryable",
    "translate_error",
]

StatusOf = Callable[[BaseException], "tuple[str | int | None, str] | None"]
"""Reads (status or None, detail) from an error the server reported; None for others."""

GRPC_STATUS_ERRORS: dict[str, type[ClientError]] = {
    "UNAVAILABLE": ServerUnavailableError,
    "UNKNOWN": ConnectionLostError,
    "RESOURCE_EXHAUSTED": QueueFullError,
    "DEADLINE_EXCEEDED": TimeoutError,
    "NOT_FOUND": ModelNotReadyError,
    "INVALID_ARGUMENT": InvalidInputError,
    "OUT_OF_RANGE": InvalidInputError,
}
"""gRPC status name -> error class; any other status becomes :class:`ServerError`."""

HTTP_STATUS_ERRORS: dict[int, type[ClientError]] = {
    400: InvalidInputError,
    404: ModelNotReadyError,
    408: TimeoutError,
    429: QueueFullError,
    502: ServerUnavailableError,
    503: QueueFullError,
    504: TimeoutError,
}
"""HTTP status -> error class; any other status becomes :class:`ServerError`.

Triton answers a full queue with 503 (``UNAVAILABLE``) from a reachable server, hence
:class:`QueueFullError`; a server that cannot be reached raises a socket error instead,
which the transports translate to :class:`ServerUnavailableError`.
"""


def error_for_status(
    table: Mapping[Any, type[ClientError]],
    status: str | int,
    message: str,
) -> ClientError:
    """Builds the exception for a protocol status.

    Args:
        table: :data:`GRPC_STATUS_ERRORS` or :data:`HTTP_STATUS_ERRORS`.
        status: The status name or code.
        message: Human-readable message (already naming the model).

    Returns:
        An exception instance (not raised).
    """
    cls = table.get(status, ServerError)
    if cls is ServerError:
        return ServerError(f"{message} (status {status})", status=str(status))
    error: ClientError = cls(message)
    return error


def translate_error(
    exc: BaseException,
    what: str,
    table: Mapping[Any, type[ClientError]],
    status_of: StatusOf,
    timeouts: tuple[type[BaseException], ...],
    unreachable: tuple[type[BaseException], ...],
    lost: tuple[type[BaseException], ...] = (),
) -> ClientError:
    """Turns a protocol-side exception into a client error (both transports' boundary).

    Classification is by protocol status or exception type only, never by message text.

    Args:
        exc: The exception raised by tritonclient, its protocol library or sockets.
        what: What was being called, e.g. ``"model 'recommendation'"``.
        table: :data:`GRPC_STATUS_ERRORS` or :data:`HTTP_STATUS_ERRORS`.
        status_of: Reads the status of an error the server reported.
        timeouts: Exception types meaning the deadline passed.
        unreachable: Exception types meaning the server could not be reached.
        lost: Exception types meaning the connection broke after the request was sent
            (checked before ``unreachable``, which may hold their base classes).

    Returns:
        The client error to raise (the caller chains ``exc`` as ``__cause__``).
    """
    if isinstance(exc, ClientError):
        return exc
    reported = status_of(exc)
    if reported is not None:
        status, detail = reported
        message = f"{what}: {detail}"
        return ServerError(message) if status is None else error_for_status(table, status, message)
    if isinstance(exc, timeouts):
        return TimeoutError(f"{what}: no answer before the deadline")
    if isinstance(exc, lost):
        return ConnectionLostError(f"{what}: connection lost before the answer "
                                   f"({type(exc).__name__})")
    if isinstance(exc, unreachable):
        return ServerUnavailableError(f"{what}: server unreachable ({type(exc).__name__})")
    return ServerError(f"{what}: unexpected {type(exc).__name__}: {exc}")


def is_retryable(error: BaseException, *, lost_connections: bool = True) -> bool:
    """Tells whether an error may succeed on a later attempt.

    Only "server unavailable" errors (connection refused, HTTP 503, gRPC UNAVAILABLE,
    full queue) are retried, and a connection lost after the request was sent when
    ``lost_connections`` allows it; invalid input, unknown models, metadata mismatches,
    timeouts and other server errors are not.

    Args:
        error: The translated error.
        lost_connections: Whether a :class:`~clients.ConnectionLostError` is retried.

    Returns:
        True if a retry may help.
    """
    if isinstance(error, ConnectionLostError):
        return lost_connections
    return isinstance(error, ServerUnavailableError)
