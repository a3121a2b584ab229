"""Shortcuts for the common models: ONNX Runtime, TensorRT plan, Python, ensemble.

Each preset returns a :class:`~generator.spec.ModelSpec` and accepts every
``ModelSpec`` field as a keyword, so a preset never limits what a spec can say::

    classifier = onnx_model(
        "image_diagnosis_classifier",
        model_file=ASSETS / "classifier.onnx",
        max_batch_size=32,
        dynamic_batching=DynamicBatching(max_queue_delay_microseconds=2000),
        instance_groups=[gpu_instances(count=2)],
    )

Inputs and outputs left out of an ONNX spec are read from the model file when
the repository is built.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from generator.errors import SpecError
from generator.layout import (
    ONNX_FILENAME,
    ONNXRUNTIME_PLATFORM,
    PLAN_FILENAME,
    PYTHON_BACKEND,
    PYTHON_FILENAME,
    TENSORRT_PLATFORM,
)
from generator.spec import (
    EnsembleScheduling,
    EnsembleStep,
    InstanceGroup,
    InstanceKind,
    ModelSpec,
)
from generator.spec.model import FileSource

__all__ = [
    "cpu_instances",
    "ensemble_model",
    "gpu_instances",
    "onnx_model",
    "python_model",
    "step",
    "tensorrt_model",
]

_SPEC_FIELDS = frozenset(f.name for f in dataclasses.fields(ModelSpec))


def _build(
    preset: str, name: str, defaults: Mapping[str, Any], overrides: Mapping[str, Any]
) -> ModelSpec:
    unknown = sorted(set(overrides) - _SPEC_FIELDS)
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, _SPEC_FIELDS, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise SpecError(
            f"{name}", f"{preset}() got unknown keyword argument(s): {', '.join(hints)}"
        )
    return ModelSpec(name=name, **{**defaults, **overrides})


def _version_files(
    name: str, filename: str, source: Path | FileSource, versions: Sequence[int]
) -> dict[int, dict[str, FileSource]]:
    if not versions:
        raise SpecError(f"{name}.versions", "give at least one version number")
    src = Path(source) if isinstance(source, (str, Path)) else source
    return {int(v): {filename: src} for v in versions}


def onnx_model(
    name: str, *, model_file: Path | str, versions: Sequence[int] = (1,), **fields: Any
) -> ModelSpec:
    """An ONNX Runtime model (``platform: onnxruntime_onnx``).

    Args:
        name: Model name.
        model_file: The ``.onnx`` file, copied to ``<version>/model.onnx``.
        versions: Version folders that receive the file.
        **fields: Any other :class:`ModelSpec` field.
    """
    defaults = {
        "platform": ONNXRUNTIME_PLATFORM,
        "versions": _version_files(name, ONNX_FILENAME, Path(model_file), versions),
    }
    return _build("onnx_model", name, defaults, fields)


def tensorrt_model(
    name: str,
    *,
    plan_file: Path | str,
    onnx_source: Path | str | None = None,
    versions: Sequence[int] = (1,),
    **fields: Any,
) -> ModelSpec:
    """A TensorRT engine (``platform: tensorrt_plan``); it needs GPU instances.

    Args:
        name: Model name.
        plan_file: The serialised engine, copied to ``<version>/model.plan``.
        onnx_source: The ONNX file the plan was built from, kept beside it as
            ``<version>/model.onnx`` so a CPU-only server can fall back to it.
        versions: Version folders that receive the files.
        **fields: Any other :class:`ModelSpec` field.
    """
    version_files = _version_files(name, PLAN_FILENAME, Path(plan_file), versions)
    if onnx_source is not None:
        for files in version_files.values():
            files[ONNX_FILENAME] = Path(onnx_source)
    defaults: dict[str, Any] = {
        "platform": TENSORRT_PLATFORM,
        "versions": version_files,
        "instance_groups": (gpu_instances(),),
    }
    return _build("tensorrt_model", name, defaults, fields)


def python_model(
    name: str, *, source: str | FileSource, versions: Sequence[int] = (1,), **fields: Any
) -> ModelSpec:
    """A python-backend model (``backend: python``).

    Args:
        name: Model name.
        source: The ``model.py`` file to copy, a :class:`~generator.spec.Template`
            rendered into ``<version>/model.py``, or :class:`~generator.spec.Text`.
        versions: Version folders that receive it.
        **fields: Any other :class:`ModelSpec` field.
    """
    src: FileSource = Path(source) if isinstance(source, str) else source
    defaults = {
        "backend": PYTHON_BACKEND,
        "versions": _version_files(name, PYTHON_FILENAME, src, versions),
    }
    return _build("python_model", name, defaults, fields)


def ensemble_model(name: str, *, steps: Sequence[EnsembleStep], **fields: Any) -> ModelSpec:
    """An ensemble (``platform: ensemble``) running ``steps`` in data-flow order.

    Args:
        name: Model name.
        steps: The steps; see :func:`step`.
        **fields: Any other :class:`ModelSpec` field.
    """
    defaults = {
        "platform": "ensemble",
        "ensemble_scheduling": EnsembleScheduling(step=tuple(steps)),
    }
    return _build("ensemble_model", name, defaults, fields)


def step(
    model_name: str,
    *,
    inputs: Mapping[str, str],
    outputs: Mapping[str, str],
    model_version: int = -1,
) -> EnsembleStep:
    """One ensemble step.

    Args:
        model_name: The model to run.
        inputs: Step model input -> ensemble tensor.
        outputs: Step model output -> ensemble tensor.
        model_version: Version to run; -1 is the latest.
    """
    return EnsembleStep(
        model_name=model_name,
        model_version=model_version,
        input_map=dict(inputs),
        output_map=dict(outputs),
    )


def gpu_instances(count: int = 1, gpus: Sequence[int] = ()) -> InstanceGroup:
    """An instance group of ``count`` instances on each listed GPU (all GPUs when empty)."""
    return InstanceGroup(kind=InstanceKind.GPU, count=count, gpus=tuple(gpus))


def cpu_instances(count: int = 1) -> InstanceGroup:
    """An instance group of ``count`` CPU instances."""
    return InstanceGroup(kind=InstanceKind.CPU, count=count)
