"""The packages' layering, read from the imports of every module with ``ast``.

- the generator's core (everything in ``generator/`` but its ``cli`` and ``__main__``
  shells) imports nothing from the runtime (``serving``), ``clients``, ``loadtests``
  or ``reference``;
- ``clients`` imports nothing from ``generator``, ``serving``, ``loadtests`` or
  ``reference`` (``clients/demo.py``, which starts a server, aside).

Every import counts: module level, inside a function, under ``TYPE_CHECKING``, and
relative imports resolved to their absolute module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Layer:
    """A package, the shells exempt from its rule, and the packages it must not import.

    Attributes:
        package: Top-level package folder, e.g. ``generator``.
        forbidden: Top-level packages none of its modules may import.
        shells: Module paths (relative to the repository root) exempt from the rule.
    """

    package: str
    forbidden: tuple[str, ...]
    shells: frozenset[str] = frozenset()


LAYERS = (
    Layer("generator", ("serving", "clients", "loadtests", "reference"),
          frozenset({"generator/cli.py", "generator/__main__.py"})),
    Layer("clients", ("generator", "serving", "loadtests", "reference"),
          frozenset({"clients/demo.py"})),
)


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, root: Path) -> Iterator[tuple[int, str]]:
    """Yield (line, absolute module name) for every import statement of a module."""
    module = _module_name(path, root)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                yield node.lineno, node.module or ""
                continue
            package = module.split(".") if is_package else module.split(".")[:-1]
            anchor = package[: len(package) - (node.level - 1)]
            if node.module:
                yield node.lineno, ".".join([*anchor, node.module])
            else:
                for alias in node.names:
                    yield node.lineno, ".".join([*anchor, alias.name])


def layering_violations(layer: Layer, root: Path) -> list[str]:
    """Every import in ``layer``'s package that reaches a forbidden package.

    Returns:
        ``path:line: imports module`` lines, sorted; empty when the layer holds.
    """
    found: list[tuple[str, int, str]] = []
    for path in sorted((root / layer.package).rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if relative in layer.shells or "__pycache__" in path.parts:
            continue
        found += [(relative, line, imported) for line, imported in imported_modules(path, root)
                  if imported.split(".")[0] in layer.forbidden]
    return [f"{path}:{line}: imports {imported}" for path, line, imported in sorted(found)]


@pytest.mark.parametrize("layer", LAYERS, ids=[layer.package for layer in LAYERS])
def test_package_imports_nothing_from_the_packages_above_it(layer: Layer) -> None:
    assert layering_violations(layer, REPO_ROOT) == []


def test_layering_check_finds_every_kind_of_forbidden_import_when_a_module_has_them(
    tmp_path: Path,
) -> None:
    core = tmp_path / "generator" / "core"
    core.mkdir(parents=True)
    (tmp_path / "generator" / "__init__.py").write_text("")
    (tmp_path / "generator" / "cli.py").write_text("import serving.cli\n")
    (core / "__init__.py").write_text("from .. import spec\n")
    (core / "bad.py").write_text(
        "from __future__ import annotations\n"
        "import os, clients.errors\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from loadtests.targets import Targets\n"
        "def late() -> None:\n"
        "    from serving import TritonServer\n"
        "from ... import reference\n"
    )
    layer = Layer("generator", ("serving", "clients", "loadtests", "reference"),
                  frozenset({"generator/cli.py"}))
    assert layering_violations(layer, tmp_path) == [
        "generator/core/bad.py:2: imports clients.errors",
        "generator/core/bad.py:5: imports loadtests.targets",
        "generator/core/bad.py:7: imports serving",
        "generator/core/bad.py:8: imports reference",
    ]
