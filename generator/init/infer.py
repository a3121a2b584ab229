"""What Triton's ONNX Runtime auto-complete would make of an ONNX file.

The rules, as the onnxruntime backend applies them to a model without a config:

- inputs are the graph inputs that are not initializers, outputs the graph outputs,
  element types map to ``TYPE_*``, symbolic or unknown dimensions become ``-1``;
- the model batches when every input and output has a dynamic first dimension; then
  that dimension leaves ``dims``, ``max_batch_size`` is the backend's
  ``default-max-batch-size`` (4 unless the server is started with
  ``--backend-config=default-max-batch-size=N``) and, since it is above 1, dynamic
  batching is turned on;
- a per-item scalar (shape ``[batch]``) gets ``dims [1]`` and an empty reshape.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tritonclient.grpc import model_config_pb2 as mc

from generator.errors import OnnxModelError, SpecError
from generator.layout import CONFIG_FILENAME, ONNX_FILENAME, model_name_problem
from generator.spec import DataType
from generator.validation.onnx_check import OnnxTensor, read_onnx_signature

__all__ = [
    "DEFAULT_MAX_BATCH_SIZE",
    "InferredModel",
    "InferredTensor",
    "find_onnx_file",
    "infer_model",
]

DEFAULT_MAX_BATCH_SIZE = 4
"""Triton's ``default-max-batch-size`` for auto-completed models (docs: "Default Max Batch
Size and Dynamic Batcher"): what the server would serve the file with, without a config."""


@dataclass(frozen=True)
class InferredTensor:
    """One input or output as auto-complete would configure it.

    Attributes:
        name: Tensor name in the graph.
        data_type: Its Triton type.
        dims: Config dims (without the batch dimension when batching); -1 is variable.
        empty_reshape: Whether the model sees it without ``dims`` (a per-item scalar).
        onnx_type: ONNX element type name, e.g. ``FLOAT``.
        onnx_shape: The graph's shape, e.g. ``[batch, 3, 224, 224]``.
        symbolic: Names (or ``?``) of the dimensions that became -1, batch excluded.
    """

    name: str
    data_type: DataType
    dims: tuple[int, ...]
    empty_reshape: bool
    onnx_type: str
    onnx_shape: str
    symbolic: tuple[str, ...]


@dataclass(frozen=True)
class InferredModel:
    """A model's config as auto-complete would write it, and why.

    Attributes:
        name: Model name.
        model_file: The ONNX file.
        max_batch_size: 0, or :data:`DEFAULT_MAX_BATCH_SIZE` when the model batches.
        batching_reason: Why it batches or not, one line.
        inputs: The inputs, in graph order.
        outputs: The outputs, in graph order.
    """

    name: str
    model_file: Path
    max_batch_size: int
    batching_reason: str
    inputs: tuple[InferredTensor, ...]
    outputs: tuple[InferredTensor, ...]


def find_onnx_file(folder: Path) -> Path | None:
    """The ONNX file of a model folder that has no ``config.pbtxt``, if it has one.

    Triton reads ``<version>/model.onnx`` and serves the newest version by default, so
    that is the file taken; a folder holding one ``*.onnx`` file directly also counts.

    Args:
        folder: The model folder.

    Returns:
        The file, or None when the folder holds no ONNX model (or has a config).
    """
    if (folder / CONFIG_FILENAME).is_file():
        return None
    versions = sorted(
        (int(p.name), p / ONNX_FILENAME)
        for p in folder.iterdir()
        if p.is_dir() and p.name.isdigit() and (p / ONNX_FILENAME).is_file()
    )
    if versions:
        return versions[-1][1]
    loose = sorted(folder.glob("*.onnx"))
    return loose[0] if len(loose) == 1 else None


def _tensor(tensor: OnnxTensor, kind: str, batching: bool, path: Path) -> InferredTensor:
    ttype = tensor.triton_type
    if ttype is None:
        raise OnnxModelError(
            f"{path}: {kind} {tensor.name!r} has ONNX type {tensor.onnx_type_name}, which "
            "Triton cannot serve"
        )
    shape = tensor.shape if tensor.shape is not None else (None,)
    labels = tensor.labels if tensor.shape is not None else ("?",)
    if batching:
        shape, labels = shape[1:], labels[1:]
    dims = tuple(-1 if d is None else d for d in shape)
    symbolic = tuple(label for d, label in zip(shape, labels, strict=True) if d is None)
    return InferredTensor(
        name=tensor.name,
        data_type=DataType(mc.DataType.Name(ttype)),
        dims=dims or (1,),
        empty_reshape=batching and not dims,
        onnx_type=tensor.onnx_type_name,
        onnx_shape=tensor.shape_text(),
        symbolic=symbolic,
    )


def _batching(tensors: list[tuple[str, OnnxTensor]]) -> tuple[bool, str]:
    for kind, tensor in tensors:
        if tensor.shape is None:
            return False, f"not batching: {kind} {tensor.name!r} has no shape in the ONNX file"
        if not tensor.shape:
            return False, f"not batching: {kind} {tensor.name!r} is a scalar"
        if tensor.shape[0] is not None:
            return False, (f"not batching: {kind} {tensor.name!r} has a fixed first "
                           f"dimension ({tensor.shape[0]}) in the ONNX file")
    first = tensors[0][1].labels[0] if tensors else "?"
    return True, (f"batches: every tensor's first dim is dynamic ({first!r}); "
                  f"{DEFAULT_MAX_BATCH_SIZE} is Triton's default-max-batch-size")


def infer_model(model_file: Path, name: str | None = None) -> InferredModel:
    """Reads an ONNX file and configures it as Triton's auto-complete would.

    Args:
        model_file: An ONNX file, or a model folder without ``config.pbtxt`` holding one.
        name: Model name (default: the folder's name for a model folder, else the
            file's stem).

    Returns:
        The inferred model.

    Raises:
        OnnxModelError: The path is not an ONNX model, has no inputs, or has a tensor
            Triton cannot serve (the message names the file and the tensor).
        SpecError: The model name breaks the model-name rule.
    """
    path = Path(model_file)
    if path.is_dir():
        if (path / CONFIG_FILENAME).is_file():
            raise OnnxModelError(
                f"{path}: has a {CONFIG_FILENAME}; use `python -m generator import` instead"
            )
        found = find_onnx_file(path)
        if found is None:
            raise OnnxModelError(
                f"{path}: no ONNX model found (expected <version>/{ONNX_FILENAME} or one *.onnx)"
            )
        default_name, path = Path(model_file).resolve().name, found
    elif path.is_file():
        default_name = path.stem
    else:
        raise OnnxModelError(f"{path}: no such file or folder")
    model_name = name or default_name
    problem = model_name_problem(model_name)
    if problem:
        raise SpecError(f"{path}", f"model name {model_name!r} {problem}; pass --name NAME")
    inputs, outputs, initializers = read_onnx_signature(path)
    feedable = [t for t in inputs if t.name not in initializers]
    if not feedable:
        raise OnnxModelError(f"{path}: the graph has no inputs to feed (all are initializers)"
                             if inputs else f"{path}: the graph has no inputs")
    tagged = [("input", t) for t in feedable] + [("output", t) for t in outputs]
    batching, reason = _batching(tagged)
    return InferredModel(
        name=model_name,
        model_file=path,
        max_batch_size=DEFAULT_MAX_BATCH_SIZE if batching else 0,
        batching_reason=reason,
        inputs=tuple(_tensor(t, "input", batching, path) for t in feedable),
        outputs=tuple(_tensor(t, "output", batching, path) for t in outputs),
    )
