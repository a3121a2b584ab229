"""Protocol-neutral inference requests and responses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["InferRequest", "InferResponse", "InputTensor", "triton_datatype"]

_DATATYPES: dict[np.dtype[np.generic], str] = {
    np.dtype(np.uint8): "UINT8",
    np.dtype(np.uint16): "UINT16",
    np.dtype(np.uint32): "UINT32",
    np.dtype(np.uint64): "UINT64",
    np.dtype(np.int8): "INT8",
    np.dtype(np.int16): "INT16",
    np.dtype(np.int32): "INT32",
    np.dtype(np.int64): "INT64",
    np.dtype(np.float16): "FP16",
    np.dtype(np.float32): "FP32",
    np.dtype(np.float64): "FP64",
    np.dtype(np.bool_): "BOOL",
    np.dtype(np.object_): "BYTES",
}
# Keyed by dtype, not dtype.name: numpy computes ``.name`` in Python (microseconds).
_DATATYPES_BY_NAME: dict[str, str] = {dtype.name: name for dtype, name in _DATATYPES.items()}


def triton_datatype(array: npt.NDArray[np.generic]) -> str:
    """Returns the Triton datatype name of a numpy array.

    Args:
        array: The array.

    Returns:
        E.g. ``"FP32"`` for float32, ``"BYTES"`` for an object array of ``bytes``/``str``.

    Raises:
        KeyError: For dtypes the clients never send.
    """
    datatype = _DATATYPES.get(array.dtype)
    if datatype is None:  # e.g. non-native byte order
        return _DATATYPES_BY_NAME[array.dtype.name]
    return datatype


@dataclass(frozen=True)
class InputTensor:
    """One named input.

    Attributes:
        name: Input name.
        data: The array, batch dimension first.
    """

    name: str
    data: npt.NDArray[np.generic]

    @property
    def datatype(self) -> str:
        """Triton datatype of :attr:`data`."""
        return triton_datatype(self.data)


@dataclass(frozen=True)
class InferRequest:
    """A protocol-neutral inference request.

    Attributes:
        model_name: Model to call.
        model_version: Version to call, ``""`` for the server's choice.
        inputs: Inputs to send.
        outputs: Names of the outputs to return.
    """

    model_name: str
    model_version: str
    inputs: tuple[InputTensor, ...]
    outputs: tuple[str, ...]


@dataclass(frozen=True)
class InferResponse:
    """A protocol-neutral inference response.

    Attributes:
        model_name: Model that answered.
        model_version: Version that answered.
        outputs: Output arrays by name.
    """

    model_name: str
    model_version: str
    outputs: Mapping[str, npt.NDArray[np.generic]]
