"""Bases of the generated typed clients: dataclasses in, dataclasses out.

``python -m generator clients`` writes, per model, frozen dataclasses for the inputs
and the outputs and two subclasses of these bases that name the model, its
signature and the outputs class. A typed client is a thin layer over
:class:`clients.ModelClient` (or :class:`clients.AsyncModelClient`): it turns the
inputs dataclass into arrays by tensor name (each field's tensor is in
:attr:`TensorSpec.field`), lets the generic client check, split, send and join, and
builds the outputs dataclass from the arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar, cast

from clients._config import RetryPolicy, Timeouts, TlsOptions
from clients._core.signature import ModelSignature
from clients._core.tensors import Arrays
from clients._twins import twin_of
from clients.model import AsyncModelClient, ModelClient

__all__ = ["AsyncTypedClient", "TypedClient"]

InputsT = TypeVar("InputsT")
OutputsT = TypeVar("OutputsT")
_SyncT = TypeVar("_SyncT", bound="TypedClient[Any, Any]")
_AsyncT = TypeVar("_AsyncT", bound="AsyncTypedClient[Any, Any]")


class _TypedBase(Generic[InputsT, OutputsT]):
    """What both typed clients know of their model: set by each generated subclass.

    Attributes:
        MODEL_NAME: The served model's name.
        SIGNATURE: Its inputs and outputs (original tensor names, Python field names).
        OUTPUTS: The outputs dataclass.
    """

    MODEL_NAME: ClassVar[str]
    SIGNATURE: ClassVar[ModelSignature]
    OUTPUTS: ClassVar[type[Any]]

    # (tensor name, field name) of every input and output, computed once per class.
    _INPUT_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = ()
    _OUTPUT_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        signature = cls.__dict__.get("SIGNATURE")
        if isinstance(signature, ModelSignature):
            cls._INPUT_FIELDS = tuple((spec.name, spec.field) for spec in signature.inputs)
            cls._OUTPUT_FIELDS = tuple((spec.name, spec.field) for spec in signature.outputs)

    def _arrays(self, inputs: InputsT) -> dict[str, Any]:
        return {name: getattr(inputs, field) for name, field in self._INPUT_FIELDS}

    def _outputs(self, arrays: Arrays) -> OutputsT:
        return cast(OutputsT, self.OUTPUTS(
            **{field: arrays[name] for name, field in self._OUTPUT_FIELDS}))


class TypedClient(_TypedBase[InputsT, OutputsT]):
    """Blocking typed client of one model (generated subclasses name the model).

    Args:
        url: ``http://``, ``https://``, ``grpc://`` or ``grpcs://`` plus ``host:port``.
        model_version: Pin a model version such as ``"1"`` (None: server's choice).
        timeouts: Time limits; every call also accepts ``timeout_s=``.
        retry: Retry policy for transient failures (default: 3 attempts within 10 s).
        headers: Extra headers (e.g. authorization) sent with every request.
        ssl: TLS options for ``https``/``grpcs`` URLs.
        model_name: Call the model under another name (default: ``MODEL_NAME``).

    Raises:
        ConfigurationError: If the URL, version, TLS or retry options are unusable.
    """

    def __init__(
        self,
        url: str,
        *,
        model_version: str | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        ssl: TlsOptions | None = None,
        model_name: str | None = None,
    ) -> None:
        self._client = ModelClient(
            url, model_name or self.MODEL_NAME, model_version=model_version,
            signature=self.SIGNATURE, timeouts=timeouts, retry=retry, headers=headers, ssl=ssl,
        )

    @property
    def model_name(self) -> str:
        """The model this client calls."""
        return self._client.model_name

    @property
    def retries(self) -> int:
        """Requests this client has sent again after a transient failure, over all calls."""
        return self._client.retries

    def infer(self, inputs: InputsT, *, timeout_s: float | None = None) -> OutputsT:
        """Runs the model.

        Args:
            inputs: The inputs dataclass; with batching, the first dimension of every
                array is the batch, and a batch larger than the served
                ``max_batch_size`` is sent as several requests joined in order.
            timeout_s: Limit for each request of this call.

        Returns:
            The outputs dataclass.

        Raises:
            InvalidInputError: Before anything is sent, naming the field and the tensor:
                wrong datatype, rank or fixed dimension, mixed batch sizes, a missing
                required input.
            MetadataMismatchError: On first use, if the served model differs from the
                generated signature.
            ClientError: Any other subclass for transport or server failures.
        """
        return self._outputs(self._client.infer(self._arrays(inputs), timeout_s=timeout_s))

    def wait_until_ready(self, timeout_s: float) -> None:
        """Waits until the server is live and ready and the model is ready.

        Args:
            timeout_s: How long to keep polling.

        Raises:
            ServerUnavailableError: The server never answered.
            ModelNotReadyError: The server answered but the model stayed not ready.
            TimeoutError: The server answered but did not become ready.
        """
        self._client.wait_until_ready(timeout_s)

    def close(self) -> None:
        """Closes connections; the client cannot be used afterwards."""
        self._client.close()

    def __enter__(self: _SyncT) -> _SyncT:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncTypedClient(_TypedBase[InputsT, OutputsT]):
    """Asyncio twin of :class:`TypedClient`: the same methods, awaited."""

    def __init__(
        self,
        url: str,
        *,
        model_version: str | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        ssl: TlsOptions | None = None,
        model_name: str | None = None,
    ) -> None:
        self._client = AsyncModelClient(
            url, model_name or self.MODEL_NAME, model_version=model_version,
            signature=self.SIGNATURE, timeouts=timeouts, retry=retry, headers=headers, ssl=ssl,
        )

    @property
    def model_name(self) -> str:
        """The model this client calls."""
        return self._client.model_name

    @property
    def retries(self) -> int:
        """Requests this client has sent again after a transient failure, over all calls."""
        return self._client.retries

    @twin_of(TypedClient.infer)
    async def infer(self, inputs: InputsT, *, timeout_s: float | None = None) -> OutputsT:
        return self._outputs(await self._client.infer(self._arrays(inputs), timeout_s=timeout_s))

    @twin_of(TypedClient.wait_until_ready)
    async def wait_until_ready(self, timeout_s: float) -> None:
        await self._client.wait_until_ready(timeout_s)

    @twin_of(TypedClient.close)
    async def close(self) -> None:
        await self._client.close()

    async def __aenter__(self: _AsyncT) -> _AsyncT:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
