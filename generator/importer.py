"""Turn existing ``config.pbtxt`` files, model folders or repositories into specs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path, PurePosixPath

from generator.convert import from_proto
from generator.errors import SpecLoadError
from generator.init import find_onnx_file, init_module_source
from generator.layout import CONFIG_FILENAME, load_config
from generator.source import spec_module_source
from generator.spec import FileSource, ModelSpec
from generator.validation import load_model_dir
from generator.writer import KEEP_FILE

__all__ = ["import_module_source", "import_specs"]

def import_specs(path: Path) -> list[ModelSpec]:
    """Read specs from a ``.pbtxt`` file, a model folder or a repository folder.

    A lone config file gives a spec without files. A model folder also gives
    its version folders and top-level files (label files, for instance) as
    file sources, and a config without ``name`` takes the folder's name, as
    Triton does.

    Raises:
        ConfigSyntaxError: A config does not parse (names file and line).
        SpecLoadError: The path holds no config.
    """
    path = Path(path)
    if path.is_file():
        return [from_proto(load_config(path), ModelSpec)]
    if (path / CONFIG_FILENAME).is_file():
        return [_import_model_dir(path)]
    if path.is_dir():
        model_dirs = sorted(p for p in path.iterdir() if (p / CONFIG_FILENAME).is_file())
        if model_dirs:
            return [_import_model_dir(p) for p in model_dirs]
    raise SpecLoadError(f"{path}: no config.pbtxt, model folder or repository found")


def _import_model_dir(model_dir: Path) -> ModelSpec:
    artifacts = load_model_dir(model_dir)
    spec = from_proto(artifacts.config, ModelSpec)
    versions: dict[int, dict[str, FileSource]] = {v: {} for v in artifacts.version_numbers}
    files: dict[str, FileSource] = {}
    for rel, source in sorted(artifacts.files.items()):
        parts = PurePosixPath(rel).parts
        if parts[-1] == KEEP_FILE:
            continue  # the writer's placeholder for an empty version folder
        if len(parts) > 1 and parts[0].isdigit():
            versions.setdefault(int(parts[0]), {})[PurePosixPath(*parts[1:]).as_posix()] = source
        else:
            files[rel] = source
    return replace(
        spec, name=spec.name or model_dir.name, versions=versions or {1: {}}, files=files
    )


def import_module_source(path: Path, out: Path | None = None) -> str:
    """Return Python spec source for everything under ``path``.

    A model folder with an ONNX file but no ``config.pbtxt`` gives what
    ``python -m generator init`` writes for it.

    Args:
        path: A ``config.pbtxt``, a model folder or a repository.
        out: Where the source will be written; file paths are made relative to it.
    """
    path = Path(path)
    if _is_bare_onnx_folder(path):
        return init_module_source(path, out=out)
    specs = import_specs(path)
    module_dir = Path(out).resolve().parent if out is not None else None
    return spec_module_source(specs, origin=Path(path).as_posix(), module_dir=module_dir)


def _is_bare_onnx_folder(path: Path) -> bool:
    """A model folder holding an ONNX file and no config (nor sub-folders with one)."""
    if not path.is_dir() or (path / CONFIG_FILENAME).is_file():
        return False
    if any((sub / CONFIG_FILENAME).is_file() for sub in path.iterdir()):
        return False  # a repository
    return find_onnx_file(path) is not None
