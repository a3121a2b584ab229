"""Which backend serves a model, decided the way Triton decides it.

Mirrors ``AutoCompleteBackendFields`` (``model_config_utils.cc``): when ``platform``,
``backend`` or ``default_model_filename`` are left out, Triton fills them from each
other, from the files of the *first* sub-folder of the model folder (in name order),
and at last from the model folder's name (``name.backend`` means backend
``backend`` and model file ``model.backend``). ``ValidateModelConfig`` then refuses a
model that still has no backend. The ``runtime`` field is checked like
``TritonModel::GetBackendLibraryProperties`` (``backend_model.cc``) does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from tritonclient.grpc import model_config_pb2 as mc

from generator.layout import (
    ENSEMBLE_PLATFORM,
    ONNX_FILENAME,
    ONNXRUNTIME_BACKEND,
    ONNXRUNTIME_PLATFORM,
    PLAN_FILENAME,
    PYTHON_BACKEND,
    PYTHON_FILENAME,
    TENSORRT_BACKEND,
    TENSORRT_PLATFORM,
)
from generator.validation.artifacts import ModelArtifacts
from generator.validation.reporter import Reporter

__all__ = ["BackendResolution", "check_backend", "check_runtime", "resolve_backend"]

_TF_BACKEND = "tensorflow"
_SAVEDMODEL = ("tensorflow_savedmodel", "model.savedmodel")
_GRAPHDEF = ("tensorflow_graphdef", "model.graphdef")
_OPENVINO = ("openvino", "model.xml")
_PYTORCH_BACKEND = "pytorch"
_LIBTORCH = ("pytorch_libtorch", "model.pt")
_AOTI = ("torch_aoti", "model.pt2")


@dataclass(frozen=True)
class BackendResolution:
    """What Triton's auto-complete makes of a model's backend fields.

    Attributes:
        platform: The platform after auto-complete.
        backend: The backend after auto-complete; ``""`` when Triton cannot tell.
        default_model_filename: The model file name after auto-complete.
        source: Where the backend came from when the config does not name it, e.g.
            ``"1/model.onnx"`` or ``"the folder name 'm.identity'"``; ``""`` otherwise.
    """

    platform: str
    backend: str
    default_model_filename: str
    source: str = ""

    def apply(self, config: mc.ModelConfig) -> mc.ModelConfig:
        """A copy of ``config`` with the resolved fields written in."""
        resolved = mc.ModelConfig()
        resolved.CopyFrom(config)
        resolved.platform = self.platform
        resolved.backend = self.backend
        resolved.default_model_filename = self.default_model_filename
        return resolved


class _Folder:
    """The first sub-folder of a model folder: names of what it holds, and which are folders."""

    def __init__(self, artifacts: ModelArtifacts) -> None:
        subdirs = sorted(artifacts.top_level_folders)
        self.name = subdirs[0] if subdirs else ""
        self.entries: dict[str, bool] = {}
        if not self.name:
            return
        for key in artifacts.files:
            parts = PurePosixPath(key).parts
            if len(parts) > 1 and parts[0] == self.name:
                is_dir = len(parts) > 2
                self.entries[parts[1]] = self.entries.get(parts[1], False) or is_dir

    def has_file(self, name: str) -> bool:
        return self.entries.get(name) is False

    def has_dir(self, name: str) -> bool:
        return self.entries.get(name) is True

    def has(self, name: str) -> bool:
        return name in self.entries


def resolve_backend(artifacts: ModelArtifacts, *, with_files: bool = True) -> BackendResolution:
    """Fill ``platform``, ``backend`` and ``default_model_filename`` as Triton does.

    Args:
        artifacts: The model folder (name and files).
        with_files: ``False`` to use only the config (no file or folder name is known).

    Returns:
        The resolution; ``backend`` is ``""`` when Triton would find none.
    """
    config = artifacts.config
    platform, backend, filename = str(config.platform), str(config.backend), str(
        config.default_model_filename)
    folder = _Folder(artifacts) if with_files else None
    probe = folder is not None and bool(folder.name) and not filename and not platform

    def found(name: str) -> str:
        return f"{folder.name}/{name}" if folder is not None else ""

    source = ""
    if not platform and (not backend or backend == _TF_BACKEND):
        if filename in (_SAVEDMODEL[1], _GRAPHDEF[1]):
            platform = _SAVEDMODEL[0] if filename == _SAVEDMODEL[1] else _GRAPHDEF[0]
        elif folder is not None and folder.name and not filename:
            if folder.has_dir(_SAVEDMODEL[1]):
                platform, source = _SAVEDMODEL[0], found(_SAVEDMODEL[1])
            if folder.has_file(_GRAPHDEF[1]):
                platform, source = _GRAPHDEF[0], found(_GRAPHDEF[1])
    if platform in (_SAVEDMODEL[0], _GRAPHDEF[0]):
        default = _SAVEDMODEL[1] if platform == _SAVEDMODEL[0] else _GRAPHDEF[1]
        return BackendResolution(platform, backend or _TF_BACKEND, filename or default,
                                 source if not backend else "")
    steps: list[tuple[str, tuple[str, ...], str, bool]] = [
        (TENSORRT_BACKEND, (TENSORRT_PLATFORM,), PLAN_FILENAME, False),
        (ONNXRUNTIME_BACKEND, (ONNXRUNTIME_PLATFORM,), ONNX_FILENAME, True),
        (_OPENVINO[0], (), _OPENVINO[1], True),
    ]
    for name, platforms, model_file, dir_ok in steps:
        if not backend:
            if platform in platforms or filename == model_file:
                backend = name
            elif probe and folder is not None and (
                    folder.has(model_file) if dir_ok else folder.has_file(model_file)):
                backend, source = name, found(model_file)
        if backend == name:
            if not platform and platforms:
                platform = platforms[0]
            return BackendResolution(platform, backend, filename or model_file, source)
    if not backend:
        if platform == _LIBTORCH[0] or filename == _LIBTORCH[1]:
            backend = _PYTORCH_BACKEND
        elif platform == _AOTI[0] or filename == _AOTI[1]:
            backend = _PYTORCH_BACKEND
            platform = platform or _AOTI[0]
        elif probe and folder is not None:
            for torch_platform, torch_file in (_LIBTORCH, _AOTI):
                if folder.has_file(torch_file):
                    backend, platform, source = _PYTORCH_BACKEND, torch_platform, found(torch_file)
                    break
    if backend == _PYTORCH_BACKEND:
        if not platform:
            platform = _LIBTORCH[0]
        default = _AOTI[1] if platform == _AOTI[0] else _LIBTORCH[1]
        return BackendResolution(platform, backend, filename or default, source)
    if not backend:
        if filename == PYTHON_FILENAME:
            backend = PYTHON_BACKEND
        elif probe and folder is not None and folder.has(PYTHON_FILENAME):
            backend, source = PYTHON_BACKEND, found(PYTHON_FILENAME)
    if backend == PYTHON_BACKEND:
        return BackendResolution(platform, backend, filename or PYTHON_FILENAME, source)
    if not backend and not platform and not filename and with_files:
        model_name = artifacts.name
        if "." in model_name:
            suffix = model_name.split(".", 1)[1]
            return BackendResolution("", suffix, f"model.{suffix}",
                                     f"the folder name {model_name!r}")
    return BackendResolution(platform, backend, filename, source)


def check_backend(artifacts: ModelArtifacts, r: Reporter, *, with_files: bool = True) -> (
        BackendResolution):
    """Report how the backend was found, and refuse a model Triton finds none for.

    Args:
        artifacts: The model folder.
        r: Where issues go.
        with_files: ``False`` when only the config is known (nothing on disk): a missing
            backend is then not an error, since files or the folder name may supply it.

    Returns:
        The resolution, for the checks that depend on the backend.
    """
    config = artifacts.config
    resolution = resolve_backend(artifacts, with_files=with_files)
    if config.platform == ENSEMBLE_PLATFORM or config.HasField("ensemble_scheduling"):
        return resolution
    if resolution.source and not config.backend:
        if resolution.source.startswith("the folder name"):
            r.warning("backend", "backend-from-folder-name",
                      f"neither platform nor backend is set; Triton takes backend "
                      f"{resolution.backend!r} from {resolution.source} (the part after the "
                      f"first '.') and loads {resolution.default_model_filename!r}")
        else:
            r.warning("backend", "backend-auto-detected",
                      f"neither platform nor backend is set; Triton will guess backend "
                      f"{resolution.backend!r} from {resolution.source} (auto-complete must "
                      "be enabled)")
    if resolution.backend or not with_files:
        return resolution
    if config.platform:
        return resolution  # an unknown platform is reported by the config checks
    first = _Folder(artifacts).name
    where = f"in '{first}/' (the first sub-folder)" if first else "(there is no sub-folder)"
    r.error("backend", "missing-backend",
            f"neither platform nor backend is set, no known model file is {where}, and the "
            f"folder name {artifacts.name!r} has no '.backend' suffix; Triton cannot tell "
            "which backend to use")
    return resolution


def check_runtime(artifacts: ModelArtifacts, r: Reporter, *, with_files: bool = True) -> None:
    """Check the ``runtime`` field: a library name that stays inside the backend folder.

    Triton looks for the library in the version folder, then the model folder, then
    ``<backend-directory>/<backend>/`` on the host; ``model.py`` selects a Python-based
    backend installed on the host.

    Args:
        artifacts: The model folder.
        r: Where issues go.
        with_files: ``False`` when no model folder is known.
    """
    runtime = str(artifacts.config.runtime)
    if not runtime:
        return
    pure = PurePosixPath(runtime.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts:
        r.error("runtime", "runtime-escapes-backend-folder",
                f"runtime {runtime!r} points outside the backend folder; give a library file "
                "name such as 'libtriton_custom.so' (Triton refuses a path that escapes it)")
        return
    if runtime == PYTHON_FILENAME or not with_files:
        return
    key = pure.as_posix()
    local = [key] + [f"{v}/{key}" for v in artifacts.version_numbers]
    if not any(k in artifacts.files for k in local):
        backend = str(artifacts.config.backend) or "<backend>"
        r.warning("runtime", "runtime-library-on-host",
                  f"runtime library {runtime!r} is not in the model folder; Triton then "
                  f"needs it in <backend-directory>/{backend}/ on the serving host "
                  "(host-dependent)")
