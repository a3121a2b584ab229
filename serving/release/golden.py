"""Golden files: inputs and expected outputs a model version must reproduce.

A golden file (``golden.json``) sits in a version folder beside the model file. It is
produced offline from the model file itself (``python -m reference train`` writes the
reference models' files into ``specs/assets/``; the spec puts each into its version
folder), so the smoke check of a rollout compares the server's answer with a truth that
does not come from the server::

    {
      "model": "recommendation",
      "version": 2,
      "rtol": 1e-05,
      "atol": 1e-06,
      "cases": [
        {"name": "known user 0",
         "inputs":  {"user_id":  {"datatype": "INT64", "shape": [1, 1], "data": [0]}},
         "outputs": {"item_ids": {"datatype": "INT64", "shape": [1, 20], "data": [...]},
                     "scores":   {"datatype": "FP32",  "shape": [1, 20], "data": [...]}}}
      ]
    }

Integer outputs must match exactly, floating-point outputs within ``rtol``/``atol``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from generator.layout import write_text_atomic
from serving.release.errors import GoldenFileError

__all__ = [
    "GOLDEN_FILENAME",
    "GoldenCase",
    "GoldenSet",
    "GoldenTensor",
    "compare_outputs",
    "golden_path",
    "load_golden",
    "parse_golden",
    "write_golden",
]

GOLDEN_FILENAME = "golden.json"

_NUMPY_TYPES: dict[str, type[np.generic]] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}
_FLOAT_TYPES = frozenset({"FP16", "FP32", "FP64"})


@dataclass(frozen=True)
class GoldenTensor:
    """One tensor of a golden case, as Triton names its data type.

    Attributes:
        datatype: Triton data type, such as ``INT64`` or ``FP32``.
        shape: Shape including the batch dimension.
        data: The values, flattened in row-major order.
    """

    datatype: str
    shape: tuple[int, ...]
    data: tuple[float, ...]

    def to_numpy(self) -> npt.NDArray[Any]:
        """The tensor as a numpy array of its data type and shape."""
        return np.asarray(self.data, dtype=_NUMPY_TYPES[self.datatype]).reshape(self.shape)

    @classmethod
    def from_numpy(cls, array: npt.NDArray[Any]) -> GoldenTensor:
        """Wrap a numpy array (its dtype must be one of Triton's numeric types)."""
        for name, dtype in _NUMPY_TYPES.items():
            if array.dtype == np.dtype(dtype):
                return cls(name, tuple(int(d) for d in array.shape),
                           tuple(array.reshape(-1).tolist()))
        raise ValueError(f"unsupported dtype {array.dtype} for a golden tensor")


@dataclass(frozen=True)
class GoldenCase:
    """One request and the outputs it must produce.

    Attributes:
        name: What the case checks, e.g. ``unknown user 10**12``.
        inputs: Input name -> tensor.
        outputs: Output name -> expected tensor.
    """

    name: str
    inputs: Mapping[str, GoldenTensor]
    outputs: Mapping[str, GoldenTensor]


@dataclass(frozen=True)
class GoldenSet:
    """The golden cases of one model version.

    Attributes:
        model: Model name.
        version: Model version.
        cases: The cases, in file order.
        rtol: Relative tolerance of floating-point outputs.
        atol: Absolute tolerance of floating-point outputs.
    """

    model: str
    version: int
    cases: tuple[GoldenCase, ...]
    rtol: float = 1e-5
    atol: float = 1e-6


def golden_path(repository: Path, model: str, version: int) -> Path:
    """Where the golden file of ``model`` version ``version`` sits in a repository."""
    return Path(repository) / model / str(version) / GOLDEN_FILENAME


def _tensor(raw: Any, where: str) -> GoldenTensor:
    if not isinstance(raw, Mapping):
        raise GoldenFileError(where, "must be an object with datatype, shape and data")
    datatype = raw.get("datatype")
    if datatype not in _NUMPY_TYPES:
        raise GoldenFileError(f"{where}.datatype",
                              f"must be one of {sorted(_NUMPY_TYPES)}, got {datatype!r}")
    shape, data = raw.get("shape"), raw.get("data")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise GoldenFileError(f"{where}.shape", f"must be a list of sizes, got {shape!r}")
    if not isinstance(data, list) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in data
    ):
        raise GoldenFileError(f"{where}.data", "must be a flat list of numbers")
    if len(data) != math.prod(shape):
        raise GoldenFileError(f"{where}.data",
                              f"has {len(data)} values, shape {shape} needs {math.prod(shape)}")
    return GoldenTensor(str(datatype), tuple(shape), tuple(data))


