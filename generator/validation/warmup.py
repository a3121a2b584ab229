"""Warm-up samples, as ``TritonModelInstance::GenerateWarmupData`` builds them.

(``backend_model_instance.cc``.) A sample with ``batch_size`` 0 (the default) is
skipped; every input of a sample needs one of ``zero_data``, ``random_data`` or
``input_data_file`` (a file in the model's ``warmup/`` folder, at least as large as
the tensor); names that are not model inputs are passed as override (control)
inputs; and a failed warm-up request fails the model load.
"""

from __future__ import annotations

from math import prod

from tritonclient.grpc import model_config_pb2 as mc

from generator.layout import is_ensemble
from generator.validation.artifacts import ModelArtifacts
from generator.validation.reporter import Reporter
from generator.validation.tensor_types import WILDCARD_DIM, byte_width, dims_problem, type_name
from generator.validation.tensor_types import fmt_dims as _fmt

__all__ = ["WARMUP_FOLDER", "check_warmup", "check_warmup_files"]

WARMUP_FOLDER = "warmup"

def _label(warmup: mc.ModelWarmup, index: int) -> str:
    return f"warm-up {warmup.name!r}" if warmup.name else f"warm-up {index}"


def _control_names(config: mc.ModelConfig) -> set[str]:
    names = {str(c.name) for c in config.sequence_batching.control_input}
    names.update(str(s.input_name) for s in config.sequence_batching.state)
    return names


def check_warmup(config: mc.ModelConfig, r: Reporter) -> None:
    """Check every ``model_warmup`` sample against the model's inputs.

    Args:
        config: The config.
        r: Where issues go.
    """
    if len(config.model_warmup) and is_ensemble(config):
        r.error("model_warmup", "ensemble-warmup", "model_warmup must not be set for an ensemble")
        return
    inputs = {str(io.name): io for io in config.input}
    controls = _control_names(config)
    mbs = int(config.max_batch_size)
    for i, warmup in enumerate(config.model_warmup):
        prefix = f"model_warmup[{i}]"
        label = _label(warmup, i)
        if warmup.batch_size == 0:
            r.warning(f"{prefix}.batch_size", "warmup-batch-zero",
                      f"{label} has batch_size 0 (the default when left out), so Triton skips "
                      "it; set batch_size: 1")
            continue
        if warmup.batch_size > max(mbs, 1):
            r.error(f"{prefix}.batch_size", "warmup-batch-too-large",
                    f"{label} batch_size {warmup.batch_size} is larger than max_batch_size "
                    f"{mbs}")
        for name in sorted(warmup.inputs):
            _check_input(warmup.inputs[name], name, inputs, controls, mbs,
                         f"{prefix}.inputs[{name}]", label, r)
        for name in inputs:
            if name not in warmup.inputs and not inputs[name].optional:
                r.warning(f"{prefix}.inputs", "warmup-input-missing",
                          f"{label} gives no data for required input {name!r}")


def _check_input(
    spec: mc.ModelWarmup.Input, name: str, inputs: dict[str, mc.ModelInput], controls: set[str],
    mbs: int, field: str, label: str, r: Reporter,
) -> None:
    if spec.WhichOneof("input_data_type") is None:
        r.error(field, "warmup-input-no-data",
                f"{label} input {name!r} sets none of zero_data, random_data or "
                "input_data_file; Triton refuses the sample")
    bad = dims_problem(spec.dims)
    if bad:
        r.error(f"{field}.dims[{bad[0]}]", "invalid-dim",
                f"{label} input {name!r} dimension {bad[1]} must be >= 1, or -1")
    if any(d == WILDCARD_DIM for d in spec.dims):
        r.error(f"{field}.dims", "warmup-dims-not-concrete",
                f"{label} input {name!r} dims {_fmt(spec.dims)} must be concrete "
                "(no -1): warm-up data needs a real shape")
    target = inputs.get(name)
    if target is None:
        if inputs and name not in controls:
            known = ", ".join(repr(n) for n in inputs)
            r.error(field, "warmup-unknown-input",
                    f"{label} names input {name!r}, which the model does not have; "
                    f"inputs: {known}")
        return
    if spec.data_type != target.data_type:
        r.error(f"{field}.data_type", "warmup-data-type-mismatch",
                f"{label} input {name!r} has data type {type_name(spec.data_type)} "
                f"but the input is {type_name(target.data_type)}")
    _check_dims(list(spec.dims), list(target.dims), mbs, f"{field}.dims", label, name, r)


def _check_dims(
    given: list[int], expected: list[int], mbs: int, field: str, label: str, name: str,
    r: Reporter,
) -> None:
    if not expected or dims_problem(given) or dims_problem(expected):
        return
    matches = len(given) == len(expected) and all(
        e == WILDCARD_DIM or g == e for g, e in zip(given, expected, strict=True)
    )
    if matches:
        return
    hint = ""
    if mbs > 0 and len(given) == len(expected) + 1:
        hint = " (warm-up dims must leave out the batch dimension; set batch_size instead)"
    r.error(field, "warmup-dims-mismatch",
            f"{label} input {name!r} dims {_fmt(given)} do not match the input's dims "
            f"{_fmt(expected)}{hint}")


def check_warmup_files(artifacts: ModelArtifacts, r: Reporter) -> None:
    """Every ``input_data_file`` exists in ``warmup/`` and holds enough bytes.

    Args:
        artifacts: The model folder.
        r: Where issues go.
    """
    for i, warmup in enumerate(artifacts.config.model_warmup):
        if warmup.batch_size == 0:
            continue
        for name in sorted(warmup.inputs):
            spec = warmup.inputs[name]
            if spec.WhichOneof("input_data_type") != "input_data_file":
                continue
            field = f"model_warmup[{i}].inputs[{name}].input_data_file"
            key = f"{WARMUP_FOLDER}/{spec.input_data_file}"
            path = artifacts.files.get(key)
            if path is None:
                r.error(field, "warmup-data-file-missing",
                        f"{_label(warmup, i)} input {name!r} reads {key!r}, which is not in the "
                        "model folder; Triton fails the load")
                continue
            size = _expected_bytes(spec)
            if size is None:
                continue
            try:
                actual = path.stat().st_size
            except OSError:
                continue
            if actual < size:
                r.error(field, "warmup-data-file-too-small",
                        f"{_label(warmup, i)} input {name!r} needs {size} bytes "
                        f"({type_name(spec.data_type)} x {_fmt(spec.dims)}) but {key!r} has "
                        f"{actual}")


def _expected_bytes(spec: mc.ModelWarmup.Input) -> int | None:
    width = byte_width(spec.data_type)
    if width is None or any(d < 1 for d in spec.dims):
        return None  # strings take the file as it is; -1 is reported elsewhere
    return int(prod(spec.dims)) * width
