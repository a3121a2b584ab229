"""gRPC transport over ``tritonclient.grpc`` (sync) and ``tritonclient.grpc.aio``."""

from __future__ import annotations

import asyncio
import builtins
import os
from collections.abc import Mapping
from typing import Any, ClassVar

import grpc
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as aiogrpcclient
from tritonclient.utils import InferenceServerException

from clients._config import Settings
from clients._core.error_table import GRPC_STATUS_ERRORS, translate_error
from clients._core.query import what
from clients._core.request import InputTensor, triton_datatype
from clients._transport.base import AsyncTransport, SyncTransport, Wire
from clients.errors import (
    ClientError,
    ConfigurationError,
)

__all__ = ["AsyncGrpcTransport", "GrpcTransport", "translate_grpc_error"]

_MAX_MESSAGE_BYTES = 2**31 - 1
# Short reconnect backoff so a client recovers within about a second after a restart.
_CHANNEL_ARGS: list[tuple[str, int]] = [
    ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


def _status_name(exc: InferenceServerException) -> str | None:
    # tritonclient raises "from None" but keeps the grpc.RpcError as __context__.
    context = exc.__context__
    if isinstance(context, grpc.RpcError) and isinstance(context, grpc.Call):
        code: grpc.StatusCode = context.code()
        return str(code.name)
    status = exc.status()
    if status is None:
        return None
    # The status is the str() of a grpc.StatusCode, e.g. "StatusCode.UNAVAILABLE".
    name = str(status).rsplit(".", 1)[-1]
    return name if name in grpc.StatusCode.__members__ else None


def _grpc_status(exc: BaseException) -> tuple[str | None, str] | None:
    if isinstance(exc, InferenceServerException):
        return _status_name(exc), exc.message()
    if isinstance(exc, grpc.RpcError) and isinstance(exc, grpc.Call):
        return str(exc.code().name), str(exc.details())
    return None


_TIMEOUTS = (builtins.TimeoutError, asyncio.TimeoutError)


def translate_grpc_error(exc: BaseException, what: str) -> ClientError:
    """The gRPC boundary: :func:`~clients._core.error_table.translate_error` by status code.

    Args:
        exc: The exception raised by tritonclient, grpc or the socket layer.
        what: What was being called, e.g. ``"model 'recommendation'"``.

    Returns:
        The client error to raise.
    """
    return translate_error(exc, what, GRPC_STATUS_ERRORS, _grpc_status, _TIMEOUTS, (OSError,))


def _client_kwargs(settings: Settings) -> dict[str, Any]:
    endpoint, tls = settings.endpoint, settings.tls
    kwargs: dict[str, Any] = {"ssl": endpoint.tls, "channel_args": list(_CHANNEL_ARGS)}
    if endpoint.tls and tls is not None:
        if tls.insecure_skip_verify:
            raise ConfigurationError(
                "TlsOptions.insecure_skip_verify is not supported for grpcs:// URLs; "
                "pass ca_file instead"
            )

        def path(value: str | os.PathLike[str] | None) -> str | None:
            return None if value is None else os.fspath(value)

        kwargs["root_certificates"] = path(tls.ca_file)
        kwargs["private_key"] = path(tls.key_file)
        kwargs["certificate_chain"] = path(tls.cert_file)
    return kwargs


class _Grpc(Wire):
    """What both gRPC transports send and how they read answers."""

    _JSON_KWARGS: ClassVar[Mapping[str, Any]] = {"as_json": True}

    @staticmethod
    def _header_map(headers: Mapping[str, str]) -> dict[str, str]:
        # gRPC metadata keys must be lower case.
        return {key.lower(): value for key, value in headers.items()}

    _translate = staticmethod(translate_grpc_error)

    @staticmethod
    def _input(tensor: InputTensor) -> grpcclient.InferInput:
        data = tensor.data
        item = grpcclient.InferInput(tensor.name, list(data.shape), triton_datatype(data))
        item.set_data_from_numpy(data)
        return item

    @staticmethod
    def _requested_output(name: str) -> grpcclient.InferRequestedOutput:
        return grpcclient.InferRequestedOutput(name)

    @staticmethod
    def _answered(body: Any) -> tuple[str, str]:
        return str(body.model_name), str(body.model_version)


class _ClosingOnceClient(grpcclient.InferenceServerClient):  # type: ignore[misc]
    """tritonclient's sync gRPC client, whose ``close`` acts only the first time.

    tritonclient's ``__del__`` closes the client again, and every ``grpc.Channel.close``
    decrements grpc's gevent channel count, closed or not. Under gevent (locust) the
    second close drives the count below zero and takes grpc's ``g_greenlets_mu`` from a
    finaliser; at interpreter exit, with grpc's threadpool thread stopped while it held
    that mutex, the process deadlocks (measured: 11 of 25 gevent processes hung at exit,
    0 of 25 with this class; docs/loadtests.md, "Runs that always end").
    """

    _closed = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            super().close()


class GrpcTransport(_Grpc, SyncTransport):
    """Blocking gRPC transport (fails fast on refused connections)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._client = _ClosingOnceClient(settings.endpoint.address, **_client_kwargs(settings))

    def _call(self, model: str | None, timeout_s: float, method: str, *args: Any, **kw: Any) -> Any:
        try:
            call = getattr(self._client, method)
            return call(*args, headers=self._headers or None, client_timeout=timeout_s, **kw)
        except Exception as exc:
            raise translate_grpc_error(exc, what(model)) from exc


class AsyncGrpcTransport(_Grpc, AsyncTransport):
    """Asyncio gRPC transport; twin of :class:`GrpcTransport`."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._kwargs = _client_kwargs(settings)
        self._address = settings.endpoint.address

    def _open(self) -> Any:
        return aiogrpcclient.InferenceServerClient(self._address, **self._kwargs)

    async def _call(
        self, model: str | None, timeout_s: float, method: str, *args: Any, **kw: Any
    ) -> Any:
        try:
            call = getattr(self._get_client(), method)
            return await call(*args, headers=self._headers or None, client_timeout=timeout_s, **kw)
        except Exception as exc:
            raise translate_grpc_error(exc, what(model)) from exc
