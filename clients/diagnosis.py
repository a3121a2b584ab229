"""Image diagnosis clients (sync and asyncio)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from clients._config import RetryPolicy, Settings, Timeouts, TlsOptions
from clients._core.diagnosis import DEFAULT_LABELS, Diagnosis, DiagnosisModel
from clients._core.images import ImageInput
from clients._lifecycle import AsyncLifecycle, ClientBase, SessionT, SyncLifecycle
from clients._session import AsyncSession, SyncSession
from clients._twins import twin_of

__all__ = ["AsyncImageDiagnosisClient", "ImageDiagnosisClient"]


class _ImageDiagnosisBase(ClientBase[SessionT]):
    """Constructor and properties shared by both image clients.

    Args:
        url: ``http://``, ``https://``, ``grpc://`` or ``grpcs://`` plus ``host:port``.
        model_version: Pin a model version such as ``"1"`` (None: server's choice).
        use_ensemble: True sends encoded images to ``image_diagnosis``; False
            preprocesses locally and calls ``image_diagnosis_classifier``.
        labels: Class names in output order (checked against the output width).
        timeouts: Time limits; every call also accepts ``timeout_s=``.
        retry: Retry policy for transient failures (default: 3 attempts within 10 s).
        headers: Extra headers (e.g. authorization) sent with every request.
        ssl: TLS options for ``https``/``grpcs`` URLs.

    Raises:
        InvalidInputError: If the labels are empty, repeated or not strings.
        ConfigurationError: If the URL, version, TLS or retry options are unusable.
    """

    def __init__(
        self,
        url: str,
        *,
        model_version: str | None = None,
        use_ensemble: bool = True,
        labels: Sequence[str] = DEFAULT_LABELS,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        ssl: TlsOptions | None = None,
    ) -> None:
        self._model = DiagnosisModel(use_ensemble, labels)
        self._ready_models = (self._model.model,)
        super().__init__(Settings(url, model_version, timeouts, retry, headers, ssl))

    @property
    def model_name(self) -> str:
        """The model this client calls."""
        return self._model.model


class ImageDiagnosisClient(_ImageDiagnosisBase[SyncSession], SyncLifecycle):
    """Blocking client for the image diagnosis models (arguments: see the base class).

    Example:
        >>> with ImageDiagnosisClient("http://127.0.0.1:8000") as client:
        ...     client.diagnose("scan.png").label
    """

    def diagnose(self, image: ImageInput, *, timeout_s: float | None = None) -> Diagnosis:
        """Diagnoses one image.

        Args:
            image: A path, encoded bytes, a PIL image or a uint8 array (H, W) / (H, W, 3).
            timeout_s: Limit for each request of this call (default ``Timeouts.request_s``).

        Returns:
            The diagnosis.

        Raises:
            InvalidInputError: Before sending, if the image is unusable.
            MetadataMismatchError: On first use, if the model differs from the expected.
            ClientError: Any other subclass for transport or server failures.
        """
        return self.diagnose_batch([image], timeout_s=timeout_s)[0]

    def diagnose_batch(
        self, images: Sequence[ImageInput], *, timeout_s: float | None = None
    ) -> list[Diagnosis]:
        """Diagnoses several images, in chunks of at most the model's max batch size.

        Args:
            images: Images as accepted by :meth:`diagnose`.
            timeout_s: Limit for each request of this call.

        Returns:
            One diagnosis per image, in input order.

        Raises:
            InvalidInputError: Before sending, naming the first unusable image.
            MetadataMismatchError: On first use, if the model differs from the expected.
            ClientError: Any other subclass for transport or server failures.
        """
        return self._session.run(self._model.plan(images), timeout_s)


class AsyncImageDiagnosisClient(_ImageDiagnosisBase[AsyncSession], AsyncLifecycle):
    """Asyncio twin of :class:`ImageDiagnosisClient`: the same methods, awaited."""

    @twin_of(ImageDiagnosisClient.diagnose)
    async def diagnose(self, image: ImageInput, *, timeout_s: float | None = None) -> Diagnosis:
        return (await self.diagnose_batch([image], timeout_s=timeout_s))[0]

    @twin_of(ImageDiagnosisClient.diagnose_batch)
    async def diagnose_batch(
        self, images: Sequence[ImageInput], *, timeout_s: float | None = None
    ) -> list[Diagnosis]:
        return await self._session.run(self._model.plan(images), timeout_s)
