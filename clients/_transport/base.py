"""What every transport is and does (sync and async twins, same method names).

A transport is a protocol half (:class:`Wire`: how HTTP or gRPC builds inputs,
headers and responses) combined with a flavour half (:class:`SyncTransport` or
:class:`AsyncTransport`: ``query`` and ``infer``, each one line over ``_call``). A
concrete transport supplies only what touches the wire: ``_call`` (invoke one
tritonclient method by name, bounded in time, errors translated) and ``close``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from clients._config import Settings
from clients._core.query import Query, what
from clients._core.request import InferRequest, InferResponse, InputTensor
from clients._twins import twin_of
from clients.errors import ClientError

__all__ = ["AsyncTransport", "OutputCache", "SyncTransport", "Wire"]

OutputT = TypeVar("OutputT")
T = TypeVar("T")


class OutputCache(Generic[OutputT]):
    """Requested-output lists built once per distinct tuple of output names.

    tritonclient only reads requested outputs when serialising a request, so one list
    can serve every call (and thread).

    Args:
        make: Builds the protocol's requested-output object for one output name.
    """

    def __init__(self, make: Callable[[str], OutputT]) -> None:
        self._make = make
        self._lists: dict[tuple[str, ...], list[OutputT]] = {}

    def get(self, names: tuple[str, ...]) -> list[OutputT]:
        """Returns the (shared) requested-output list for ``names``."""
        outputs = self._lists.get(names)
        if outputs is None:
            outputs = [self._make(name) for name in names]
            self._lists[names] = outputs
        return outputs


class Wire(ABC):
    """The protocol half of a transport, shared by its sync and async flavours.

    Args:
        settings: The client's configuration: endpoint, timeouts, TLS and headers (HTTP
            sends headers as given; gRPC sends them as metadata, keys lower-cased).
    """

    # Extra keyword arguments of the calls that answer with a dict (Query.json).
    _JSON_KWARGS: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, settings: Settings) -> None:
        self._headers = self._header_map(settings.headers)
        self._outputs = OutputCache(self._requested_output)

    @staticmethod
    @abstractmethod
    def _header_map(headers: Mapping[str, str]) -> dict[str, str]:
        """Returns the headers as this protocol sends them."""

    @staticmethod
    @abstractmethod
    def _translate(exc: BaseException, what: str) -> ClientError:
        """Translates a protocol-side exception (see the transports' boundary functions)."""

    @staticmethod
    @abstractmethod
    def _input(tensor: InputTensor) -> Any:
        """Builds the protocol's input object, holding the tensor's data."""

    @staticmethod
    @abstractmethod
    def _requested_output(name: str) -> Any:
        """Builds the protocol's requested-output object."""

    @staticmethod
    @abstractmethod
    def _answered(body: Any) -> tuple[str, str]:
        """Returns (model name, model version) of a response body; empty if absent."""

    def _query_kwargs(self, query: Query[Any]) -> Mapping[str, Any]:
        return self._JSON_KWARGS if query.json else {}

    def _response(self, request: InferRequest, result: Any) -> InferResponse:
        try:
            name, version = self._answered(result.get_response())
            arrays: dict[str, npt.NDArray[np.generic]] = {}
            for output in request.outputs:
                array = result.as_numpy(output)
                if array is not None:
                    arrays[output] = array
        except Exception as exc:
            raise self._translate(exc, what(request.model_name)) from exc
        return InferResponse(
            model_name=name or request.model_name,
            model_version=version or request.model_version,
            outputs=arrays,
        )


class SyncTransport(Wire):
    """Blocking transport. Every method raises only :class:`clients.errors.ClientError`."""

    _client: Any

    @abstractmethod
    def _call(self, model: str | None, timeout_s: float, method: str, *args: Any, **kw: Any) -> Any:
        """Calls tritonclient method ``method``, bounded by ``timeout_s``, errors translated.

        ``model`` names the model asked about (None: the server) in error messages.
        """

    def query(self, query: Query[T], timeout_s: float) -> T:
        """Runs one metadata-side call and reads its answer."""
        kwargs = self._query_kwargs(query)
        return query.read(self._call(query.model, timeout_s, query.method, *query.args, **kwargs))

    def infer(self, request: InferRequest, timeout_s: float) -> InferResponse:
        """Runs one inference."""
        # Inputs are built per call: an input object holds the request's data, so
        # sharing one between calls (or threads) is unsafe.
        name, inputs = request.model_name, list(map(self._input, request.inputs))
        outputs = self._outputs.get(request.outputs)
        result = self._call(name, timeout_s, "infer", name, inputs, request.model_version, outputs)
        return self._response(request, result)

    def close(self) -> None:
        """Releases connections."""
        self._client.close()


class AsyncTransport(Wire):
    """Asyncio transport: the coroutine twin of :class:`SyncTransport`."""

    _client: Any = None

    @abstractmethod
    async def _call(
        self, model: str | None, timeout_s: float, method: str, *args: Any, **kw: Any
    ) -> Any:
        """Calls tritonclient method ``method``, bounded by ``timeout_s``, errors translated."""

    @twin_of(SyncTransport.query)
    async def query(self, query: Query[T], timeout_s: float) -> T:
        kwargs = self._query_kwargs(query)
        raw = await self._call(query.model, timeout_s, query.method, *query.args, **kwargs)
        return query.read(raw)

    @twin_of(SyncTransport.infer)
    async def infer(self, request: InferRequest, timeout_s: float) -> InferResponse:
        name, inputs = request.model_name, list(map(self._input, request.inputs))
        outputs = self._outputs.get(request.outputs)
        args = (name, inputs, request.model_version, outputs)
        return self._response(request, await self._call(name, timeout_s, "infer", *args))

    @abstractmethod
    def _open(self) -> Any:
        """Creates the tritonclient asyncio client (called inside the running loop)."""

    def _get_client(self) -> Any:
        # aiohttp sessions and grpc.aio channels bind to the running event loop, so the
        # client is created on first use.
        if self._client is None:
            self._client = self._open()
        return self._client

    @twin_of(SyncTransport.close)
    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()
