"""Generate the typed-client package of specs: plan, render, then write or check."""

from __future__ import annotations

import keyword
from collections.abc import Sequence
from pathlib import Path

from generator.clientgen.names import package_names
from generator.clientgen.render import client_model, render_module, render_package_init
from generator.errors import DriftError, SpecError
from generator.loader import LoadedSpec
from generator.validation import raise_for_errors
from generator.writer import _staging, plan_repository, tree_drift, write_tree

__all__ = ["COMMAND", "check_clients", "client_files", "write_clients"]

COMMAND = "python -m generator clients"
"""The command named in the package's manifest."""


def client_files(specs: Sequence[LoadedSpec], package: str) -> dict[str, bytes]:
    """Every file of the generated package, by path inside it.

    The models are planned as ``build`` plans them (inputs and outputs completed from
    the ONNX files, the whole repository validated) before anything is rendered.

    Args:
        specs: The loaded specs.
        package: The package's import name (the output folder's name).

    Returns:
        ``__init__.py``, ``py.typed`` and one ``<module>.py`` per model.

    Raises:
        SpecError: The package name is not an identifier, or a naming rule fails
            (tensors or models that collide), naming the model and tensors.
        ValidationFailed: The specs have errors.
    """
    if not package.isidentifier() or keyword.iskeyword(package):
        raise SpecError(package, "the output folder's name is the package's import name, "
                        "so it must be a Python identifier (e.g. my_clients)")
    with _staging() as staging:
        planned, issues = plan_repository(specs, staging)
        raise_for_errors(issues)
    models = [client_model(m.spec.name, m.origin, m.config) for m in planned]
    names = package_names(m.name for m in models)
    files: dict[str, bytes] = {"py.typed": b""}
    for model in models:
        prefix, module = names[model.name]
        files[f"{module}.py"] = render_module(model, prefix).encode("utf-8")
    files["__init__.py"] = render_package_init(models).encode("utf-8")
    return files


def write_clients(specs: Sequence[LoadedSpec], out: Path) -> tuple[str, ...]:
    """Writes the package to ``out`` atomically; nothing is written on any error.

    Returns:
        The paths written, relative to ``out``.

    Raises:
        SpecError: See :func:`client_files`.
        ValidationFailed: The specs have errors.
        RepositoryWriteError: ``out`` holds a foreign file in the way, or the write failed.
    """
    files = client_files(specs, Path(out).resolve().name)
    written, _ = write_tree(out, files, COMMAND)
    return written


def check_clients(specs: Sequence[LoadedSpec], out: Path) -> int:
    """Compares the package on disk with what the specs produce, writing nothing.

    Returns:
        The number of files checked.

    Raises:
        DriftError: Listing each differing path.
        SpecError: See :func:`client_files`.
        ValidationFailed: The specs have errors.
    """
    files = client_files(specs, Path(out).resolve().name)
    differences = tree_drift(out, files, COMMAND)
    if differences:
        raise DriftError(differences)
    return len(files)
