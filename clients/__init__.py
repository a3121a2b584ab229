"""Typed Python clients for Triton models.

The URL scheme picks the protocol (``http``, ``https``, ``grpc``, ``grpcs``); every
client has an asyncio twin with the same method names. :class:`ModelClient` calls any
model by tensor names; ``python -m generator clients`` writes typed clients (bases:
:class:`TypedClient`, :class:`AsyncTypedClient`) for a model's spec. See
``docs/clients.md``.
"""

from clients._config import RetryPolicy, Timeouts, TlsOptions
from clients._core.diagnosis import Diagnosis
from clients._core.images import ImageInput
from clients._core.recommendation import Recommendation
from clients._core.signature import ModelInfo, ModelSignature, TensorSpec
from clients._core.tensors import TensorValue
from clients.diagnosis import AsyncImageDiagnosisClient, ImageDiagnosisClient
from clients.errors import (
    ClientError,
    ConfigurationError,
    ConnectionLostError,
    InvalidInputError,
    MetadataMismatchError,
    ModelNotReadyError,
    QueueFullError,
    ServerError,
    ServerUnavailableError,
    TimeoutError,
)
from clients.model import AsyncModelClient, ModelClient
from clients.recommendation import AsyncRecommendationClient, RecommendationClient
from clients.typed import AsyncTypedClient, TypedClient

__all__ = [
    "AsyncImageDiagnosisClient",
    "AsyncModelClient",
    "AsyncRecommendationClient",
    "AsyncTypedClient",
    "ClientError",
    "ConfigurationError",
    "ConnectionLostError",
    "Diagnosis",
    "ImageDiagnosisClient",
    "ImageInput",
    "InvalidInputError",
    "MetadataMismatchError",
    "ModelClient",
    "ModelInfo",
    "ModelNotReadyError",
    "ModelSignature",
    "QueueFullError",
    "Recommendation",
    "RecommendationClient",
    "RetryPolicy",
    "ServerError",
    "ServerUnavailableError",
    "TensorSpec",
    "TensorValue",
    "TimeoutError",
    "Timeouts",
    "TlsOptions",
    "TypedClient",
]
