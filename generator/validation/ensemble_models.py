"""Ensemble checks that need the step models, as Triton runs them once the steps load.

Mirrors ``ValidateEnsembleConfig`` and ``ValidateTensorMapping``
(``ensemble_scheduler/ensemble_utils.cc``) and the version check of
``ModelRepositoryManager::CheckNode`` (``model_repository_manager.cc``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tritonclient.grpc import model_config_pb2 as mc

from generator.validation.reporter import Reporter
from generator.validation.tensor_types import dims_compatible, fmt_dims

__all__ = ["check_decoupled_branches", "check_step_batching", "check_step_shapes",
           "check_step_versions"]

LATEST_VERSION = -1


@dataclass(frozen=True)
class _Tensor:
    owner: str
    dims: tuple[int, ...]
    batching: bool

    @property
    def full_dims(self) -> tuple[int, ...]:
        return ((-1,) if self.batching else ()) + self.dims


def _field(index: int, part: str, key: str) -> str:
    return f"ensemble_scheduling.step[{index}].{part}[{key}]"


def check_step_batching(
    config: mc.ModelConfig, repository: Mapping[str, mc.ModelConfig], r: Reporter
) -> None:
    """A step model that batches must allow at least the ensemble's ``max_batch_size``."""
    ensemble_mbs = int(config.max_batch_size)
    for i, step in enumerate(config.ensemble_scheduling.step):
        step_config = repository.get(str(step.model_name))
        if step_config is None:
            continue
        step_mbs = int(step_config.max_batch_size)
        if step_mbs != 0 and step_mbs < ensemble_mbs:
            r.error("max_batch_size", "ensemble-batch-larger-than-step",
                    f"the ensemble allows max_batch_size {ensemble_mbs} but step {i} model "
                    f"{step.model_name!r} allows only {step_mbs}; lower the ensemble's "
                    "max_batch_size or raise the step's")


def check_step_shapes(
    config: mc.ModelConfig, repository: Mapping[str, mc.ModelConfig], r: Reporter
) -> None:
    """Every ensemble tensor has compatible shapes wherever it appears.

    Shapes agree when they match with ``-1`` as a wildcard, either as written or with
    the batch dimension added to batching models (a non-batching step may then take
    ``[-1, 3]`` where a batching one takes ``[3]``).
    """
    name = str(config.name) or "the ensemble"
    batching = int(config.max_batch_size) > 0
    seen: dict[str, _Tensor] = {}
    for io in list(config.input) + list(config.output):
        dims = io.reshape.shape if io.HasField("reshape") else io.dims
        if len(dims):
            seen.setdefault(str(io.name), _Tensor(f"ensemble {name!r}", tuple(dims), batching))
    for i, step in enumerate(config.ensemble_scheduling.step):
        model = str(step.model_name)
        step_config = repository.get(model)
        if step_config is None:
            continue
        step_batching = int(step_config.max_batch_size) > 0
        for part, mapping, tensors in (("input_map", step.input_map, step_config.input),
                                       ("output_map", step.output_map, step_config.output)):
            by_name = {str(t.name): t for t in tensors}
            for key in sorted(mapping):
                io = by_name.get(key)
                if io is None or not len(io.dims):
                    continue
                tensor_name = str(mapping[key])
                here = _Tensor(f"model {model!r}", tuple(io.dims), step_batching)
                known = seen.setdefault(tensor_name, here)
                if known is here or dims_compatible(known.dims, here.dims) or dims_compatible(
                        known.full_dims, here.full_dims):
                    continue
                r.error(_field(i, part, key), "ensemble-tensor-shape-conflict",
                        f"ensemble tensor {tensor_name!r} has inconsistent shapes: "
                        f"{fmt_dims(known.full_dims)} from {known.owner} but "
                        f"{fmt_dims(here.full_dims)} from {here.owner} (shapes include the "
                        "batch dimension of batching models)")


def check_step_versions(
    config: mc.ModelConfig, served: Mapping[str, Sequence[int]], r: Reporter
) -> None:
    """A step that pins ``model_version`` needs that version served by its model.

    Args:
        config: The ensemble.
        served: Model name -> versions it serves (see :func:`versions.served_versions`).
        r: Where issues go.
    """
    for i, step in enumerate(config.ensemble_scheduling.step):
        version = int(step.model_version)
        versions = served.get(str(step.model_name))
        if version == LATEST_VERSION or versions is None or version in versions:
            continue
        hint = " (0 is the default when model_version is left out; -1 means the latest)" if (
            version == 0) else ""
        r.error(f"ensemble_scheduling.step[{i}].model_version", "ensemble-step-version-not-served",
                f"step {i} pins version {version} of {step.model_name!r}, which serves only "
                f"versions {sorted(versions)} under its version policy{hint}")


def check_decoupled_branches(
    config: mc.ModelConfig, repository: Mapping[str, mc.ModelConfig], r: Reporter
) -> None:
    """No step may take inputs that come from different decoupled models.

    Follows Triton's walk: each tensor carries the label of the decoupled step that
    last produced it (or of its inputs); a step whose inputs carry different labels
    would have to join responses of independent streams, which Triton refuses.
    """
    steps = list(config.ensemble_scheduling.step)
    producers: dict[str, int] = {}
    for i, step in enumerate(steps):
        for tensor in step.output_map.values():
            producers.setdefault(str(tensor), i)
    labels: dict[str, int] = {str(io.name): 0 for io in config.input}
    step_labels: dict[int, int] = {}
    next_label = 0
    progress = True
    while progress:
        progress = False
        for i, step in enumerate(steps):
            if i in step_labels:
                continue
            inputs = [str(t) for t in step.input_map.values()]
            if not all(t in labels for t in inputs):
                continue
            found = sorted({labels[t] for t in inputs})
            if len(found) > 1:
                r.error(f"ensemble_scheduling.step[{i}].input_map", "ensemble-decoupled-join",
                        f"step {i} ({step.model_name!r}) receives inputs that come from "
                        "different decoupled models; Triton cannot join their response streams")
                return
            step_config = repository.get(str(step.model_name))
            if step_config is not None and step_config.model_transaction_policy.decoupled:
                next_label += 1
                label = next_label
            else:
                label = found[0] if found else 0
            step_labels[i] = label
            for tensor in step.output_map.values():
                labels.setdefault(str(tensor), label)
            progress = True
