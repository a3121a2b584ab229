"""Any model, tensors by name: the checks and the call plan of the generic client.

:class:`TensorPlan` is the :class:`~clients._core.plan.CallPlan` of
:class:`clients.ModelClient` and of every generated typed client. Its inputs are
checked against a signature (datatype, rank, fixed dimensions, one batch size for all
inputs) before a request is sent: against the expected signature when the client has
one (generated clients: at once, before any I/O), otherwise against the served one
read on first use. A batch larger than the served ``max_batch_size`` is split into
several requests; each request's outputs come back as one dict, in order, and
:func:`join_outputs` concatenates them along the batch dimension.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from clients._core.request import InferRequest, InferResponse, InputTensor, triton_datatype
from clients._core.signature import ModelInfo, ModelSignature, TensorSpec
from clients.errors import InvalidInputError, ServerError

__all__ = [
    "NUMPY_TYPES",
    "Arrays",
    "TensorPlan",
    "TensorValue",
    "check_inputs",
    "join_outputs",
]

TensorValue: TypeAlias = "npt.NDArray[Any] | Sequence[str] | Sequence[bytes]"
"""What an input accepts: a numpy array; for BYTES also a sequence of ``str``/``bytes``."""

Arrays: TypeAlias = "dict[str, npt.NDArray[Any]]"
"""Arrays by tensor name."""

NUMPY_TYPES: Mapping[str, type[np.generic]] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": np.object_,
}
"""Triton datatype -> the numpy scalar type the clients send and receive."""


def _shape_text(shape: Sequence[int | None]) -> str:
    return "[" + ", ".join("N" if d is None else str(d) for d in shape) + "]"


def _where(model: str, spec: TensorSpec) -> str:
    return f"model {model!r}: {spec.describe()}"


def _as_array(value: object, spec: TensorSpec, model: str) -> npt.NDArray[Any]:
    if isinstance(value, np.ndarray):
        if spec.datatype == "BYTES" and value.dtype.kind in "US":
            return value.astype(np.object_)
        return value
    if (
        spec.datatype == "BYTES"
        and isinstance(value, (list, tuple))
        and all(isinstance(item, (str, bytes)) for item in value)
    ):
        array = np.empty(len(value), dtype=np.object_)
        array[:] = value
        rank = len(spec.shape)
        if rank > 1 and all(d == 1 for d in spec.shape[1:]):
            # One string per batch row, for a tensor shaped [-1, 1]: the common case.
            return array.reshape((-1,) + (1,) * (rank - 1))
        return array
    wanted = "a numpy array" + (" or a sequence of str/bytes" if spec.datatype == "BYTES" else "")
    raise InvalidInputError(f"{_where(model, spec)}: expected {wanted}, got {type(value).__name__}")


def _check_one(
    array: npt.NDArray[Any], spec: TensorSpec, model: str, batched: bool
) -> None:
    try:
        datatype = triton_datatype(array)
    except KeyError:
        datatype = f"unsupported dtype {array.dtype}"
    shape, wanted = array.shape, spec.shape
    if datatype == spec.datatype and len(shape) == len(wanted):
        for got, want in zip(shape, wanted, strict=True):  # the common case: no messages built
            if want is not None and want >= 0 and got != want:
                break
        else:
            return
    where = _where(model, spec)
    if datatype != spec.datatype:
        numpy_type = NUMPY_TYPES.get(spec.datatype)
        hint = f" (numpy {np.dtype(numpy_type).name})" if numpy_type is not None else ""
        raise InvalidInputError(
            f"{where}: dtype {array.dtype} is {datatype}, expected {spec.datatype}{hint}"
        )
    if array.ndim != len(spec.shape):
        raise InvalidInputError(
            f"{where}: shape {list(array.shape)} has rank {array.ndim}, expected rank "
            f"{len(spec.shape)} {_shape_text(spec.shape)}"
            + (" (batch dimension first)" if batched else "")
        )
    for axis, (got, want) in enumerate(zip(array.shape, spec.shape, strict=True)):
        if want is not None and want >= 0 and got != want:
            raise InvalidInputError(
                f"{where}: dimension {axis} is {got}, expected {want} "
                f"(shape {list(array.shape)}, expected {_shape_text(spec.shape)})"
            )


def check_inputs(
    model: str, tensors: Sequence[TensorSpec], given: Mapping[str, object], batched: bool
) -> tuple[Arrays, int]:
    """Checks inputs by tensor name against a signature's inputs.

    Args:
        model: Model name (for messages).
        tensors: The inputs the model takes.
        given: Values by tensor name; ``None`` leaves an optional input out.
        batched: Whether the first dimension is the batch (``max_batch_size > 0``).

    Returns:
        The arrays to send, by tensor name in signature order, and the batch size
        (1 when the model does not batch).

    Raises:
        InvalidInputError: Naming the model and the tensor (and its field, for a
            generated client): an unknown or missing input, the wrong datatype, rank
            or fixed dimension, or inputs of different batch sizes.
    """
    arrays: Arrays = {}
    rows: int | None = None
    first = ""
    named = 0  # inputs of the signature that ``given`` names (None included)
    for spec in tensors:
        value = given.get(spec.name)
        if value is None:
            if spec.name in given:
                named += 1
            if spec.optional:
                continue
            _refuse_unknown(model, tensors, given)
            raise InvalidInputError(f"{_where(model, spec)} is required")
        named += 1
        array = value if type(value) is np.ndarray and spec.datatype != "BYTES" else (
            _as_array(value, spec, model))
        _check_one(array, spec, model, batched)
        if batched:
            size = array.shape[0]
            if rows is None:
                rows, first = size, spec.name
            elif size != rows:
                _refuse_unknown(model, tensors, given)
                raise InvalidInputError(
                    f"{_where(model, spec)}: batch size {size} differs from input {first!r}'s "
                    f"batch size {rows}"
                )
        arrays[spec.name] = array
    if named != len(given):
        _refuse_unknown(model, tensors, given)
    if batched and rows == 0:
        raise InvalidInputError(f"model {model!r}: the batch is empty")
    return arrays, (int(rows or 1)) if batched else 1


def _refuse_unknown(
    model: str, tensors: Sequence[TensorSpec], given: Mapping[str, object]
) -> None:
    known = {spec.name for spec in tensors}
    unknown = [name for name in given if name not in known]
    if unknown:
        listing = ", ".join(repr(spec.name) for spec in tensors) or "none"
        raise InvalidInputError(
            f"model {model!r}: unknown input {unknown[0]!r}; the model's inputs are {listing}"
        )


def join_outputs(parts: Sequence[Arrays]) -> Arrays:
    """Joins the outputs of a split call along the batch dimension, in order.

    Args:
        parts: The outputs of each request, in request order (at least one).

    Returns:
        One array per output name.
    """
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


class TensorPlan:
    """One checked call of a model by tensor names (a :class:`~clients._core.plan.CallPlan`).

    Its results are one dict of outputs per request (not per row); the caller joins
    them with :func:`join_outputs`.

    Args:
        model: Model name.
        signature: What the client expects of the model; with inputs (a generated
            client) the inputs are checked against it at once, without them (the
            generic client) against the served signature on first use.
        inputs: Values by tensor name.

    Raises:
        InvalidInputError: When checked at once, naming the input at fault.
    """

    __slots__ = ("_arrays", "_given", "model", "rows", "signature")

    def __init__(
        self, model: str, signature: ModelSignature, inputs: Mapping[str, object]
    ) -> None:
        self.model = model
        self.signature = signature
        self._given = inputs
        self._arrays: Arrays | None = None
        self.rows = 1
        if signature.inputs:
            self._arrays, self.rows = check_inputs(
                model, signature.inputs, inputs, bool(signature.batched)
            )

    def requests(self, info: ModelInfo, version: str) -> list[InferRequest]:
        """Checks the inputs against the served signature if not done yet, then splits them."""
        arrays = self._arrays
        if arrays is None:
            arrays, self.rows = check_inputs(
                self.model, info.served.inputs, self._given, info.max_batch_size > 0
            )
        outputs = (self.signature if self.signature.outputs else info.served).output_names
        step = info.max_batch_size
        if step <= 0 or self.rows <= step:  # one request: the hot path
            tensors = tuple(InputTensor(name, array) for name, array in arrays.items())
            return [InferRequest(self.model, version, tensors, outputs)]
        return [
            InferRequest(
                self.model,
                version,
                tuple(InputTensor(n, a[start : start + step]) for n, a in arrays.items()),
                outputs,
            )
            for start in range(0, self.rows, step)
        ]

    def parse(self, request: InferRequest, response: InferResponse) -> list[Arrays]:
        """The request's outputs as one dict (see the class docs)."""
        outputs = response.outputs
        for name in request.outputs:
            if name not in outputs:
                raise ServerError(f"model {response.model_name!r}: response lacks output {name!r}")
        # The transports build a fresh dict per response: no copy needed.
        return [outputs if type(outputs) is dict else dict(outputs)]
