"""The generic clients: any served model, tensors by name (sync and asyncio).

They run on the same session and call-plan core as the reference models' clients;
the generated typed clients are thin layers over them.
"""

from __future__ import annotations

from collections.abc import Mapping

from clients._config import RetryPolicy, Settings, Timeouts, TlsOptions
from clients._core.signature import ModelInfo, ModelSignature
from clients._core.tensors import Arrays, TensorPlan, TensorValue, join_outputs
from clients._lifecycle import AsyncLifecycle, ClientBase, SessionT, SyncLifecycle
from clients._session import AsyncSession, SyncSession
from clients._twins import twin_of
from clients.errors import ConfigurationError

__all__ = ["AsyncModelClient", "ModelClient"]

_NO_SIGNATURE = ModelSignature((), ())


class _ModelBase(ClientBase[SessionT]):
    """Constructor shared by both generic clients.

    Args:
        url: ``http://``, ``https://``, ``grpc://`` or ``grpcs://`` plus ``host:port``.
        model: Name of the served model.
        model_version: Pin a model version such as ``"1"`` (None: server's choice).
        signature: What the model must look like; checked against the served metadata
            on first use (:class:`~clients.MetadataMismatchError` on a difference),
            and inputs are checked against it before anything is sent. None: inputs
            are checked against the served signature.
        timeouts: Time limits; every call also accepts ``timeout_s=``.
        retry: Retry policy for transient failures (default: 3 attempts within 10 s).
        headers: Extra headers (e.g. authorization) sent with every request.
        ssl: TLS options for ``https``/``grpcs`` URLs.

    Raises:
        ConfigurationError: If the model name, URL, version, TLS or retry options are
            unusable.
    """

    def __init__(
        self,
        url: str,
        model: str,
        *,
        model_version: str | None = None,
        signature: ModelSignature | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        ssl: TlsOptions | None = None,
    ) -> None:
        if not isinstance(model, str) or not model or "/" in model:
            raise ConfigurationError(f"model must be a model name, got {model!r}")
        self._model = model
        self._signature = signature or _NO_SIGNATURE
        self._ready_models = (model,)
        super().__init__(Settings(url, model_version, timeouts, retry, headers, ssl))

    @property
    def model_name(self) -> str:
        """The model this client calls."""
        return self._model


class ModelClient(_ModelBase[SyncSession], SyncLifecycle):
    """Blocking client for any served model, tensors by name (arguments: see the base class).

    Example:
        >>> with ModelClient("grpc://127.0.0.1:8001", "resnet50") as client:
        ...     out = client.infer({"gpu_0/data_0": pixels})
        ...     out["gpu_0/softmax_1"].shape
    """

    def infer(
        self, inputs: Mapping[str, TensorValue | None], *, timeout_s: float | None = None
    ) -> Arrays:
        """Runs the model on inputs given by tensor name.

        With ``max_batch_size > 0`` the first dimension of every input is the batch;
        a batch larger than the served ``max_batch_size`` is sent as several requests
        whose outputs are joined in order.

        Args:
            inputs: Arrays by tensor name (BYTES also as a list of ``str``/``bytes``);
                an optional input may be left out or given as None.
            timeout_s: Limit for each request of this call.

        Returns:
            Every output (or the signature's outputs) by tensor name; BYTES outputs are
            object arrays of ``bytes``.

        Raises:
            InvalidInputError: Before inference, naming the tensor: unknown, missing,
                wrong datatype, rank or fixed dimension, or mixed batch sizes.
            MetadataMismatchError: On first use, if the model differs from the signature.
            ClientError: Any other subclass for transport or server failures.
        """
        plan = TensorPlan(self._model, self._signature, inputs)
        return join_outputs(self._session.run(plan, timeout_s))

    def model_info(self, *, timeout_s: float | None = None) -> ModelInfo:
        """Returns what the server says about the model: read on first use, then cached.

        Its ``served`` signature lists every input and output with datatype and shape,
        and ``max_batch_size`` says whether the first dimension is the batch.

        Raises:
            MetadataMismatchError: If the model differs from the client's signature.
            ClientError: Any other subclass for transport or server failures.
        """
        return self._session.model_info(self._model, self._signature, timeout_s)


class AsyncModelClient(_ModelBase[AsyncSession], AsyncLifecycle):
    """Asyncio twin of :class:`ModelClient`: the same methods, awaited."""

    @twin_of(ModelClient.infer)
    async def infer(
        self, inputs: Mapping[str, TensorValue | None], *, timeout_s: float | None = None
    ) -> Arrays:
        plan = TensorPlan(self._model, self._signature, inputs)
        return join_outputs(await self._session.run(plan, timeout_s))

    @twin_of(ModelClient.model_info)
    async def model_info(self, *, timeout_s: float | None = None) -> ModelInfo:
        return await self._session.model_info(self._model, self._signature, timeout_s)
