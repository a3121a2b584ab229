"""Render the typed-client modules of planned models (jinja2; user strings only as literals)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tritonclient.grpc import model_config_pb2 as mc

from generator.clientgen.names import field_names, package_names
from generator.errors import SpecError
from generator.layout import is_ensemble
from generator.templates import render_template

__all__ = ["ClientModel", "client_model", "render_module", "render_package_init"]

_TEMPLATES = Path(__file__).resolve().parent / "templates"
_LINE_LENGTH = 100  # ruff's limit in this project, and a common one

_NUMPY = {
    "BOOL": "bool_", "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32",
    "UINT64": "uint64", "INT8": "int8", "INT16": "int16", "INT32": "int32", "INT64": "int64",
    "FP16": "float16", "FP32": "float32", "FP64": "float64", "BYTES": "object_",
}


@dataclass(frozen=True)
class ClientModel:
    """What a model's typed client is generated from.

    Attributes:
        name: Model name.
        origin: The spec file.
        config: The final (auto-completed) ``ModelConfig``.
    """

    name: str
    origin: str
    config: mc.ModelConfig


def _datatype(data_type: int) -> str:
    name = str(mc.DataType.Name(data_type)).removeprefix("TYPE_")
    return "BYTES" if name == "STRING" else name


def _tensors(
    model: str, kind: str, tensors: Sequence[Any], batched: bool
) -> list[dict[str, object]]:
    fields = field_names(model, kind, [str(t.name) for t in tensors])
    out: list[dict[str, object]] = []
    for i, (tensor, field) in enumerate(zip(tensors, fields, strict=True)):
        datatype = _datatype(tensor.data_type)
        if datatype not in _NUMPY:
            raise SpecError(f"{model}.{kind}[{i}].data_type",
                            f"{kind} {tensor.name!r} is {datatype}, which the clients cannot "
                            "send or receive (numpy has no such type)")
        shape = ([-1] if batched else []) + [int(d) for d in tensor.dims]
        annotation = f"_npt.NDArray[_np.{_NUMPY[datatype]}]"
        if datatype == "BYTES" and kind == "input":
            annotation += " | _Sequence[str] | _Sequence[bytes]"
        optional = kind == "input" and bool(tensor.optional)
        out.append({
            "name": str(tensor.name),
            "field": field,
            "datatype": datatype,
            "shape": tuple(shape),
            "shape_text": "[" + ", ".join(str(d) for d in shape) + "]",
            "annotation": annotation + (" | None" if optional else ""),
            "default": " = None" if optional else "",
            "note": ", optional" if optional else "",
            "extra": ", optional=True" if optional else "",
        })
    return out


def client_model(name: str, origin: str, config: mc.ModelConfig) -> ClientModel:
    """Bundles a planned model for rendering."""
    return ClientModel(name, origin, config)


def render_module(model: ClientModel, prefix: str) -> str:
    """The source of one model's module.

    Raises:
        SpecError: A tensor collision after the naming rule, a model without inputs or
            a datatype the clients cannot carry, naming the model and tensor.
    """
    config = model.config
    if not config.input:
        raise SpecError(f"{model.name}.input", "the model has no inputs to generate a client for")
    batched = config.max_batch_size > 0
    inputs = _tensors(model.name, "input", config.input, batched)
    outputs = _tensors(model.name, "output", config.output, batched)
    variables: dict[str, object] = {
        "model": model.name,
        "origin": model.origin,
        "prefix": prefix,
        "batched": batched,
        "max_batch_size": int(config.max_batch_size),
        "ensemble": is_ensemble(config),
        "uses_sequence": any("_Sequence" in str(t["annotation"]) for t in inputs),
        "inputs": inputs,
        "outputs": outputs,
        "long_lines": False,
    }
    source = _render_client(variables, model.name)
    if max(len(line) for line in source.splitlines()) > _LINE_LENGTH:
        # Long tensor names make long lines; ruff's line-length rule is waived for them.
        source = _render_client({**variables, "long_lines": True}, model.name)
    return source


def _render_client(variables: dict[str, object], model: str) -> str:
    return render_template(_TEMPLATES / "model_client.py.j2", variables,
                           field=f"{model}.client", trim_blocks=True)


def render_package_init(models: Sequence[ClientModel]) -> str:
    """The package's ``__init__.py``, re-exporting every model's four classes."""
    names = package_names(m.name for m in models)
    entries = [{"module": names[m.name][1], "prefix": names[m.name][0]} for m in models]
    entries.sort(key=lambda e: e["module"])
    exports = sorted(
        f"{kind}".format(p=e["prefix"])
        for e in entries for kind in ("Async{p}Client", "{p}Client", "{p}Inputs", "{p}Outputs")
    )
    origins = sorted({m.origin for m in models})
    return render_template(
        _TEMPLATES / "package_init.py.j2",
        {"count": len(models), "models": entries, "exports": exports, "origins": origins},
        field="clients.__init__", trim_blocks=True,
    )
