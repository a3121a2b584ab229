"""Expected model signatures and the check of served metadata against them."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from clients.errors import MetadataMismatchError

__all__ = ["ANY_DIM", "ModelInfo", "ModelSignature", "TensorSpec", "check_metadata", "dims_of"]

ANY_DIM: int | None = None
"""Placeholder in :attr:`TensorSpec.shape` for a fixed dimension of any size."""


@dataclass(frozen=True)
class TensorSpec:
    """An expected input or output tensor, as reported by model metadata.

    Attributes:
        name: Tensor name.
        datatype: Triton datatype, e.g. ``"FP32"``.
        shape: Full shape including the batch dimension; ``-1`` must be variable,
            ``None`` (:data:`ANY_DIM`) accepts any fixed size >= 1.
        field: The Python name a generated client gives the tensor, named in errors
            beside the tensor name (``""``: none).
        optional: Whether a request may leave the input out (``optional: true``).
    """

    name: str
    datatype: str
    shape: tuple[int | None, ...]
    field: str = ""
    optional: bool = False

    def describe(self, kind: str = "input") -> str:
        """Names the tensor in messages: ``input 'x'`` or ``field 'x_0' (input 'x/0')``."""
        if self.field:
            return f"field {self.field!r} ({kind} {self.name!r})"
        return f"{kind} {self.name!r}"


@dataclass(frozen=True)
class ModelSignature:
    """The inputs and outputs a client expects of a model.

    Attributes:
        inputs: Expected inputs.
        outputs: Expected outputs.
        batched: Whether the model batches (``max_batch_size > 0``: every shape starts
            with the batch dimension); None when the client does not say.
    """

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    batched: bool | None = None

    @functools.cached_property
    def output_names(self) -> tuple[str, ...]:
        """The outputs' tensor names, in order (the names a request asks for)."""
        return tuple(spec.name for spec in self.outputs)


@dataclass(frozen=True)
class ModelInfo:
    """What the client learned about a served model on first use.

    Attributes:
        name: Model name.
        version: Version the server reported (the pinned one, else the newest listed).
        max_batch_size: The model's ``max_batch_size`` (0 means no batching).
        shapes: Served shape of every checked tensor, by name.
        served: The served signature: every input and output with its datatype and
            shape (``optional`` read from the config), in the server's order.
    """

    name: str
    version: str
    max_batch_size: int
    shapes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    served: ModelSignature = ModelSignature((), ())


def _tensor_list(metadata: Mapping[str, Any], key: str) -> dict[str, tuple[str, tuple[int, ...]]]:
    result: dict[str, tuple[str, tuple[int, ...]]] = {}
    for entry in metadata.get(key, ()) or ():
        result[str(entry["name"])] = (
            str(entry["datatype"]),
            tuple(int(d) for d in entry.get("shape", ())),
        )
    return result


def _compare(kind: str, spec: TensorSpec, served: tuple[str, tuple[int, ...]] | None) -> list[str]:
    if served is None:
        return [f"{kind} '{spec.name}' is missing"]
    datatype, shape = served
    problems = []
    if datatype != spec.datatype:
        problems.append(
            f"{kind} '{spec.name}' has datatype {datatype}, expected {spec.datatype}"
        )
    expected_text = "[" + ", ".join("N" if d is None else str(d) for d in spec.shape) + "]"
    if len(shape) != len(spec.shape):
        problems.append(f"{kind} '{spec.name}' has shape {list(shape)}, expected {expected_text}")
    else:
        for got, want in zip(shape, spec.shape, strict=True):
            ok = got >= 1 if want is None else got == want
            if not ok:
                problems.append(
                    f"{kind} '{spec.name}' has shape {list(shape)}, expected {expected_text}"
                )
                break
    return problems


def check_metadata(
    model_name: str,
    signature: ModelSignature,
    metadata: Mapping[str, Any],
    config: Mapping[str, Any],
    requested_version: str | None,
) -> ModelInfo:
    """Compares served metadata with the expected signature.

    Args:
        model_name: Name of the model (for messages).
        signature: What the client expects.
        metadata: Model metadata as a dict (KServe v2 JSON shape; string dims accepted).
        config: Model configuration as a dict (``max_batch_size`` is read from it).
        requested_version: The pinned version, or None for the server's choice.

    Returns:
        What was learned about the model.

    Raises:
        MetadataMismatchError: Listing every difference found.
    """
    inputs = _tensor_list(metadata, "inputs")
    outputs = _tensor_list(metadata, "outputs")
    problems: list[str] = []
    max_batch_size = int(config.get("max_batch_size", 0) or 0)
    if signature.batched is not None and signature.batched != (max_batch_size > 0):
        problems.append(
            f"max_batch_size is {max_batch_size}, expected "
            + ("a batching model (> 0)" if signature.batched else "0 (no batching)")
        )
    for spec in signature.inputs:
        problems += _compare("input", spec, inputs.get(spec.name))
    for spec in signature.outputs:
        problems += _compare("output", spec, outputs.get(spec.name))
    if problems:
        raise MetadataMismatchError(model_name, problems)
    versions = [str(v) for v in metadata.get("versions", ()) or ()]
    if requested_version is not None:
        version = requested_version
    elif versions:
        version = max(versions, key=lambda v: int(v) if v.isdigit() else -1)
    else:
        version = ""
    shapes = {name: shape for name, (_, shape) in {**inputs, **outputs}.items()}
    optional = {
        str(entry.get("name")) for entry in config.get("input", ()) or () if entry.get("optional")
    }
    served = ModelSignature(
        inputs=tuple(
            TensorSpec(name, datatype, shape, optional=name in optional)
            for name, (datatype, shape) in inputs.items()
        ),
        outputs=tuple(TensorSpec(n, d, s) for n, (d, s) in outputs.items()),
        batched=max_batch_size > 0,
    )
    return ModelInfo(
        name=model_name,
        version=version,
        max_batch_size=max_batch_size,
        shapes=shapes,
        served=served,
    )


def dims_of(info: ModelInfo, tensor: str) -> tuple[int, ...]:
    """Returns the served shape of a checked tensor.

    Args:
        info: Model information from :func:`check_metadata`.
        tensor: Tensor name.

    Returns:
        Its shape including the batch dimension.
    """
    return tuple(info.shapes[tensor])

