"""Small helpers about tensor data types and dims shared by the checks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tritonclient.grpc import model_config_pb2 as mc

__all__ = [
    "WILDCARD_DIM",
    "byte_width",
    "dims_compatible",
    "dims_problem",
    "fmt_dims",
    "type_name",
]

WILDCARD_DIM = -1

_BYTES_PER_ELEMENT = {
    mc.TYPE_BOOL: 1, mc.TYPE_UINT8: 1, mc.TYPE_INT8: 1, mc.TYPE_UINT16: 2, mc.TYPE_INT16: 2,
    mc.TYPE_FP16: 2, mc.TYPE_BF16: 2, mc.TYPE_UINT32: 4, mc.TYPE_INT32: 4, mc.TYPE_FP32: 4,
    mc.TYPE_UINT64: 8, mc.TYPE_INT64: 8, mc.TYPE_FP64: 8,
}


def byte_width(data_type: int) -> int | None:
    """Bytes per element of a fixed-size data type; ``None`` for strings and invalid types."""
    return _BYTES_PER_ELEMENT.get(data_type)


def type_name(data_type: int) -> str:
    """``TYPE_FP32``-style name of a ``DataType`` value."""
    try:
        return str(mc.DataType.Name(data_type))
    except ValueError:
        return f"TYPE_<{data_type}>"


def dims_problem(dims: Iterable[int]) -> tuple[int, int] | None:
    """Return ``(index, value)`` of the first illegal dimension (0 or below -1), else None."""
    for index, dim in enumerate(dims):
        if dim < 1 and dim != WILDCARD_DIM:
            return index, int(dim)
    return None


def fmt_dims(dims: Sequence[int]) -> str:
    """Dims as ``[-1, 3, 224]``."""
    return "[" + ", ".join(str(d) for d in dims) + "]"


def dims_compatible(a: Sequence[int], b: Sequence[int]) -> bool:
    """Triton's ``CompareDimsWithWildcard``: same rank, each pair equal or one is -1."""
    return len(a) == len(b) and all(
        x == y or WILDCARD_DIM in (x, y) for x, y in zip(a, b, strict=True)
    )