def _tensors(raw: Any, where: str) -> dict[str, GoldenTensor]:
    if not isinstance(raw, Mapping) or not raw:
        raise GoldenFileError(where, "must be a non-empty object of name -> tensor")
    return {str(name): _tensor(value, f"{where}[{name!r}]") for name, value in raw.items()}


def parse_golden(payload: Any, source: str) -> GoldenSet:
    """Check and convert the decoded JSON of a golden file.

    Args:
        payload: The decoded JSON.
        source: Where it came from, for error messages.

    Raises:
        GoldenFileError: Naming the field at fault.
    """
    if not isinstance(payload, Mapping):
        raise GoldenFileError(source, "must hold a JSON object")
    model, version = payload.get("model"), payload.get("version")
    if not isinstance(model, str) or not model:
        raise GoldenFileError(f"{source}: model", f"must be a model name, got {model!r}")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise GoldenFileError(f"{source}: version", f"must be an int >= 1, got {version!r}")
    tolerances = {}
    for key in ("rtol", "atol"):
        value = payload.get(key, 1e-5 if key == "rtol" else 1e-6)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise GoldenFileError(f"{source}: {key}", f"must be a number >= 0, got {value!r}")
        tolerances[key] = float(value)
    raw_cases = payload.get("cases")
    if not isinstance(raw_cases, list) or not raw_cases:
        raise GoldenFileError(f"{source}: cases", "must be a non-empty list")
    cases = []
    for index, raw in enumerate(raw_cases):
        where = f"{source}: cases[{index}]"
        if not isinstance(raw, Mapping):
            raise GoldenFileError(where, "must be an object")
        cases.append(GoldenCase(
            name=str(raw.get("name", f"case {index}")),
            inputs=_tensors(raw.get("inputs"), f"{where}.inputs"),
            outputs=_tensors(raw.get("outputs"), f"{where}.outputs"),
        ))
    return GoldenSet(model, version, tuple(cases), tolerances["rtol"], tolerances["atol"])


def load_golden(path: Path) -> GoldenSet:
    """Read and check a golden file.

    Raises:
        GoldenFileError: The file is missing, is not JSON, or a field is wrong.
    """
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise GoldenFileError(str(path), "no golden file: the smoke check needs one") from error
    except (OSError, ValueError) as error:
        raise GoldenFileError(str(path), f"cannot be read as JSON: {error}") from error
    return parse_golden(payload, str(path))


def _as_json(golden: GoldenSet) -> dict[str, Any]:
    def tensors(items: Mapping[str, GoldenTensor]) -> dict[str, Any]:
        return {
            name: {"datatype": t.datatype, "shape": list(t.shape), "data": list(t.data)}
            for name, t in sorted(items.items())
        }

    return {
        "model": golden.model,
        "version": golden.version,
        "rtol": golden.rtol,
        "atol": golden.atol,
        "cases": [
            {"name": c.name, "inputs": tensors(c.inputs), "outputs": tensors(c.outputs)}
            for c in golden.cases
        ],
    }


def write_golden(path: Path, golden: GoldenSet) -> None:
    """Write a golden file atomically and deterministically (sorted names, one layout)."""
    write_text_atomic(Path(path), json.dumps(_as_json(golden), indent=1) + "\n")


def compare_outputs(
    golden: GoldenSet, case: GoldenCase, actual: Mapping[str, npt.NDArray[Any]]
) -> Sequence[str]:
    """Compare a server's outputs with a case's expected outputs.

    Args:
        golden: The set the case belongs to (for its tolerances).
        case: The case.
        actual: Output name -> array returned by the server.

    Returns:
        One message per difference (empty when everything matches).
    """
    problems: list[str] = []
    for name, expected_tensor in sorted(case.outputs.items()):
        expected = expected_tensor.to_numpy()
        got = actual.get(name)
        label = f"case {case.name!r} output {name!r}"
        if got is None:
            problems.append(f"{label}: missing from the response")
            continue
        if tuple(got.shape) != expected.shape:
            problems.append(f"{label}: shape {list(got.shape)}, expected {list(expected.shape)}")
            continue
        if expected_tensor.datatype in _FLOAT_TYPES:
            close = np.isclose(got, expected, rtol=golden.rtol, atol=golden.atol)
        else:
            close = np.asarray(got) == expected
        if not bool(np.all(close)):
            first = int(np.argmin(close.reshape(-1)))
            problems.append(
                f"{label}: {int(np.size(close) - np.count_nonzero(close))} value(s) differ; "
                f"first at flat index {first}: got {got.reshape(-1)[first]!r}, "
                f"expected {expected.reshape(-1)[first]!r}"
            )
    return problems
