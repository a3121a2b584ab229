"""HTTP/REST transport over ``tritonclient.http`` (sync) and ``tritonclient.http.aio``."""

from __future__ import annotations

import asyncio
import builtins
import os
import ssl
from collections.abc import Mapping
from typing import Any

import aiohttp
import gevent
import tritonclient.http as httpclient
import tritonclient.http.aio as aiohttpclient
from geventhttpclient.response import HTTPParseError
from tritonclient.utils import InferenceServerException

from clients._config import Settings, TlsOptions
from clients._core.error_table import HTTP_STATUS_ERRORS, translate_error
from clients._core.query import what
from clients._core.request import InputTensor, triton_datatype
from clients._transport.base import AsyncTransport, SyncTransport, Wire
from clients.errors import ClientError

__all__ = ["AsyncHttpTransport", "HttpTransport", "translate_http_error"]


_TIMEOUTS = (builtins.TimeoutError, asyncio.TimeoutError, gevent.Timeout)
# Refused before anything was sent: the request never reached the server.
_UNREACHABLE = (OSError, aiohttp.ClientConnectionError)
# Broken after the request went out (reset, closed, or a response cut short).
_LOST = (
    ConnectionResetError, BrokenPipeError, HTTPParseError, aiohttp.ServerDisconnectedError,
    aiohttp.ClientPayloadError,
)


def _http_status(exc: BaseException) -> tuple[int | None, str] | None:
    if not isinstance(exc, InferenceServerException):
        return None
    status = exc.status()
    return (int(status) if str(status).isdigit() else None), exc.message()


def translate_http_error(exc: BaseException, what: str) -> ClientError:
    """The HTTP boundary: :func:`~clients._core.error_table.translate_error` by HTTP status.

    Args:
        exc: The exception raised by tritonclient, aiohttp, geventhttpclient or sockets.
        what: What was being called, e.g. ``"model 'recommendation'"``.

    Returns:
        The client error to raise.
    """
    return translate_error(exc, what, HTTP_STATUS_ERRORS, _http_status, _TIMEOUTS, _UNREACHABLE,
                           _LOST)


class _Http(Wire):
    """What both HTTP transports send and how they read answers."""

    @staticmethod
    def _header_map(headers: Mapping[str, str]) -> dict[str, str]:
        return dict(headers)

    def _request_headers(self) -> dict[str, str] | None:
        # tritonclient adds "Inference-Header-Content-Length" to the dict it is given, so
        # each call gets its own copy (None, like a bare tritonclient call, when empty).
        return dict(self._headers) if self._headers else None

    _translate = staticmethod(translate_http_error)

    @staticmethod
    def _input(tensor: InputTensor) -> httpclient.InferInput:
        data = tensor.data
        item = httpclient.InferInput(tensor.name, list(data.shape), triton_datatype(data))
        item.set_data_from_numpy(data, binary_data=True)
        return item

    @staticmethod
    def _requested_output(name: str) -> httpclient.InferRequestedOutput:
        return httpclient.InferRequestedOutput(name, binary_data=True)

    @staticmethod
    def _answered(body: Any) -> tuple[str, str]:
        return str(body.get("model_name", "")), str(body.get("model_version", ""))


class HttpTransport(_Http, SyncTransport):
    """Blocking HTTP transport (geventhttpclient underneath)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        endpoint, tls = settings.endpoint, settings.tls
        options: dict[str, Any] | None = None
        if endpoint.tls:
            tls = tls or TlsOptions()
            options = {}
            if tls.ca_file is not None:
                options["ca_certs"] = os.fspath(tls.ca_file)
            if tls.cert_file is not None and tls.key_file is not None:
                options["certfile"] = os.fspath(tls.cert_file)
                options["keyfile"] = os.fspath(tls.key_file)
        self._client = httpclient.InferenceServerClient(
            endpoint.address,
            connection_timeout=settings.timeouts.connect_s,
            network_timeout=settings.timeouts.request_s,
            ssl=endpoint.tls,
            ssl_options=options,
            insecure=bool(tls and tls.insecure_skip_verify),
        )

    def _call(self, model: str | None, timeout_s: float, method: str, *args: Any, **kw: Any) -> Any:
        # A new timer per call: a gevent.Timeout restarted after cancel() keeps only the
        # time it had left (libev's ev_timer_stop stores "at - now"), so a reused 30 s
        # deadline fired after 30 s spent in calls in total, 1-4 ms into a call.
        timer = gevent.Timeout.start_new(timeout_s)
        try:
            return getattr(self._client, method)(*args, headers=self._request_headers(), **kw)
        except (Exception, gevent.Timeout) as exc:
            raise translate_http_error(exc, what(model)) from exc
        finally:
            timer.close()


def _ssl_context(tls: TlsOptions | None) -> ssl.SSLContext:
    tls = tls or TlsOptions()
    context = ssl.create_default_context(
        cafile=os.fspath(tls.ca_file) if tls.ca_file is not None else None
    )
    if tls.cert_file is not None and tls.key_file is not None:
        context.load_cert_chain(os.fspath(tls.cert_file), os.fspath(tls.key_file))
    if tls.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class AsyncHttpTransport(_Http, AsyncTransport):
    """Asyncio HTTP transport (aiohttp underneath); twin of :class:`HttpTransport`."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._settings = settings

    def _open(self) -> Any:
        endpoint = self._settings.endpoint
        return aiohttpclient.InferenceServerClient(
            endpoint.address,
            conn_timeout=self._settings.timeouts.request_s,
            ssl=endpoint.tls,
            ssl_context=_ssl_context(self._settings.tls) if endpoint.tls else None,
        )

    async def _call(
        self, model: str | None, timeout_s: float, method: str, *args: Any, **kw: Any
    ) -> Any:
        try:
            call = getattr(self._get_client(), method)
            answer = call(*args, headers=self._request_headers(), **kw)
            return await asyncio.wait_for(answer, timeout_s)
        except Exception as exc:
            raise translate_http_error(exc, what(model)) from exc
