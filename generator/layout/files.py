"""File, folder and platform names of a Triton model repository, and what they imply."""

from __future__ import annotations

from pathlib import Path

from tritonclient.grpc import model_config_pb2 as mc

__all__ = [
    "CONFIG_FILENAME",
    "ENSEMBLE_PLATFORM",
    "KNOWN_BACKENDS",
    "ONNXRUNTIME_BACKEND",
    "ONNXRUNTIME_PLATFORM",
    "ONNX_FILENAME",
    "PLAN_FILENAME",
    "PLATFORM_BACKENDS",
    "PYTHON_BACKEND",
    "PYTHON_FILENAME",
    "TENSORRT_BACKEND",
    "TENSORRT_PLATFORM",
    "effective_backend",
    "is_ensemble",
    "is_onnxruntime",
    "is_tensorrt",
    "is_version_folder_name",
    "model_filenames",
    "version_folders",
]

CONFIG_FILENAME = "config.pbtxt"
"""The model configuration inside each model folder."""

ENSEMBLE_PLATFORM = "ensemble"
ONNXRUNTIME_PLATFORM = "onnxruntime_onnx"
ONNXRUNTIME_BACKEND = "onnxruntime"
ONNX_FILENAME = "model.onnx"
TENSORRT_PLATFORM = "tensorrt_plan"
TENSORRT_BACKEND = "tensorrt"
PLAN_FILENAME = "model.plan"
PYTHON_BACKEND = "python"
PYTHON_FILENAME = "model.py"

#: platform -> the backend that serves it (Triton's GetBackendTypeFromPlatform).
PLATFORM_BACKENDS: dict[str, str] = {
    TENSORRT_PLATFORM: TENSORRT_BACKEND,
    ONNXRUNTIME_PLATFORM: ONNXRUNTIME_BACKEND,
    "pytorch_libtorch": "pytorch",
    "torch_aoti": "pytorch",
    "tensorflow_graphdef": "tensorflow",
    "tensorflow_savedmodel": "tensorflow",
}

#: Backends whose type Triton knows; any other backend name is a custom backend.
KNOWN_BACKENDS = frozenset(PLATFORM_BACKENDS.values())

_PLATFORM_FILES: dict[str, str] = {
    TENSORRT_PLATFORM: PLAN_FILENAME,
    ONNXRUNTIME_PLATFORM: ONNX_FILENAME,
    "pytorch_libtorch": "model.pt",
    "torch_aoti": "model.pt2",
    "tensorflow_graphdef": "model.graphdef",
    "tensorflow_savedmodel": "model.savedmodel",
}

_BACKEND_FILES: dict[str, str] = {
    TENSORRT_BACKEND: PLAN_FILENAME,
    ONNXRUNTIME_BACKEND: ONNX_FILENAME,
    "pytorch": "model.pt",
    PYTHON_BACKEND: PYTHON_FILENAME,
    "openvino": "model.xml",
}


def is_ensemble(config: mc.ModelConfig) -> bool:
    """Whether the config describes an ensemble (by platform or scheduling)."""
    return bool(config.platform == ENSEMBLE_PLATFORM or config.HasField("ensemble_scheduling"))


def effective_backend(config: mc.ModelConfig) -> str:
    """The backend Triton will use: ``backend``, else the one implied by ``platform``."""
    backend: str = config.backend
    if backend:
        return backend
    return PLATFORM_BACKENDS.get(config.platform, "")


def is_tensorrt(config: mc.ModelConfig) -> bool:
    """Whether the model is a TensorRT plan."""
    return bool(config.platform == TENSORRT_PLATFORM or config.backend == TENSORRT_BACKEND)


def is_onnxruntime(config: mc.ModelConfig) -> bool:
    """Whether the model is served by the ONNX Runtime backend."""
    return bool(config.platform == ONNXRUNTIME_PLATFORM or config.backend == ONNXRUNTIME_BACKEND)


def model_filenames(config: mc.ModelConfig) -> tuple[str, ...]:
    """File names Triton accepts as the model file in a version folder.

    ``default_model_filename`` wins over the platform/backend default;
    ``cc_model_filenames`` values are accepted too (they are chosen per GPU).

    Returns:
        The accepted names, empty when unknown (custom backends).
    """
    names: list[str] = []
    default: str = config.default_model_filename
    if default:
        names.append(default)
    else:
        guess = _PLATFORM_FILES.get(config.platform) or _BACKEND_FILES.get(config.backend)
        if guess:
            names.append(guess)
    names.extend(str(v) for v in config.cc_model_filenames.values())
    return tuple(dict.fromkeys(names))


def is_version_folder_name(name: str) -> bool:
    """Whether a folder of that name inside a model folder is a version.

    All digits and no leading zero: Triton's ``VersionsToLoad`` skips ``01``.
    """
    return name.isascii() and name.isdigit() and (name == "0" or not name.startswith("0"))


def version_folders(model_dir: Path) -> list[Path]:
    """The version folders of a model folder, in ascending version order."""
    return sorted(
        (p for p in Path(model_dir).iterdir() if p.is_dir() and is_version_folder_name(p.name)),
        key=lambda p: int(p.name),
    )
