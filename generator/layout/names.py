"""The model-name rule: which folder names a model repository may use.

A model's name is its folder's name. Two parts of Triton 2.51 decide which names work:

- Triton core (``model_repository_manager.cc``) takes every subdirectory of the
  repository as a model, and its ``ValidateModelName`` refuses a name that is empty,
  is only whitespace, or holds ``/`` or ``..`` (a path traversal).
- Triton's python backend, which the embedded server uses for every model (ONNX models
  run in a generated ``model.py``), starts its stub through a shell command line and an
  interpreter in the C locale: on Triton 2.51 a space, quote or backslash in the folder
  name breaks the stub's command line (the load fails or hangs) and a non-ASCII letter
  fails with ``UnicodeEncodeError``.

So the one rule, used by ``build``, ``validate``, ``adapt`` and ``serve`` alike, is core's
rule on the characters the python backend carries safely: ASCII letters, digits, ``_``,
``-`` and ``.``, in any order (``_x``, ``-x``, ``.x`` and ``v1.2`` are valid), without
``..`` and not ``.`` alone. ``modèle`` or ``a b`` are refused everywhere, before anything
is written or started.
"""

from __future__ import annotations

import string

__all__ = ["MODEL_NAME_CHARACTERS", "is_model_name", "model_name_problem"]

MODEL_NAME_CHARACTERS = frozenset(string.ascii_letters + string.digits + "_-.")
"""Every character a model name may hold."""


def model_name_problem(name: str) -> str | None:
    """Explain why ``name`` cannot be a model (folder) name, or return ``None`` if it can.

    Args:
        name: A model name or the name of a model folder.

    Returns:
        A short reason that reads after the name (``"is empty"``, ``"contains '/'"``...),
        or ``None`` when the name is valid.
    """
    if not name:
        return "is empty"
    if "/" in name:
        return "contains '/'"
    if ".." in name:
        return "contains '..' (a path traversal)"
    if name == ".":
        return "is '.', the repository folder itself"
    bad = sorted({c for c in name if c not in MODEL_NAME_CHARACTERS})
    if bad:
        listed = ", ".join(repr(c) for c in bad)
        return (f"contains {listed}; use ASCII letters, digits, '_', '-' and '.' only "
                "(Triton's python backend cannot load other names)")
    return None


def is_model_name(name: str) -> bool:
    """Whether ``name`` is a valid model (folder) name."""
    return model_name_problem(name) is None
