"""Recommendation: result type, expected signature and the call plan (validate, build, parse)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from clients._core.plan import chunks
from clients._core.request import InferRequest, InferResponse, InputTensor
from clients._core.signature import ANY_DIM, ModelInfo, ModelSignature, TensorSpec
from clients.errors import InvalidInputError, ServerError

__all__ = [
    "RECOMMENDATION_MODEL",
    "SIGNATURE",
    "Recommendation",
    "RecommendationPlan",
    "build_request",
    "model_top_k",
    "parse_recommendations",
    "validate_k",
    "validate_user_ids",
]

RECOMMENDATION_MODEL = "recommendation"
USER_ID, ITEM_IDS, SCORES = "user_id", "item_ids", "scores"
_INT64_LIMIT = 2**63

SIGNATURE = ModelSignature(
    inputs=(TensorSpec(USER_ID, "INT64", (-1, 1)),),
    outputs=(
        TensorSpec(ITEM_IDS, "INT64", (-1, ANY_DIM)),
        TensorSpec(SCORES, "FP32", (-1, ANY_DIM)),
    ),
)
"""Expected signature; the top-K size is read from the served metadata."""


@dataclass(frozen=True)
class Recommendation:
    """One recommended item.

    Attributes:
        item_id: Catalogue id of the item.
        score: Model score (higher is better).
        model_name: Model that answered.
        model_version: Version that answered.
    """

    item_id: int
    score: float
    model_name: str
    model_version: str


def validate_user_ids(user_ids: Sequence[int]) -> list[int]:
    """Checks user ids before sending.

    Args:
        user_ids: User ids (non-negative integers, at least one).

    Returns:
        The ids as Python ints.

    Raises:
        InvalidInputError: Naming the first bad id.
    """
    if isinstance(user_ids, str | bytes) or len(user_ids) == 0:
        raise InvalidInputError("user_ids must be a non-empty sequence of integers")
    result: list[int] = []
    for i, uid in enumerate(user_ids):
        if type(uid) is not int:  # fast path for plain ints; bool is not an int here
            if isinstance(uid, bool) or not isinstance(uid, numbers.Integral):
                raise InvalidInputError(f"user_ids[{i}] must be an integer, got {uid!r}")
            uid = int(uid)
        if uid < 0:
            raise InvalidInputError(f"user_ids[{i}] must be >= 0, got {uid}")
        if uid >= _INT64_LIMIT:
            raise InvalidInputError(f"user_ids[{i}] does not fit in INT64: {uid}")
        result.append(uid)
    return result


def validate_k(k: int, model_k: int | None = None) -> int:
    """Checks the number of items asked for.

    Args:
        k: Items wanted.
        model_k: Items the model returns (its K), when known.

    Returns:
        ``k`` as an int.

    Raises:
        InvalidInputError: If ``k`` is not in ``[1, model_k]``.
    """
    if type(k) is not int and (isinstance(k, bool) or not isinstance(k, numbers.Integral)):
        raise InvalidInputError(f"k must be an integer >= 1, got {k!r}")
    if int(k) < 1:
        raise InvalidInputError(f"k must be an integer >= 1, got {k!r}")
    if model_k is not None and int(k) > model_k:
        raise InvalidInputError(
            f"k={int(k)} exceeds the K={model_k} items model '{RECOMMENDATION_MODEL}' returns"
        )
    return int(k)


def model_top_k(info: ModelInfo) -> int:
    """Returns the model's K (width of its ``scores`` output).

    Args:
        info: Model information from the metadata check.

    Returns:
        K.
    """
    return info.shapes[SCORES][-1]


def build_request(user_ids: Sequence[int], model_name: str, model_version: str) -> InferRequest:
    """Builds the request for validated user ids.

    Args:
        user_ids: Validated ids.
        model_name: Model name.
        model_version: Version, ``""`` for the server's choice.

    Returns:
        The request with one [B, 1] INT64 input.
    """
    data = np.array([[uid] for uid in user_ids], dtype=np.int64)
    return InferRequest(
        model_name=model_name,
        model_version=model_version,
        inputs=(InputTensor(USER_ID, data),),
        outputs=(ITEM_IDS, SCORES),
    )


def parse_recommendations(
    response: InferResponse, k: int, expected_rows: int
) -> list[list[Recommendation]]:
    """Turns item ids and scores into the top ``k`` recommendations per user.

    Args:
        response: The inference response.
        k: Items wanted per user.
        expected_rows: Number of users sent.

    Returns:
        One list per user, sorted by descending score.

    Raises:
        ServerError: If outputs are missing or malformed.
    """
    ids = response.outputs.get(ITEM_IDS)
    scores = response.outputs.get(SCORES)
    if ids is None or scores is None:
        raise ServerError(f"model '{response.model_name}': response lacks item_ids/scores")
    if ids.shape != scores.shape or ids.ndim != 2 or ids.shape[0] != expected_rows:
        raise ServerError(
            f"model '{response.model_name}': item_ids {ids.shape} and scores {scores.shape} "
            f"do not match {expected_rows} users"
        )
    # Plain Python on tolist() rows: for K of a few dozen this beats numpy's argsort and
    # fancy indexing, whose fixed cost (and cold caches after waiting on the network)
    # dominate. tolist() yields the same Python ints/floats int()/float() would.
    name, version = response.model_name, response.model_version
    results = []
    for row_ids, row_scores in zip(ids.tolist(), scores.tolist(), strict=True):
        total = sum(row_scores)
        if total == total and row_scores == sorted(row_scores, reverse=True):
            # No NaN and already best-first, as models usually return their top K.
            top = zip(row_ids[:k], row_scores[:k], strict=True)
            results.append([Recommendation(i, s, name, version) for i, s in top])
        else:
            order = _top_order(row_scores, k)
            results.append(
                [Recommendation(row_ids[j], row_scores[j], name, version) for j in order]
            )
    return results


class RecommendationPlan:
    """One validated ``recommend_batch`` call (a :class:`~clients._core.plan.CallPlan`).

    Args:
        user_ids: User ids (checked first; may be empty).
        k: Items wanted per user (checked against the model's K in :meth:`requests`).

    Raises:
        InvalidInputError: Naming the first bad id, or a bad ``k``.
    """

    __slots__ = ("k", "rows", "user_ids")
    model = RECOMMENDATION_MODEL
    signature = SIGNATURE

    def __init__(self, user_ids: Sequence[int], k: int) -> None:
        self.user_ids = validate_user_ids(user_ids) if len(user_ids) else []
        self.k = validate_k(k)
        self.rows = len(self.user_ids)

    def requests(self, info: ModelInfo, version: str) -> list[InferRequest]:
        """Checks ``k`` against the model's K, then one request per run of users."""
        model_k = info.shapes[SCORES][-1]
        if self.k > model_k:
            validate_k(self.k, model_k)  # raises, naming both numbers
        if len(self.user_ids) <= info.max_batch_size:  # one request: the hot path, kept lean
            return [build_request(self.user_ids, self.model, version)]
        return [build_request(run, self.model, version) for run in chunks(self.user_ids, info)]

    def parse(self, request: InferRequest, response: InferResponse) -> list[list[Recommendation]]:
        """One list per user, best first (see ``CallPlan.parse``)."""
        return parse_recommendations(response, self.k, request.inputs[0].data.shape[0])


def _top_order(scores: list[float], k: int) -> list[int]:
    """Indices of the ``k`` best scores, descending, ties in original order.

    Matches ``np.argsort(-scores, kind="stable")[:k]``, NaN scores included (last).
    """
    total = sum(scores)
    if total != total:  # a NaN (or inf - inf): Python comparisons would not order it
        order: list[int] = np.argsort(-np.asarray(scores), kind="stable")[:k].tolist()
        return order
    # sorted() is stable and reverse=True keeps equal scores in their original order.
    return sorted(range(len(scores)), key=scores.__getitem__, reverse=True)[:k]
