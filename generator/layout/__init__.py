"""The facts of a Triton model repository's layout, in one place.

- :mod:`~generator.layout.names`: the model-name rule (Triton core's, on the characters
  its python backend can load);
- :mod:`~generator.layout.files`: the file, folder, platform and backend names
  (``config.pbtxt``, ``model.onnx``, ``onnxruntime_onnx``, ``model.plan``, ...);
- :mod:`~generator.layout.config`: loading a ``config.pbtxt`` into a ``ModelConfig``
  with file:line errors;
- :mod:`~generator.layout.atomic`: all-or-nothing writes of a file or a whole folder.

The generator, the runtime (:mod:`serving`), the load tests and the reference-model
training all read these facts from here.
"""

from generator.layout.atomic import (
    replace_folder,
    swap_folder,
    write_bytes_atomic,
    write_text_atomic,
)
from generator.layout.config import load_config, parse_config
from generator.layout.files import (
    CONFIG_FILENAME,
    ENSEMBLE_PLATFORM,
    KNOWN_BACKENDS,
    ONNX_FILENAME,
    ONNXRUNTIME_BACKEND,
    ONNXRUNTIME_PLATFORM,
    PLAN_FILENAME,
    PLATFORM_BACKENDS,
    PYTHON_BACKEND,
    PYTHON_FILENAME,
    TENSORRT_BACKEND,
    TENSORRT_PLATFORM,
    effective_backend,
    is_ensemble,
    is_onnxruntime,
    is_tensorrt,
    is_version_folder_name,
    model_filenames,
    version_folders,
)
from generator.layout.names import MODEL_NAME_CHARACTERS, is_model_name, model_name_problem

__all__ = [
    "CONFIG_FILENAME",
    "ENSEMBLE_PLATFORM",
    "KNOWN_BACKENDS",
    "MODEL_NAME_CHARACTERS",
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
    "is_model_name",
    "is_onnxruntime",
    "is_tensorrt",
    "is_version_folder_name",
    "load_config",
    "model_filenames",
    "model_name_problem",
    "parse_config",
    "replace_folder",
    "swap_folder",
    "version_folders",
    "write_bytes_atomic",
    "write_text_atomic",
]
