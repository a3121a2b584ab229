"""The shape of one client call, shared by both models: validate, build requests, parse.

A model's core builds a :class:`CallPlan` from the caller's arguments (validating
them before anything is sent); a session runs it: it fetches the model's checked
metadata, sends :meth:`CallPlan.requests` and joins what :meth:`CallPlan.parse`
makes of each response.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from clients._core.request import InferRequest, InferResponse
from clients._core.signature import ModelInfo, ModelSignature

__all__ = ["CallPlan", "chunks"]

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


class CallPlan(Protocol[ResultT]):
    """One validated call: what to ask of which model and how to read the answers.

    Attributes:
        model: The model to call.
        signature: What the client expects of it (checked on first use).
        rows: Number of results the call returns (0: nothing is sent).
    """

    @property
    def model(self) -> str: ...

    @property
    def signature(self) -> ModelSignature: ...

    @property
    def rows(self) -> int: ...

    def requests(self, info: ModelInfo, version: str) -> list[InferRequest]:
        """Builds the requests, split to the model's max batch size.

        Args:
            info: The model's checked metadata.
            version: Version to call, ``""`` for the server's choice.

        Returns:
            The requests, in input order.

        Raises:
            InvalidInputError: If an argument does not fit the served model.
        """
        ...

    def parse(self, request: InferRequest, response: InferResponse) -> list[ResultT]:
        """Reads the results of one request from its response.

        Args:
            request: The request sent.
            response: Its response.

        Returns:
            One result per row of the request, in order (the generic
            :class:`~clients._core.tensors.TensorPlan`: one dict of outputs per request).

        Raises:
            ServerError: If the response is malformed.
        """
        ...


def chunks(items: Sequence[ItemT], info: ModelInfo) -> list[Sequence[ItemT]]:
    """Splits items into runs of at most the model's max batch size.

    Args:
        items: The items, in order.
        info: The model's checked metadata (``max_batch_size`` 0: one item a request).

    Returns:
        The runs, in order.
    """
    step = max(1, info.max_batch_size)
    if len(items) <= step:  # the common case: one request, no copy
        return [items]
    return [items[start : start + step] for start in range(0, len(items), step)]
