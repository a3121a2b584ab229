"""Render an inferred ONNX model as a spec module (jinja2; user strings only as literals)."""

from __future__ import annotations

import os
from pathlib import Path

from generator.errors import SpecError
from generator.init.infer import InferredModel, InferredTensor, infer_model
from generator.source import spec_variable
from generator.templates import render_template

__all__ = ["init_module_source", "render_model"]

_TEMPLATE = Path(__file__).resolve().parent / "templates" / "spec_module.py.j2"
# Names the module imports or defines: a model variable never shadows them.
_MODULE_NAMES = frozenset({
    "DataType", "DynamicBatching", "HERE", "Input", "MODELS", "Output", "Path", "Reshape",
    "onnx_model",
})


def _one_line(text: str, field: str) -> str:
    # Comments carry tensor names only as repr() literals; this keeps a comment a comment.
    if not text.isprintable():
        raise SpecError(field, f"comment is not one printable line: {text!r}")
    return text


def _tensor_comment(tensor: InferredTensor, batching: bool) -> str:
    parts = [f"{tensor.name!r}: ONNX {tensor.onnx_type} {tensor.onnx_shape} "
             f"-> {tensor.data_type.value} dims {list(tensor.dims)}"]
    if batching:
        parts.append("batch dimension left out")
    if tensor.symbolic:
        parts.append(", ".join(repr(s) for s in tensor.symbolic) + " symbolic: -1")
    if tensor.empty_reshape:
        parts.append("a per-item scalar: dims [1], empty reshape")
    return "; ".join(parts)


def _tensors(tensors: tuple[InferredTensor, ...], batching: bool, field: str) -> list[object]:
    return [
        {
            "name": t.name,
            "data_type": t.data_type.name,
            "dims": list(t.dims),
            "empty_reshape": t.empty_reshape,
            "comment": _one_line(_tensor_comment(t, batching), field),
        }
        for t in tensors
    ]


def _paths(model_file: Path, module_dir: Path | None) -> tuple[str | None, str]:
    absolute = model_file.resolve().as_posix()
    if module_dir is None:
        return None, absolute
    relative = Path(os.path.relpath(model_file.resolve(), module_dir.resolve()))
    # Relative to the module when the file is near it; absolute when far away.
    return (relative.as_posix() if relative.parts.count("..") <= 1 else None), absolute


def init_module_source(
    model_file: Path, *, name: str | None = None, out: Path | None = None
) -> str:
    """The source of a spec module for an ONNX file, as ``python -m generator init`` writes it.

    Args:
        model_file: An ONNX file, or a model folder without ``config.pbtxt`` holding one.
        name: Model name (default: see :func:`~generator.init.infer_model`).
        out: Where the module will be written; the ONNX file is named relative to it.

    Returns:
        Python source defining the model and ``MODELS``.

    Raises:
        OnnxModelError: The file is not a usable ONNX model (names file and tensor).
        SpecError: The model name breaks the model-name rule.
    """
    model = infer_model(Path(model_file), name)
    origin = Path(model_file).as_posix()
    if Path(model_file).is_dir():
        origin += f" ({model.model_file.relative_to(Path(model_file)).as_posix()})"
    return render_model(model, origin=origin, out=out)


def render_model(model: InferredModel, *, origin: str, out: Path | None = None) -> str:
    """Renders an inferred model as a spec module (see :func:`init_module_source`)."""
    batching = model.max_batch_size > 0
    field = f"{model.name}.init"
    relative, absolute = _paths(model.model_file, Path(out).parent if out is not None else None)
    imports = {"DataType", "Input", "Output"}
    if model.max_batch_size > 1:
        imports.add("DynamicBatching")
    if any(t.empty_reshape for t in (*model.inputs, *model.outputs)):
        imports.add("Reshape")
    variables: dict[str, object] = {
        "origin": origin,
        "name": model.name,
        "variable": spec_variable(model.name, set(_MODULE_NAMES)),
        "spec_imports": sorted(imports),
        "relative_path": relative,
        "absolute_path": absolute,
        "max_batch_size": model.max_batch_size,
        "batching_comment": _one_line(model.batching_reason, field),
        "inputs": _tensors(model.inputs, batching, field),
        "outputs": _tensors(model.outputs, batching, field),
    }
    return render_template(_TEMPLATE, variables, field=field, trim_blocks=True)
