"""``python -m generator init``: a spec module from an ONNX file, as Triton would see it.

:func:`infer_model` reads the graph and makes the choices Triton's ONNX Runtime
auto-complete makes (:mod:`generator.init.infer`); :func:`init_module_source` renders
them, each with a one-line comment, as a spec module that ``build`` accepts
(:mod:`generator.init.render`).
"""

from generator.init.infer import (
    DEFAULT_MAX_BATCH_SIZE,
    InferredModel,
    InferredTensor,
    find_onnx_file,
    infer_model,
)
from generator.init.render import init_module_source, render_model

__all__ = [
    "DEFAULT_MAX_BATCH_SIZE",
    "InferredModel",
    "InferredTensor",
    "find_onnx_file",
    "infer_model",
    "init_module_source",
    "render_model",
]
