"""ONNX models for the bring-your-own-model tests: one shipped architecture, and small
graphs built with ``onnx.helper`` that each hit an edge of init, serving and clients.

Every builder writes ``<folder>/<name>.onnx`` and returns its path, with inputs that
:func:`sample_inputs` knows how to fill.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper

__all__ = [
    "BUILDERS",
    "ENSEMBLE_SPEC",
    "LIGHT_DIR",
    "labels_model",
    "light_resnet50",
    "mixed_dtypes_model",
    "run_in_process",
    "sample_inputs",
    "scalar_model",
    "sequence_model",
    "small_types_model",
]

LIGHT_DIR = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
"""Model-zoo architectures the ``onnx`` wheel ships (constant weights, real graphs)."""

_OPSETS = [helper.make_opsetid("", 13)]
_IR_VERSION = 8  # onnxruntime 1.16+ reads it


def _save(graph: onnx.GraphProto, path: Path, opsets: list[Any] | None = None) -> Path:
    model = helper.make_model(graph, opset_imports=opsets or _OPSETS)
    model.ir_version = _IR_VERSION
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def light_resnet50(folder: Path) -> Path:
    """ResNet-50 from the onnx wheel: ``gpu_0/data_0`` [1, 3, 224, 224] -> ``gpu_0/softmax_1``.

    Its first dimension is fixed at 1, so Triton's auto-complete does not batch it.
    """
    target = folder / "resnet50.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes((LIGHT_DIR / "light_resnet50.onnx").read_bytes())
    return target


def mixed_dtypes_model(folder: Path) -> Path:
    """Dynamic batch, inputs of two dtypes and names that are not identifiers.

    ``input-features`` FP32 [N, 4] and ``scale`` INT64 [N, 1] -> ``weighted`` FP32 [N, 4]
    (features * scale) and ``row total`` FP64 [N, 1] (their sum per row).
    """
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["scale"], ["scale_f"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["input-features", "scale_f"], ["weighted"]),
            helper.make_node("ReduceSum", ["weighted", "axes"], ["total_f"], keepdims=1),
            helper.make_node("Cast", ["total_f"], ["row total"], to=TensorProto.DOUBLE),
        ],
        "mixed_dtypes",
        [
            helper.make_tensor_value_info("input-features", TensorProto.FLOAT, ["batch", 4]),
            helper.make_tensor_value_info("scale", TensorProto.INT64, ["batch", 1]),
        ],
        [
            helper.make_tensor_value_info("weighted", TensorProto.FLOAT, ["batch", 4]),
            helper.make_tensor_value_info("row total", TensorProto.DOUBLE, ["batch", 1]),
        ],
        initializer=[helper.make_tensor("axes", TensorProto.INT64, [1], [1])],
    )
    return _save(graph, folder / "mixed-dtypes.onnx")


LABELS = ("cat", "dog", "emu")


def labels_model(folder: Path) -> Path:
    """A string (BYTES) input and output: ai.onnx.ml LabelEncoders.

    ``text`` STRING [N, 1] -> ``class`` INT64 [N, 1] (``cat`` 0, ``dog`` 1, ``emu`` 2,
    anything else -1) and ``label`` STRING [N, 1] (the id's name again, ``?`` for -1).
    ``class`` is a Python keyword.
    """
    graph = helper.make_graph(
        [
            helper.make_node(
                "LabelEncoder", ["text"], ["class"], domain="ai.onnx.ml",
                keys_strings=list(LABELS), values_int64s=[0, 1, 2], default_int64=-1,
            ),
            helper.make_node(
                "LabelEncoder", ["class"], ["label"], domain="ai.onnx.ml",
                keys_int64s=[0, 1, 2], values_strings=list(LABELS), default_string="?",
            ),
        ],
        "labels",
        [helper.make_tensor_value_info("text", TensorProto.STRING, ["batch", 1])],
        [
            helper.make_tensor_value_info("class", TensorProto.INT64, ["batch", 1]),
            helper.make_tensor_value_info("label", TensorProto.STRING, ["batch", 1]),
        ],
    )
    opsets = [*_OPSETS, helper.make_opsetid("ai.onnx.ml", 2)]
    return _save(graph, folder / "labels.onnx", opsets)


def sequence_model(folder: Path) -> Path:
    """A variable non-batch dim: ``tokens`` INT32 [N, seq] -> ``doubled`` INT32 [N, seq],
    ``mean`` FP32 [N, 1]."""
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["tokens", "tokens"], ["doubled"]),
            helper.make_node("Cast", ["tokens"], ["tokens_f"], to=TensorProto.FLOAT),
            helper.make_node("ReduceMean", ["tokens_f"], ["mean"], axes=[1], keepdims=1),
        ],
        "sequence",
        [helper.make_tensor_value_info("tokens", TensorProto.INT32, ["batch", "seq"])],
        [
            helper.make_tensor_value_info("doubled", TensorProto.INT32, ["batch", "seq"]),
            helper.make_tensor_value_info("mean", TensorProto.FLOAT, ["batch", 1]),
        ],
    )
    return _save(graph, folder / "sequence.onnx")


def small_types_model(folder: Path) -> Path:
    """The narrow dtypes: ``half`` FP16 [N, 2], ``mask`` BOOL [N, 2] and ``0pixels`` UINT8
    [N, 2] -> ``kept`` FP16 (half where mask, else 0) and ``wide`` INT16 (the pixels)."""
    graph = helper.make_graph(
        [
            helper.make_node("Where", ["mask", "half", "zero"], ["kept"]),
            helper.make_node("Cast", ["0pixels"], ["wide"], to=TensorProto.INT16),
        ],
        "small_types",
        [
            helper.make_tensor_value_info("half", TensorProto.FLOAT16, ["batch", 2]),
            helper.make_tensor_value_info("mask", TensorProto.BOOL, ["batch", 2]),
            helper.make_tensor_value_info("0pixels", TensorProto.UINT8, ["batch", 2]),
        ],
        [
            helper.make_tensor_value_info("kept", TensorProto.FLOAT16, ["batch", 2]),
            helper.make_tensor_value_info("wide", TensorProto.INT16, ["batch", 2]),
        ],
        initializer=[helper.make_tensor("zero", TensorProto.FLOAT16, [], [0.0])],
    )
    return _save(graph, folder / "small_types.onnx")


def scalar_model(folder: Path) -> Path:
    """One scalar per row: ``x`` FP32 [batch] -> ``y`` FP32 [batch] (3 x + 1).

    Triton sees it as dims [1] with an empty reshape; clients send and get [N, 1].
    """
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "three"], ["tripled"]),
            helper.make_node("Add", ["tripled", "one"], ["y"]),
        ],
        "scalar",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch"])],
        initializer=[helper.make_tensor("three", TensorProto.FLOAT, [], [3.0]),
                     helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])],
    )
    return _save(graph, folder / "scalar.onnx")


BUILDERS: Mapping[str, Callable[[Path], Path]] = {
    "resnet50": light_resnet50,
    "mixed-dtypes": mixed_dtypes_model,
    "labels": labels_model,
    "sequence": sequence_model,
    "small_types": small_types_model,
    "scalar": scalar_model,
}
"""Model name -> builder (the model name is the file's stem)."""


def sample_inputs(model: str, rows: int, seed: int = 0) -> dict[str, npt.NDArray[Any]]:
    """Inputs for one of :data:`BUILDERS`, by tensor name (``rows`` ignored for resnet50)."""
    rng = np.random.default_rng(seed)
    if model == "resnet50":
        return {"gpu_0/data_0": rng.random((1, 3, 224, 224), dtype=np.float32)}
    if model == "mixed-dtypes":
        return {
            "input-features": rng.random((rows, 4), dtype=np.float32),
            "scale": rng.integers(-3, 4, size=(rows, 1), dtype=np.int64),
        }
    if model == "labels":
        words = np.array([*LABELS, "yak", ""], dtype=object)
        return {"text": words[rng.integers(0, len(words), size=(rows, 1))]}
    if model == "sequence":
        return {"tokens": rng.integers(-50, 50, size=(rows, 7), dtype=np.int32)}
    if model == "small_types":
        return {
            "half": rng.random((rows, 2)).astype(np.float16),
            "mask": rng.random((rows, 2)) > 0.5,
            "0pixels": rng.integers(0, 256, size=(rows, 2), dtype=np.uint8),
        }
    if model == "scalar":  # as the model sees it: [rows]; clients send [rows, 1]
        return {"x": rng.random(rows, dtype=np.float32)}
    raise KeyError(model)


def run_in_process(path: Path, inputs: Mapping[str, npt.NDArray[Any]]) -> dict[str, Any]:
    """The model's outputs from onnxruntime in this process (strings as ``bytes``)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {
        name: (np.vectorize(lambda v: v.decode() if isinstance(v, bytes) else v, otypes=[object])(a)
               if a.dtype == object else a)
        for name, a in inputs.items()
    }
    names = [o.name for o in session.get_outputs()]
    results = session.run(names, feeds)
    out: dict[str, Any] = {}
    for name, array in zip(names, results, strict=True):
        array = np.asarray(array)
        if array.dtype == object or array.dtype.kind == "U":
            array = np.vectorize(lambda v: v.encode() if isinstance(v, str) else v,
                                 otypes=[object])(array)
        out[name] = array
    return out


# A spec module: the ensemble over mixed-dtypes, with names that are not identifiers.
ENSEMBLE_SPEC = '''
from generator.presets import ensemble_model, step
from generator.spec import DataType, Input, Output

mixed_total = ensemble_model(
    "mixed-total",
    max_batch_size=4,
    inputs=[Input(name="features", data_type=DataType.FP32, dims=[4]),
            Input(name="scale", data_type=DataType.INT64, dims=[1])],
    outputs=[Output(name="total", data_type=DataType.FP64, dims=[1])],
    steps=[step("mixed-dtypes", inputs={"input-features": "features", "scale": "scale"},
                outputs={"row total": "total"})],
)
MODELS = [mixed_total]
'''
