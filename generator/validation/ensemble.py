"""Ensemble wiring checks, mirroring Triton's ``ValidateEnsembleSchedulingConfig`` and
``ensemble_utils.cc`` (tensor data-type consistency, step models present)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

from tritonclient.grpc import model_config_pb2 as mc

from generator.layout import is_ensemble
from generator.validation.ensemble_models import (
    check_decoupled_branches,
    check_step_batching,
    check_step_shapes,
    check_step_versions,
)
from generator.validation.reporter import Reporter
from generator.validation.tensor_types import type_name

__all__ = ["check_ensemble", "ensemble_model_cycles"]

_Node = TypeVar("_Node", bound=Hashable)


def _step_field(index: int, part: str, key: str) -> str:
    return f"ensemble_scheduling.step[{index}].{part}[{key}]"


def check_ensemble(
    config: mc.ModelConfig,
    r: Reporter,
    repository: Mapping[str, mc.ModelConfig] | None = None,
    served: Mapping[str, Sequence[int]] | None = None,
) -> None:
    """Check an ensemble's steps and data flow.

    Args:
        config: The ensemble's config (other configs are ignored).
        r: Where issues go.
        repository: Model name -> config of every model in the repository; enables
            the checks that need the step models.
        served: Model name -> versions it serves; enables the check of pinned
            ``model_version`` values.
    """
    if not config.HasField("ensemble_scheduling"):
        return
    steps = list(config.ensemble_scheduling.step)
    if not steps:
        r.error("ensemble_scheduling.step", "ensemble-no-steps", "the ensemble has no steps")
        return
    ensemble_inputs = [str(io.name) for io in config.input]
    ensemble_outputs = [str(io.name) for io in config.output]
    producers: dict[str, list[str]] = defaultdict(list)
    producer_step: dict[str, int] = {}
    consumers: dict[str, list[int]] = defaultdict(list)
    for name in ensemble_inputs:
        producers[name].append("the ensemble input")
    for i, step in enumerate(steps):
        label = f"step {i} ({step.model_name!r})" if step.model_name else f"step {i}"
        if not step.model_name:
            r.error(f"ensemble_scheduling.step[{i}].model_name", "ensemble-step-no-model",
                    f"step {i} does not name a model")
        if len(step.input_map) == 0:
            r.error(f"ensemble_scheduling.step[{i}].input_map", "ensemble-step-no-input-map",
                    f"{label} has an empty input_map")
        if len(step.output_map) == 0:
            r.error(f"ensemble_scheduling.step[{i}].output_map", "ensemble-step-no-output-map",
                    f"{label} has an empty output_map")
        for model_output in sorted(step.output_map):
            tensor = str(step.output_map[model_output])
            producers[tensor].append(label)
            producer_step.setdefault(tensor, i)
            if len(producers[tensor]) > 1:
                r.error(
                    _step_field(i, "output_map", model_output),
                    "ensemble-tensor-written-twice",
                    f"ensemble tensor {tensor!r} is written by "
                    + " and by ".join(producers[tensor])
                    + "; each tensor may be produced only once",
                )
        for model_input in sorted(step.input_map):
            consumers[str(step.input_map[model_input])].append(i)

    for k, name in enumerate(ensemble_inputs):
        if name not in consumers:
            r.error(f"input[{k}]", "ensemble-input-unused",
                    f"ensemble input {name!r} is not used by any step")
    for i, step in enumerate(steps):
        for model_input in sorted(step.input_map):
            tensor = str(step.input_map[model_input])
            if tensor not in producers:
                r.error(
                    _step_field(i, "input_map", model_input),
                    "ensemble-tensor-not-produced",
                    f"step {i} ({step.model_name!r}) reads ensemble tensor {tensor!r}, which is "
                    "neither an ensemble input nor written by any step",
                )
    for k, name in enumerate(ensemble_outputs):
        if name not in producers:
            r.error(f"output[{k}]", "ensemble-output-not-written",
                    f"ensemble output {name!r} is not written by any step")
    for tensor, step_index in sorted(producer_step.items()):
        if tensor not in consumers and tensor not in ensemble_outputs:
            r.error(
                f"ensemble_scheduling.step[{step_index}].output_map",
                "ensemble-tensor-unused",
                f"ensemble tensor {tensor!r} is written by step {step_index} but neither read "
                "by a step nor an ensemble output",
            )
    _check_step_cycles(steps, producer_step, r)
    if repository is not None:
        _check_against_repository(config, steps, repository, r)
        check_step_batching(config, repository, r)
        check_step_shapes(config, repository, r)
        check_decoupled_branches(config, repository, r)
    if served is not None:
        check_step_versions(config, served, r)


def _check_step_cycles(
    steps: list[mc.ModelEnsembling.Step], producer_step: dict[str, int], r: Reporter
) -> None:
    depends: dict[int, set[int]] = {i: set() for i in range(len(steps))}
    for i, step in enumerate(steps):
        for tensor in step.input_map.values():
            source = producer_step.get(str(tensor))
            if source is not None:
                depends[i].add(source)
    cycle = _find_cycle(depends)
    if cycle:
        names = " -> ".join(f"step {i} ({steps[i].model_name!r})" for i in cycle)
        r.error(f"ensemble_scheduling.step[{cycle[0]}]", "ensemble-cycle",
                f"ensemble steps depend on each other in a cycle: {names}; none of them can run")


def _find_cycle(graph: Mapping[_Node, set[_Node]]) -> list[_Node]:
    """Return one cycle (first node repeated at the end) of a directed graph, or []."""
    state: dict[_Node, int] = {}
    stack: list[_Node] = []

    def visit(node: _Node) -> list[_Node]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, set()), key=str):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph, key=str):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def _check_against_repository(
    config: mc.ModelConfig,
    steps: list[mc.ModelEnsembling.Step],
    repository: Mapping[str, mc.ModelConfig],
    r: Reporter,
) -> None:
    types: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for io in config.input:
        if io.data_type != mc.TYPE_INVALID:
            types[str(io.name)].append((int(io.data_type), "the ensemble input"))
    for io in config.output:
        if io.data_type != mc.TYPE_INVALID:
            types[str(io.name)].append((int(io.data_type), "the ensemble output"))
    for i, step in enumerate(steps):
        model_name = str(step.model_name)
        if not model_name:
            continue
        step_config = repository.get(model_name)
        if step_config is None:
            known = ", ".join(repr(n) for n in sorted(repository)) or "none"
            r.error(f"ensemble_scheduling.step[{i}].model_name", "ensemble-step-model-missing",
                    f"step {i} uses model {model_name!r}, which is not in the repository; "
                    f"models: {known}")
            continue
        step_inputs = {str(io.name): io for io in step_config.input}
        step_outputs = {str(io.name): io for io in step_config.output}
        for key in sorted(step.input_map):
            tensor = str(step.input_map[key])
            spec = step_inputs.get(key)
            if spec is None:
                if step_inputs:
                    r.error(_step_field(i, "input_map", key), "ensemble-step-unknown-input",
                            f"step {i} maps ensemble tensor {tensor!r} to input {key!r}, which "
                            f"model {model_name!r} does not have; its inputs: "
                            + ", ".join(repr(n) for n in step_inputs))
                continue
            types[tensor].append((int(spec.data_type), f"input {key!r} of model {model_name!r}"))
        for key in sorted(step.output_map):
            tensor = str(step.output_map[key])
            out_spec = step_outputs.get(key)
            if out_spec is None:
                if step_outputs:
                    r.error(_step_field(i, "output_map", key), "ensemble-step-unknown-output",
                            f"step {i} reads output {key!r}, which model {model_name!r} does "
                            "not have; its outputs: "
                            + ", ".join(repr(n) for n in step_outputs))
                continue
            types[tensor].append(
                (int(out_spec.data_type), f"output {key!r} of model {model_name!r}")
            )
        for name, spec in step_inputs.items():
            if name not in step.input_map and not spec.optional:
                r.error(f"ensemble_scheduling.step[{i}].input_map",
                        "ensemble-step-input-unmapped",
                        f"step {i} feeds nothing to input {name!r} of model {model_name!r}; "
                        "Triton refuses the ensemble unless the input is optional")
    for tensor, found in sorted(types.items()):
        distinct = {t for t, _ in found if t != mc.TYPE_INVALID}
        if len(distinct) > 1:
            first = found[0]
            other = next(f for f in found if f[0] != first[0])
            r.error("ensemble_scheduling", "ensemble-tensor-type-conflict",
                    f"ensemble tensor {tensor!r} has inconsistent data types: "
                    f"{type_name(first[0])} from {first[1]} but {type_name(other[0])} "
                    f"from {other[1]}")


def ensemble_model_cycles(configs: Mapping[str, mc.ModelConfig]) -> list[list[str]]:
    """Find ensembles that (indirectly) contain themselves.

    Args:
        configs: Model name -> config.

    Returns:
        One model-name cycle (first name repeated at the end), or an empty list.
    """
    graph: dict[str, set[str]] = {}
    for name, config in configs.items():
        if is_ensemble(config):
            graph[name] = {
                str(step.model_name)
                for step in config.ensemble_scheduling.step
                if step.model_name in configs and is_ensemble(configs[str(step.model_name)])
            }
    cycle = _find_cycle(graph)
    return [cycle] if cycle else []
