"""Load model specs from Python files."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from generator.errors import GeneratorError, SpecError, SpecLoadError
from generator.spec import ModelSpec

__all__ = ["LoadedSpec", "load_specs"]


@dataclass(frozen=True)
class LoadedSpec:
    """A model spec and the file it came from.

    Attributes:
        spec: The model.
        origin: The spec file, relative to the folder or file given to the
            loader, as named in generated headers.
    """

    spec: ModelSpec
    origin: str


def load_specs(
    paths: Path | str | Sequence[Path | str], *, require_names: bool = True
) -> list[LoadedSpec]:
    """Load every model spec from ``.py`` files or folders of them.

    A module lists its models in ``MODELS``; without it, every module-level
    :class:`ModelSpec` counts, in definition order. In a folder, files are read
    in name order and files starting with ``_`` are skipped. Each spec's origin
    is ``<folder name>/<file name>``, so it does not depend on how the path
    was spelt. With ``require_names=False`` (``render``), nameless specs are
    allowed: they stand for a ``config.pbtxt`` that takes its folder's name.

    Raises:
        SpecLoadError: A path is missing, a module fails to import, or it
            defines no model.
        SpecError: A spec is malformed, or two specs share a name.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    loaded: list[LoadedSpec] = []
    seen: dict[str, str] = {}
    for file in _spec_files([Path(p) for p in paths]):
        origin = f"{file.resolve().parent.name}/{file.name}"
        for spec in _load_module(file):
            if not spec.name:
                if not require_names:
                    loaded.append(LoadedSpec(spec, origin))
                    continue
                raise SpecError(
                    f"{origin}",
                    "a model spec has no name, and the name is the model folder's name: give "
                    "one with name=\"...\" (ModelSpec(name=...) or a preset's first argument), "
                    "or import the model folder rather than its config.pbtxt so the folder "
                    "name is used",
                )
            if spec.name in seen:
                raise SpecError(
                    f"{spec.name}.name",
                    f"model {spec.name!r} is defined twice: in {seen[spec.name]} and {origin}",
                )
            seen[spec.name] = origin
            loaded.append(LoadedSpec(spec, origin))
    return loaded


def _spec_files(paths: Sequence[Path]) -> list[Path]:
    if not paths:
        raise SpecLoadError("no spec path given")
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.glob("*.py") if not p.name.startswith("_"))
            if not found:
                raise SpecLoadError(f"{path}: no spec files (*.py) found")
            files += found
        elif path.is_file() and path.suffix == ".py":
            files.append(path)
        else:
            raise SpecLoadError(f"{path}: not a spec file (.py) or a folder of spec files")
    return files


def _load_module(file: Path) -> list[ModelSpec]:
    module_name = f"_generator_specs_.{file.stem}_{abs(hash(file.resolve()))}"
    module_spec = importlib.util.spec_from_file_location(module_name, file)
    if module_spec is None or module_spec.loader is None:
        raise SpecLoadError(f"{file}: cannot be imported")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except GeneratorError:
        raise
    except Exception as exc:
        raise SpecLoadError(f"{file}: {type(exc).__name__}: {exc}") from exc
    finally:
        sys.modules.pop(module_name, None)
    models = getattr(module, "MODELS", None)
    if models is None:
        models = [v for v in vars(module).values() if isinstance(v, ModelSpec)]
    else:
        for i, m in enumerate(models):
            if not isinstance(m, ModelSpec):
                raise SpecLoadError(f"{file}: MODELS[{i}] is a {type(m).__name__}, not a ModelSpec")
    if not models:
        raise SpecLoadError(f"{file}: defines no ModelSpec (set MODELS = [...])")
    return list(models)
