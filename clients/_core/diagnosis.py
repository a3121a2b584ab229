"""Image diagnosis: result type, expected signatures and the call plan (validate, build, parse)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from clients._core.images import IMAGE_SIZE, ImageInput, encode_image, pad_rows, preprocess_image
from clients._core.plan import chunks
from clients._core.request import InferRequest, InferResponse, InputTensor
from clients._core.signature import ModelInfo, ModelSignature, TensorSpec
from clients.errors import InvalidInputError, ServerError

__all__ = [
    "CLASSIFIER_MODEL",
    "DEFAULT_LABELS",
    "ENSEMBLE_MODEL",
    "Diagnosis",
    "DiagnosisModel",
    "DiagnosisPlan",
    "build_classifier_request",
    "build_ensemble_request",
    "classifier_signature",
    "ensemble_signature",
    "parse_diagnoses",
    "validate_labels",
]

ENSEMBLE_MODEL = "image_diagnosis"
CLASSIFIER_MODEL = "image_diagnosis_classifier"
DEFAULT_LABELS: tuple[str, ...] = ("normal", "nodule", "effusion")
ENSEMBLE_INPUT, ENSEMBLE_OUTPUT = "IMAGE", "PROBABILITIES"
CLASSIFIER_INPUT, CLASSIFIER_OUTPUT = "pixels", "probabilities"


@dataclass(frozen=True)
class Diagnosis:
    """The diagnosis of one image.

    Attributes:
        label: The most probable class.
        score: Its probability.
        probabilities: Probability of every class, in class order.
        model_name: Model that answered.
        model_version: Version that answered.
    """

    label: str
    score: float
    probabilities: Mapping[str, float]
    model_name: str
    model_version: str


def validate_labels(labels: Sequence[str]) -> tuple[str, ...]:
    """Checks the class labels given to a client.

    Args:
        labels: Class names in output order.

    Returns:
        The labels as a tuple.

    Raises:
        InvalidInputError: If empty, duplicated or not strings.
    """
    result = tuple(labels)
    if not result or not all(isinstance(x, str) and x for x in result):
        raise InvalidInputError(f"labels must be non-empty strings, got {result!r}")
    if len(set(result)) != len(result):
        raise InvalidInputError(f"labels must be unique, got {result!r}")
    return result


def _signature(image: TensorSpec, output: str, num_labels: int) -> ModelSignature:
    return ModelSignature(
        inputs=(image,), outputs=(TensorSpec(output, "FP32", (-1, num_labels)),)
    )


def ensemble_signature(num_labels: int) -> ModelSignature:
    """Expected signature of the ``image_diagnosis`` ensemble, for ``num_labels`` classes."""
    return _signature(TensorSpec(ENSEMBLE_INPUT, "UINT8", (-1, -1)), ENSEMBLE_OUTPUT, num_labels)


def classifier_signature(num_labels: int) -> ModelSignature:
    """Expected signature of ``image_diagnosis_classifier``, for ``num_labels`` classes."""
    pixels = TensorSpec(CLASSIFIER_INPUT, "FP32", (-1, 1, IMAGE_SIZE, IMAGE_SIZE))
    return _signature(pixels, CLASSIFIER_OUTPUT, num_labels)


def build_ensemble_request(
    encoded: Sequence[bytes], model_name: str, model_version: str
) -> InferRequest:
    """Builds the ensemble request for encoded images (zero-padded to one tensor).

    Args:
        encoded: Encoded image files.
        model_name: Ensemble name.
        model_version: Version, ``""`` for the server's choice.

    Returns:
        The request.
    """
    return InferRequest(
        model_name=model_name,
        model_version=model_version,
        inputs=(InputTensor(ENSEMBLE_INPUT, pad_rows(encoded)),),
        outputs=(ENSEMBLE_OUTPUT,),
    )


def build_classifier_request(
    pixels: Sequence[npt.NDArray[np.float32]], model_name: str, model_version: str
) -> InferRequest:
    """Builds the classifier request for locally preprocessed images.

    Args:
        pixels: Arrays of shape [1, 224, 224] float32.
        model_name: Classifier name.
        model_version: Version, ``""`` for the server's choice.

    Returns:
        The request with one stacked [B, 1, 224, 224] input.
    """
    batch = np.stack(pixels).astype(np.float32, copy=False)
    return InferRequest(
        model_name=model_name,
        model_version=model_version,
        inputs=(InputTensor(CLASSIFIER_INPUT, batch),),
        outputs=(CLASSIFIER_OUTPUT,),
    )


def parse_diagnoses(
    response: InferResponse, output: str, labels: Sequence[str], expected_rows: int
) -> list[Diagnosis]:
    """Turns a probabilities tensor into diagnoses.

    Args:
        response: The inference response.
        output: Name of the probabilities output.
        labels: Class labels in output order.
        expected_rows: Number of images sent.

    Returns:
        One diagnosis per row, in order.

    Raises:
        ServerError: If the output is missing or has an unexpected shape.
    """
    probs = response.outputs.get(output)
    if probs is None:
        raise ServerError(f"model '{response.model_name}': response lacks output '{output}'")
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape != (expected_rows, len(labels)):
        raise ServerError(
            f"model '{response.model_name}': output '{output}' has shape {probs.shape}, "
            f"expected {(expected_rows, len(labels))}"
        )
    best_per_row = np.argmax(probs, axis=1).tolist()  # first maximum, like before
    results = []
    for row, best in zip(probs.tolist(), best_per_row, strict=True):
        results.append(
            Diagnosis(
                label=labels[best],
                score=float(row[best]),
                probabilities=dict(zip(labels, row, strict=True)),
                model_name=response.model_name,
                model_version=response.model_version,
            )
        )
    return results


class DiagnosisModel:
    """The model an image client calls and how: ensemble or local preprocessing.

    Args:
        use_ensemble: True sends encoded images to the ensemble; False preprocesses
            locally and calls the classifier.
        labels: Class names in output order.

    Raises:
        InvalidInputError: If the labels are empty, repeated or not strings.
    """

    def __init__(self, use_ensemble: bool, labels: Sequence[str]) -> None:
        self.labels = validate_labels(labels)
        self.use_ensemble = use_ensemble
        self.model = ENSEMBLE_MODEL if use_ensemble else CLASSIFIER_MODEL
        self.output = ENSEMBLE_OUTPUT if use_ensemble else CLASSIFIER_OUTPUT
        self.signature: ModelSignature = (
            ensemble_signature(len(self.labels))
            if use_ensemble
            else classifier_signature(len(self.labels))
        )

    def plan(self, images: Sequence[ImageInput]) -> DiagnosisPlan:
        """Validates and prepares images for one ``diagnose_batch`` call.

        Args:
            images: Images as the clients accept them.

        Returns:
            The call plan.

        Raises:
            InvalidInputError: Naming the first unusable image, e.g. ``images[3]``.
        """
        return DiagnosisPlan(self, images)


class DiagnosisPlan:
    """One validated ``diagnose_batch`` call (a :class:`~clients._core.plan.CallPlan`).

    Args:
        target: The client's model choice.
        images: Images as the clients accept them.

    Raises:
        InvalidInputError: Naming the first unusable image.
    """

    def __init__(self, target: DiagnosisModel, images: Sequence[ImageInput]) -> None:
        self._target = target
        self.model = target.model
        self.signature = target.signature
        self._encoded: list[bytes] = []
        self._pixels: list[npt.NDArray[np.float32]] = []
        if target.use_ensemble:
            self._encoded = [encode_image(img, f"images[{i}]") for i, img in enumerate(images)]
        else:
            self._pixels = [preprocess_image(img, f"images[{i}]") for i, img in enumerate(images)]
        self.rows = len(images)

    def requests(self, info: ModelInfo, version: str) -> list[InferRequest]:
        """One request per run of images (see ``CallPlan.requests``)."""
        if self._target.use_ensemble:
            return [
                build_ensemble_request(run, self.model, version)
                for run in chunks(self._encoded, info)
            ]
        return [
            build_classifier_request(run, self.model, version) for run in chunks(self._pixels, info)
        ]

    def parse(self, request: InferRequest, response: InferResponse) -> list[Diagnosis]:
        """One diagnosis per image of the request (see ``CallPlan.parse``)."""
        rows = request.inputs[0].data.shape[0]
        return parse_diagnoses(response, self._target.output, self._target.labels, rows)
