"""The reference models and protocols the load tests know: the one place they are named.

The names come from the typed clients (which own the models' signatures), so a
renamed model changes here without anyone typing its name again.
"""

from __future__ import annotations

from clients._core.diagnosis import CLASSIFIER_MODEL, ENSEMBLE_MODEL
from clients._core.recommendation import RECOMMENDATION_MODEL

__all__ = [
    "CLASSIFIER",
    "IMAGE_DIAGNOSIS",
    "MODELS",
    "PROTOCOLS",
    "RECOMMENDATION",
]

IMAGE_DIAGNOSIS = ENSEMBLE_MODEL
"""The image-diagnosis ensemble (PNG/JPEG bytes in, class probabilities out)."""

CLASSIFIER = CLASSIFIER_MODEL
"""The ensemble's ONNX classifier step (the benchmark serves it directly)."""

RECOMMENDATION = RECOMMENDATION_MODEL
"""The matrix-factorisation recommender."""

MODELS: tuple[str, ...] = (IMAGE_DIAGNOSIS, RECOMMENDATION)
"""Models with load-test users, the first being locust's default."""

PROTOCOLS: tuple[str, ...] = ("http", "grpc")
"""Protocols with load-test users."""
