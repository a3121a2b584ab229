"""Render jinja2 templates for generated files such as python-backend ``model.py``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import jinja2

from generator.errors import SpecError

__all__ = ["render_template"]


def _pyrepr(value: object) -> str:
    """A Python literal for ``value``; rejects values whose repr is not a literal."""
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_pyrepr(v) for v in value)
        return (
            f"({inner},)"
            if isinstance(value, tuple) and len(value) == 1
            else (f"({inner})" if isinstance(value, tuple) else f"[{inner}]")
        )
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_pyrepr(k)}: {_pyrepr(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"{type(value).__name__} has no safe Python literal")


def _docrepr(value: object) -> str:
    """A Python literal for ``value`` that is also safe inside a ``\"\"\"`` docstring."""
    return _pyrepr(value).replace('"', '\\"')


def _environment(folder: Path, trim_blocks: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        trim_blocks=trim_blocks,
        lstrip_blocks=trim_blocks,
    )
    env.filters["pyrepr"] = _pyrepr
    env.filters["docrepr"] = _docrepr
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": True}
    return env


def render_template(
    path: Path, variables: Mapping[str, object], *, field: str, trim_blocks: bool = False
) -> str:
    """Render the template at ``path``.

    Templates must insert values through ``tojson`` or ``pyrepr`` (``docrepr``
    inside a docstring) so that a value never becomes code. ``trim_blocks`` drops
    the line breaks and indentation around block tags (the generator's own
    templates of Python code use it).

    Raises:
        SpecError: The template is missing, has a syntax error or uses an
            undefined variable; ``field`` names the spec field at fault.
    """
    path = Path(path)
    if not path.is_file():
        raise SpecError(field, f"template {path} does not exist")
    try:
        json.dumps(dict(variables))
    except (TypeError, ValueError) as exc:
        raise SpecError(field, f"template variables must be JSON-serialisable: {exc}") from exc
    try:
        env = _environment(path.parent, trim_blocks)
        return env.get_template(path.name).render(**variables)
    except jinja2.TemplateError as exc:
        raise SpecError(field, f"template {path.name}: {exc}") from exc
