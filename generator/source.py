"""Python source for specs: the readable code the importer writes."""

from __future__ import annotations

import dataclasses
import json
import keyword
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from generator.spec import Labels, ModelSpec, Template, Text
from generator.spec.base import ProtoEnum, SpecBase

__all__ = ["spec_module_source", "spec_variable"]

_WIDTH = 96


class _Writer:
    def __init__(self, base_dir: Path | None) -> None:
        self.base_dir = base_dir
        self.names: set[str] = set()
        self.uses_path = False
        self.uses_here = False

    def value(self, value: object, indent: int, lead: int = 0) -> str:
        """Source for ``value`` at ``indent``, after ``lead`` characters on its first line."""
        if isinstance(value, (SpecBase, Labels, Text, Template)):
            return self._call(value, indent, lead)
        if isinstance(value, ProtoEnum):
            self.names.add(type(value).__name__)
            return f"{type(value).__name__}.{value.name}"
        if isinstance(value, Path):
            return self._path(value)
        if isinstance(value, tuple):
            items = [self.value(v, indent + 4) for v in value]
            return self._wrap("[", items, "]", indent, lead)
        if isinstance(value, Mapping):
            items = []
            for k, v in value.items():
                key = self.value(k, indent + 4)
                items.append(f"{key}: {self.value(v, indent + 4, len(key) + 2)}")
            return self._wrap("{", items, "}", indent, lead)
        if isinstance(value, str):
            return _string(value)
        return repr(value)

    def _call(self, obj: object, indent: int, lead: int) -> str:
        cls = type(obj)
        self.names.add(cls.__name__)
        args = []
        for f in dataclasses.fields(obj):  # type: ignore[arg-type]
            value = getattr(obj, f.name)
            if f.default is not dataclasses.MISSING:
                default: object = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = dataclasses.MISSING
            if value == default and not (f.name == "kind" and isinstance(value, ProtoEnum)):
                continue
            args.append(f"{f.name}={self.value(value, indent + 4, len(f.name) + 1)}")
        return self._wrap(f"{cls.__name__}(", args, ")", indent, lead)

    def _wrap(self, opening: str, items: Sequence[str], closing: str, indent: int,
              lead: int) -> str:
        one_line = opening + ", ".join(items) + closing
        # +1 for the comma that follows a value inside an enclosing call or list.
        if indent + lead + len(one_line) + 1 <= _WIDTH and "\n" not in one_line:
            return one_line
        pad = " " * (indent + 4)
        body = "".join(f"{pad}{item},\n" for item in items)
        return f"{opening}\n{body}{' ' * indent}{closing}"

    def _path(self, path: Path) -> str:
        if self.base_dir is not None:
            rel = Path(os.path.relpath(path.resolve(), self.base_dir.resolve()))
            # Relative to the module when the file is near it; absolute when far away.
            if rel.parts.count("..") <= 1:
                self.uses_here = True
                return "HERE / " + _string(rel.as_posix())
        self.uses_path = True
        return f"Path({_string(path.resolve().as_posix())})"


def _string(text: str) -> str:
    literal = repr(text)
    if literal.startswith("'") and '"' not in text:
        literal = '"' + literal[1:-1].replace("\\'", "'") + '"'
    return literal


def _docstring(origin: str) -> str:
    safe = origin.isprintable() and not any(c in origin for c in '\\"')
    shown = origin if safe else json.dumps(origin)
    return f'"""Model specs imported by `python -m generator import` from:\n\n{shown}\n"""'


def spec_variable(name: str, taken: set[str]) -> str:
    """The module variable of a model: its name made an identifier, unique among ``taken``."""
    ident = re.sub(r"\W", "_", name) or "model"
    if ident[0].isdigit():
        ident = "model_" + ident
    if keyword.iskeyword(ident) or ident in {"HERE", "MODELS", "Path"}:
        ident += "_model"
    base, n = ident, 2
    while ident in taken:
        ident, n = f"{base}_{n}", n + 1
    taken.add(ident)
    return ident


def spec_module_source(
    specs: Sequence[ModelSpec], *, origin: str, module_dir: Path | None = None
) -> str:
    """Return the source of a spec module that defines ``specs``.

    Args:
        specs: The models, in order.
        origin: What they were imported from, named in the docstring.
        module_dir: Folder the module will be written to; file sources are
            written relative to it. ``None`` writes them as given.

    Returns:
        Python source defining one variable per model and ``MODELS``, the list
        ``python -m generator build`` reads.
    """
    writer = _Writer(module_dir)
    taken: set[str] = set()
    blocks = []
    variables = []
    for spec in specs:
        var = spec_variable(spec.name, taken)
        variables.append(var)
        blocks.append(f"{var} = {writer.value(spec, 0)}\n")
    names = sorted(writer.names)
    lines = [_docstring(origin), ""]
    if writer.uses_here or writer.uses_path:
        lines += ["from pathlib import Path", ""]
    import_line = f"from generator.spec import {', '.join(names)}"
    if len(import_line) > _WIDTH:
        import_line = "from generator.spec import (\n" + "".join(f"    {n},\n" for n in names) + ")"
    lines += [import_line, ""]
    if writer.uses_here:
        lines += ["HERE = Path(__file__).resolve().parent", ""]
    out = "\n".join(lines) + "\n" + "\n\n".join(blocks)
    out += "\n\nMODELS = [" + ", ".join(variables) + "]\n"
    return out
