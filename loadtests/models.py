"""The models the load tests know by name: a registry, not a whitelist.

Any model the server serves can be loaded (``--model NAME``); its inputs come from
``--input-data`` or are generated from its metadata (:mod:`loadtests.inputdata`). The
reference models register their own typed call here (a PNG for ``image_diagnosis``, a
user id for ``recommendation``), which they use unless input-data options are given.
The names come from the typed clients (which own the models' signatures), so a renamed
model changes here without anyone typing its name again.
"""

from __future__ import annotations

from clients._core.diagnosis import CLASSIFIER_MODEL, ENSEMBLE_MODEL
from clients._core.recommendation import RECOMMENDATION_MODEL
from generator.layout.names import model_name_problem

__all__ = [
    "CLASSIFIER",
    "DEFAULT_MODEL",
    "IMAGE_DIAGNOSIS",
    "PROTOCOLS",
    "RECOMMENDATION",
    "REFERENCE_MODELS",
    "check_model_name",
]

IMAGE_DIAGNOSIS = ENSEMBLE_MODEL
"""The image-diagnosis ensemble (PNG/JPEG bytes in, class probabilities out)."""

CLASSIFIER = CLASSIFIER_MODEL
"""The ensemble's ONNX classifier step (the benchmark serves it directly)."""

RECOMMENDATION = RECOMMENDATION_MODEL
"""The matrix-factorisation recommender."""

REFERENCE_MODELS: tuple[str, ...] = (IMAGE_DIAGNOSIS, RECOMMENDATION)
"""Models with a typed call of their own (:mod:`loadtests.calls`)."""

DEFAULT_MODEL = IMAGE_DIAGNOSIS
"""The model a bare ``locust -f loadtests/locustfile.py`` loads."""

PROTOCOLS: tuple[str, ...] = ("http", "grpc")
"""Protocols the users speak."""


def check_model_name(name: str) -> str:
    """Returns ``name`` if it can name a served model (the generator's rule).

    Raises:
        ValueError: Naming the model and what is wrong with the name.
    """
    problem = model_name_problem(name)
    if problem:
        raise ValueError(f"model {name!r}: not a model name: it {problem}")
    return name
