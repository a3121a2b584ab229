"""Checks that need only the config itself (no files, no other models).

They mirror Triton core's ``ValidateModelConfig``, ``ValidateInstanceGroup`` and
``ValidateModelInput``/``ValidateModelOutput`` (``model_config_utils.cc``) plus a few
things Triton accepts silently but that are almost always mistakes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from tritonclient.grpc import model_config_pb2 as mc

from generator.layout import (
    ENSEMBLE_PLATFORM,
    KNOWN_BACKENDS,
    PLATFORM_BACKENDS,
    is_ensemble,
    is_tensorrt,
    model_name_problem,
)
from generator.validation.batcher_stall import check_batcher_stall
from generator.validation.instance_groups import check_instance_groups
from generator.validation.model_metrics import check_model_metrics
from generator.validation.reporter import Reporter
from generator.validation.sequence_controls import check_sequence_controls
from generator.validation.sequence_state import check_sequence_state
from generator.validation.tensor_types import WILDCARD_DIM, dims_problem, type_name
from generator.validation.tensor_types import fmt_dims as _fmt
from generator.validation.warmup import check_warmup

__all__ = ["check_config", "dims_problem", "type_name"]


def check_config(config: mc.ModelConfig, directory_name: str, r: Reporter) -> None:
    """Run every config-only check.

    Args:
        config: The config to check.
        directory_name: The model folder's name (``""`` if not known yet).
        r: Where issues go.
    """
    _check_name(config, directory_name, r)
    _check_platform(config, r)
    _check_max_batch_size(config, r)
    _check_dynamic_batching(config, r)
    check_batcher_stall(config, r)
    _check_sequence_batching(config, r)
    check_sequence_controls(config, r)
    check_sequence_state(config, r)
    check_instance_groups(config, r)
    _check_io(config, r)
    _check_batch_io(config, r)
    check_warmup(config, r)
    _check_misc(config, r)
    _check_accelerators(config, r)
    check_model_metrics(config, r)


def _check_name(config: mc.ModelConfig, directory_name: str, r: Reporter) -> None:
    name: str = config.name
    if name:
        problem = model_name_problem(name)
        if problem:
            r.error("name", "invalid-model-name", f"model name {name!r} {problem}")
    if directory_name:
        problem = model_name_problem(directory_name)
        if problem:
            r.error("", "invalid-model-name", f"model folder name {directory_name!r} {problem}")
        elif name and name != directory_name:
            r.error(
                "name",
                "name-mismatch",
                f"config name {name!r} differs from its folder name {directory_name!r}; "
                "Triton requires them to be equal (or the name to be left empty)",
            )


def _check_platform(config: mc.ModelConfig, r: Reporter) -> None:
    platform: str = config.platform
    backend: str = config.backend
    if platform == ENSEMBLE_PLATFORM:
        if backend:
            r.error(
                "backend",
                "ensemble-backend-set",
                f"ensemble must have platform 'ensemble' and no backend, got backend {backend!r}",
            )
        batcher = config.WhichOneof("scheduling_choice")
        if batcher in ("dynamic_batching", "sequence_batching"):
            r.error(
                batcher,
                "ensemble-batcher-set",
                f"an ensemble cannot set {batcher}: it shares a protobuf oneof with "
                "ensemble_scheduling, so the ensemble loses its steps; set the batcher on "
                "the step models",
            )
        elif not config.HasField("ensemble_scheduling"):
            r.error(
                "ensemble_scheduling",
                "ensemble-scheduling-missing",
                "platform 'ensemble' requires an ensemble_scheduling section",
            )
        return
    if config.HasField("ensemble_scheduling"):
        r.error(
            "ensemble_scheduling",
            "ensemble-scheduling-not-ensemble",
            f"ensemble_scheduling is set but platform is {platform!r}, not 'ensemble'",
        )
    if platform == "custom":
        if backend:
            r.warning("platform", "platform-custom-legacy",
                      "platform 'custom' is legacy (Triton 1.x); the backend field decides")
        else:
            r.error("platform", "unknown-platform",
                    "platform 'custom' is from Triton 1.x and names no backend; Triton 2 "
                    "refuses it: set backend to the custom backend's name instead")
        return
    if platform and platform not in PLATFORM_BACKENDS and not backend:
        r.error(
            "platform",
            "unknown-platform",
            f"unknown platform {platform!r} and no backend; known platforms: "
            + ", ".join(repr(p) for p in sorted(PLATFORM_BACKENDS)),
        )
    expected = PLATFORM_BACKENDS.get(platform)
    if backend in KNOWN_BACKENDS and platform and expected != backend:
        wanted = f"backend {expected!r}" if expected else "a non-built-in backend"
        r.error(
            "backend",
            "platform-backend-mismatch",
            f"platform {platform!r} does not go with backend {backend!r} "
            f"(platform {platform!r} needs {wanted})",
        )


def _check_max_batch_size(config: mc.ModelConfig, r: Reporter) -> None:
    mbs = int(config.max_batch_size)
    if mbs < 0:
        r.error(
            "max_batch_size",
            "negative-max-batch-size",
            f"max_batch_size {mbs} is negative; use 0 for a non-batching model",
        )


def _check_dynamic_batching(config: mc.ModelConfig, r: Reporter) -> None:
    if not config.HasField("dynamic_batching"):
        return
    mbs = int(config.max_batch_size)
    db = config.dynamic_batching
    if is_ensemble(config):
        return
    if mbs == 0:
        r.warning(
            "dynamic_batching",
            "dynamic-batching-without-batching",
            "dynamic_batching has no effect because max_batch_size is 0 "
            "(the model does not batch)",
        )
    for i, size in enumerate(db.preferred_batch_size):
        field = f"dynamic_batching.preferred_batch_size[{i}]"
        if size <= 0:
            r.error(field, "preferred-batch-size-not-positive",
                    f"preferred batch size {size} must be positive")
        elif size > mbs:
            r.error(field, "preferred-batch-size-too-large",
                    f"preferred batch size {size} is larger than max_batch_size {mbs}")
    levels = int(db.priority_levels)
    default_level = int(db.default_priority_level)
    if levels != 0:
        if default_level < 1 or default_level > levels:
            r.error(
                "dynamic_batching.default_priority_level",
                "default-priority-out-of-range",
                f"default_priority_level {default_level} is outside [1, {levels}] "
                f"(priority_levels is {levels})",
            )
        for level in sorted(db.priority_queue_policy):
            if level < 1 or level > levels:
                r.error(
                    f"dynamic_batching.priority_queue_policy[{level}]",
                    "priority-queue-policy-out-of-range",
                    f"priority_queue_policy level {level} is outside [1, {levels}]",
                )
    elif default_level != 0:
        r.warning(
            "dynamic_batching.default_priority_level",
            "default-priority-without-levels",
            f"default_priority_level {default_level} is ignored because priority_levels is 0",
        )
    if db.preserve_ordering:
        if levels > 1:
            r.error(
                "dynamic_batching.preserve_ordering",
                "preserve-ordering-with-priorities",
                f"preserve_ordering allows only one priority level, priority_levels is {levels}",
            )
        policies = [("default_queue_policy", db.default_queue_policy)] + [
            (f"priority_queue_policy[{k}]", v) for k, v in sorted(db.priority_queue_policy.items())
        ]
        for name, policy in policies:
            if (policy.default_timeout_microseconds != 0
                    and policy.timeout_action == mc.ModelQueuePolicy.DELAY):
                r.error(
                    f"dynamic_batching.{name}.timeout_action",
                    "preserve-ordering-with-delay",
                    "timeout_action DELAY cannot be used when preserve_ordering is true",
                )


def _check_sequence_batching(config: mc.ModelConfig, r: Reporter) -> None:
    if not config.HasField("sequence_batching"):
        return
    sb = config.sequence_batching
    mbs = int(config.max_batch_size)
    if config.response_cache.enable:
        r.error(
            "response_cache.enable",
            "response-cache-with-sequence",
            "the response cache does not support sequence batching; disable the cache",
        )
    if sb.HasField("oldest"):
        for i, size in enumerate(sb.oldest.preferred_batch_size):
            field = f"sequence_batching.oldest.preferred_batch_size[{i}]"
            if size <= 0:
                r.error(field, "preferred-batch-size-not-positive",
                        f"preferred batch size {size} must be positive")
            elif size > mbs:
                r.error(field, "preferred-batch-size-too-large",
                        f"preferred batch size {size} is larger than max_batch_size {mbs}")
    if sb.HasField("direct"):
        util = float(sb.direct.minimum_slot_utilization)
        if util < 0.0 or util > 1.0:
            r.error(
                "sequence_batching.direct.minimum_slot_utilization",
                "slot-utilization-out-of-range",
                f"minimum_slot_utilization {util} is outside (0.0, 1.0]",
            )
    for i, state in enumerate(sb.state):
        bad = dims_problem(state.dims)
        if bad:
            r.error(
                f"sequence_batching.state[{i}].dims[{bad[0]}]",
                "invalid-dim",
                f"state {state.input_name!r} dimension {bad[1]} must be >= 1, or -1",
            )
        for k, initial in enumerate(state.initial_state):
            bad = dims_problem(initial.dims)
            if bad:
                r.error(
                    f"sequence_batching.state[{i}].initial_state[{k}].dims[{bad[0]}]",
                    "invalid-dim",
                    f"initial state {initial.name!r} dimension {bad[1]} must be >= 1, or -1",
                )


def _check_io_list(
    tensors: Sequence[mc.ModelInput] | Sequence[mc.ModelOutput],
    kind: str,
    config: mc.ModelConfig,
    r: Reporter,
) -> None:
    mbs = int(config.max_batch_size)
    for i, io in enumerate(tensors):
        prefix = f"{kind}[{i}]"
        name: str = io.name
        label = f"{kind} {name!r}"
        if not name:
            r.error(f"{prefix}.name", "missing-tensor-name", f"{kind} {i} has no name")
        if io.data_type == mc.TYPE_INVALID:
            r.error(f"{prefix}.data_type", "missing-data-type", f"{label} has no data_type")
        if len(io.dims) == 0 and not is_ensemble(config):
            r.error(f"{prefix}.dims", "missing-dims",
                    f"{label} has no dims (use [1] for one value per batch item)")
        bad = dims_problem(io.dims)
        if bad:
            r.error(
                f"{prefix}.dims[{bad[0]}]",
                "invalid-dim",
                f"{label} dimension {bad[1]} must be an integer >= 1, or -1 for a "
                f"variable-size dimension (dims {_fmt(io.dims)})",
            )
        if io.HasField("reshape"):
            _check_reshape(io, prefix, label, mbs, r)
        if io.is_shape_tensor and not is_tensorrt(config):
            r.error(f"{prefix}.is_shape_tensor", "shape-tensor-not-tensorrt",
                    f"{label} is a shape tensor, which only TensorRT models support")
        if io.is_non_linear_format_io and not is_tensorrt(config):
            r.error(f"{prefix}.is_non_linear_format_io", "non-linear-io-not-tensorrt",
                    f"{label} uses a non-linear IO format, which only TensorRT models support")
        elif io.is_non_linear_format_io and len(io.dims) != 3:
            r.error(f"{prefix}.dims", "non-linear-io-needs-3-dims",
                    f"{label} uses a non-linear IO format, which needs 3 dims, got "
                    f"{_fmt(io.dims)}")
    counts = Counter(str(io.name) for io in tensors if io.name)
    for name, count in counts.items():
        if count > 1:
            indexes = [i for i, io in enumerate(tensors) if io.name == name]
            r.warning(
                f"{kind}[{indexes[1]}].name",
                f"duplicate-{kind}-name",
                f"{kind} name {name!r} is used {count} times (at {kind}{indexes}); "
                "Triton loads the model but only one of them can be fed",
            )


def _element_trunks(dims: Sequence[int]) -> list[int]:
    trunks: list[int] = []
    current = 1
    for dim in dims:
        if dim == WILDCARD_DIM:
            trunks.append(current)
            current = 1
        else:
            current *= dim
    trunks.append(current)
    return trunks


def _check_reshape(
    io: mc.ModelInput | mc.ModelOutput, prefix: str, label: str, mbs: int, r: Reporter
) -> None:
    shape = list(io.reshape.shape)
    dims = list(io.dims)
    if not shape and mbs == 0:
        r.error(f"{prefix}.reshape", "empty-reshape-non-batching",
                f"{label} has an empty reshape, which a non-batching model cannot use "
                "(scalar tensors are not supported)")
        return
    bad = dims_problem(shape)
    if bad:
        r.error(
            f"{prefix}.reshape.shape[{bad[0]}]",
            "invalid-dim",
            f"{label} reshape dimension {bad[1]} must be an integer >= 1, or -1",
        )
        return
    if dims_problem(dims) or not dims:
        return
    if not shape:
        if _element_trunks(dims) != [1]:
            r.error(f"{prefix}.reshape", "reshape-size-mismatch",
                    f"{label} has an empty reshape but dims {_fmt(dims)} hold more than 1 element")
        return
    if _element_trunks(dims) != _element_trunks(shape):
        r.error(
            f"{prefix}.reshape.shape",
            "reshape-size-mismatch",
            f"{label} dims {_fmt(dims)} and reshape {_fmt(shape)} do not hold the same "
            "number of elements (between variable-size dimensions)",
        )


def _check_io(config: mc.ModelConfig, r: Reporter) -> None:
    _check_io_list(list(config.input), "input", config, r)
    _check_io_list(list(config.output), "output", config, r)
    for i, io in enumerate(config.input):
        if (io.format in (mc.ModelInput.FORMAT_NHWC, mc.ModelInput.FORMAT_NCHW)
                and len(io.dims) != 3):
            r.error(
                f"input[{i}].format",
                "format-needs-3-dims",
                f"input {io.name!r} has format {mc.ModelInput.Format.Name(io.format)} "
                f"which needs 3 dims, got {_fmt(io.dims)}",
            )


def _check_batch_io(config: mc.ModelConfig, r: Reporter) -> None:
    inputs = {str(io.name) for io in config.input}
    outputs = {str(io.name) for io in config.output}
    mbs = int(config.max_batch_size)
    for i, batch_input in enumerate(config.batch_input):
        field = f"batch_input[{i}]"
        if mbs == 0:
            r.warning(field, "batch-io-without-batching",
                      f"batch_input {batch_input.target_name!r} has no effect because "
                      "max_batch_size is 0")
        if len(batch_input.source_input) != 1:
            r.error(f"{field}.source_input", "batch-input-sources",
                    f"batch_input kind {mc.BatchInput.Kind.Name(batch_input.kind)} expects 1 "
                    f"source input, got {len(batch_input.source_input)}")
        if batch_input.data_type not in (mc.TYPE_INT32, mc.TYPE_FP32):
            r.error(f"{field}.data_type", "batch-input-data-type",
                    f"batch_input data type {type_name(batch_input.data_type)} must be "
                    "TYPE_INT32 or TYPE_FP32")
        for k, source in enumerate(batch_input.source_input):
            if source not in inputs:
                r.error(f"{field}.source_input[{k}]", "unknown-source-input",
                        f"batch_input source {source!r} is not an input of the model")
    for i, batch_output in enumerate(config.batch_output):
        field = f"batch_output[{i}]"
        if mbs == 0:
            r.warning(field, "batch-io-without-batching",
                      "batch_output has no effect because max_batch_size is 0")
        if len(batch_output.source_input) != 1:
            r.error(f"{field}.source_input", "batch-output-sources",
                    f"batch_output expects 1 source input, got {len(batch_output.source_input)}")
        for k, source in enumerate(batch_output.source_input):
            if source not in inputs:
                r.error(f"{field}.source_input[{k}]", "unknown-source-input",
                        f"batch_output source {source!r} is not an input of the model")
        seen: set[str] = set()
        for k, target in enumerate(batch_output.target_name):
            if target not in outputs:
                r.error(f"{field}.target_name[{k}]", "unknown-target-output",
                        f"batch_output target {target!r} is not an output of the model")
            if target in seen:
                r.error(f"{field}.target_name[{k}]", "duplicate-target-output",
                        f"batch_output target {target!r} is listed more than once")
            seen.add(target)


def _check_misc(config: mc.ModelConfig, r: Reporter) -> None:
    if config.model_transaction_policy.decoupled and config.response_cache.enable:
        r.error("response_cache.enable", "response-cache-with-decoupled",
                "the response cache does not support decoupled models; disable the cache")
    if is_ensemble(config) and config.HasField("optimization"):
        r.error("optimization", "ensemble-optimization",
                "optimization must not be set for an ensemble")


_MIB = 1 << 20


def _check_accelerators(config: mc.ModelConfig, r: Reporter) -> None:
    accelerators = config.optimization.execution_accelerators
    for kind in ("gpu_execution_accelerator", "cpu_execution_accelerator"):
        for i, accelerator in enumerate(getattr(accelerators, kind)):
            if "max_workspace_size_bytes" not in accelerator.parameters:
                continue
            field = (f"optimization.execution_accelerators.{kind}[{i}]"
                     ".parameters['max_workspace_size_bytes']")
            raw = accelerator.parameters["max_workspace_size_bytes"]
            if not raw.isdigit():
                r.error(field, "workspace-size-not-bytes",
                        f"max_workspace_size_bytes must be a whole number of bytes, got {raw!r}")
            elif int(raw) < _MIB:
                r.warning(field, "workspace-size-tiny",
                          f"max_workspace_size_bytes is {int(raw)} bytes (< 1 MiB); the value "
                          f"is in bytes, not MiB: 1 GiB is {1 << 30}")
