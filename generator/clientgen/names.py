"""The naming rules of generated clients: tensor names -> fields, model names -> classes.

**Tensor name -> field** (one dataclass field per tensor; the original name is kept
for the wire):

1. every character that is not an ASCII letter, digit or ``_`` becomes ``_``
   (``gpu_0/data_0`` -> ``gpu_0_data_0``, ``row total`` -> ``row_total``);
2. a name that then starts with a digit gets ``t_`` in front (``0pixels`` ->
   ``t_0pixels``), one that starts with ``_`` gets ``t`` (``_x`` -> ``t_x``), so no
   field is private or name-mangled;
3. a Python keyword gets ``_`` appended (``class`` -> ``class_``, PEP 8's convention);
4. two tensors of the same dataclass (inputs, or outputs) that end on the same field
   are an error naming both: nothing is written.

**Model name -> class prefix**: the name is split at ``-``, ``_`` and ``.``, and each
part's first letter is capitalised (``my-model`` -> ``MyModel``, ``image_diagnosis`` ->
``ImageDiagnosis``, ``resnet50.v2`` -> ``Resnet50V2``); a prefix that starts with a
digit gets ``Model`` in front. The classes are ``<Prefix>Inputs``, ``<Prefix>Outputs``,
``<Prefix>Client`` and ``Async<Prefix>Client``.

**Model name -> module**: ``-`` and ``.`` become ``_`` and the name is lower-cased;
one that starts with a digit or ``_`` gets ``model_`` in front, a keyword gets ``_``.
Two models of one package with the same prefix or module are an error naming both.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable, Sequence

from generator.errors import SpecError

__all__ = ["class_prefix", "field_name", "field_names", "module_name", "package_names"]

_INVALID = re.compile(r"[^A-Za-z0-9_]")


def field_name(tensor: str) -> str:
    """The dataclass field of a tensor (rules 1-3 of the module docs)."""
    name = _INVALID.sub("_", tensor)
    if not name:
        return "t_"
    if name[0].isdigit():
        name = "t_" + name
    elif name[0] == "_":
        name = "t" + name
    if keyword.iskeyword(name):
        name += "_"
    return name


def field_names(model: str, kind: str, tensors: Sequence[str]) -> list[str]:
    """The fields of a model's inputs or outputs, in order.

    Args:
        model: Model name (for messages).
        kind: ``"input"`` or ``"output"``.
        tensors: The tensor names.

    Returns:
        One field per tensor.

    Raises:
        SpecError: Two tensors end on the same field (rule 4), naming both.
    """
    fields: list[str] = []
    seen: dict[str, str] = {}
    for i, tensor in enumerate(tensors):
        name = field_name(tensor)
        if name in seen:
            raise SpecError(
                f"{model}.{kind}[{i}]",
                f"{kind}s {seen[name]!r} and {tensor!r} both become field {name!r} of the "
                "generated client; rename one of the tensors in the model",
            )
        seen[name] = tensor
        fields.append(name)
    return fields


def class_prefix(model: str) -> str:
    """The class-name prefix of a model (``my-model`` -> ``MyModel``)."""
    parts = [p for p in re.split(r"[-_.]+", model) if p]
    prefix = "".join(p[0].upper() + p[1:] for p in parts)
    if not prefix or not prefix[0].isalpha():
        prefix = "Model" + prefix
    return _INVALID.sub("_", prefix)


def module_name(model: str) -> str:
    """The module of a model inside the generated package (``my-model`` -> ``my_model``)."""
    name = _INVALID.sub("_", model).lower()
    if not name or not name[0].isalpha():
        name = "model_" + name
    if keyword.iskeyword(name):
        name += "_"
    return name


def package_names(models: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Class prefix and module of every model of one package.

    Args:
        models: The model names.

    Returns:
        Model name -> (class prefix, module name).

    Raises:
        SpecError: Two models share a prefix or a module, naming both.
    """
    result: dict[str, tuple[str, str]] = {}
    prefixes: dict[str, str] = {}
    modules: dict[str, str] = {}
    for model in models:
        prefix, module = class_prefix(model), module_name(model)
        for what, value, taken in (("class prefix", prefix, prefixes),
                                   ("module", module, modules)):
            if value in taken:
                raise SpecError(
                    f"{model}.name",
                    f"models {taken[value]!r} and {model!r} both become {what} {value!r} "
                    "of the generated clients; generate them into separate packages",
                )
            taken[value] = model
        result[model] = (prefix, module)
    return result
