"""Triton's model-name rule: which folder names a model repository accepts.

Triton (``triton-inference-server/core``, ``model_repository_manager.cc``) takes every
subdirectory of the repository as a model, whatever its characters, and its
``ValidateModelName`` refuses only a name that is empty, is only whitespace, or holds
``/`` or ``..`` (a path traversal). The one rule here adds what no folder can be named:
``.`` and a NUL character. Everything else (``_x``, ``-x``, ``modèle``, ``a b``) is a
valid model name for ``build``, ``validate``, ``adapt`` and ``serve`` alike.
"""

from __future__ import annotations

__all__ = ["is_model_name", "model_name_problem"]

_WHITESPACE = " \t\n\v\f\r"


def model_name_problem(name: str) -> str | None:
    """Explain why ``name`` cannot be a model (folder) name, or return ``None`` if it can.

    Args:
        name: A model name or the name of a model folder.

    Returns:
        A short reason that reads after the name (``"is empty"``, ``"contains '/'"``...),
        or ``None`` when Triton accepts the name.
    """
    if not name:
        return "is empty"
    if not name.strip(_WHITESPACE):
        return "is only whitespace"
    if "/" in name:
        return "contains '/'"
    if ".." in name:
        return "contains '..'"
    if name == ".":
        return "is '.', the repository folder itself"
    if "\x00" in name:
        return "contains a NUL character"
    return None


def is_model_name(name: str) -> bool:
    """Whether Triton accepts ``name`` as a model (folder) name."""
    return model_name_problem(name) is None
