"""Implicit sequence state and its initial value, as the sequence batcher sets them up.

Mirrors ``SequenceBatchScheduler::Create`` and ``GenerateInitialStateData``
(``sequence_batch_scheduler/sequence_batch_scheduler.cc``): at most one
``initial_state`` per state, with a name, the state's data type and rank, concrete
dims matching the state's, and data from ``zero_data`` or a ``data_file`` in the
model's ``initial_state/`` folder holding enough bytes.
"""

from __future__ import annotations

from math import prod

from tritonclient.grpc import model_config_pb2 as mc

from generator.validation.artifacts import ModelArtifacts
from generator.validation.reporter import Reporter
from generator.validation.tensor_types import WILDCARD_DIM, byte_width, type_name
from generator.validation.tensor_types import fmt_dims as _fmt

__all__ = ["INITIAL_STATE_FOLDER", "check_initial_state_files", "check_sequence_state"]

INITIAL_STATE_FOLDER = "initial_state"


def check_sequence_state(config: mc.ModelConfig, r: Reporter) -> None:
    """Check every ``sequence_batching.state`` and its ``initial_state``.

    Args:
        config: The config.
        r: Where issues go.
    """
    seen: dict[str, int] = {}
    for i, state in enumerate(config.sequence_batching.state):
        prefix = f"sequence_batching.state[{i}]"
        label = f"state {state.input_name!r}"
        count = len(state.initial_state)
        if count > 1:
            r.error(f"{prefix}.initial_state", "initial-state-count",
                    f"{label} has {count} initial_state entries; at most one is allowed")
        if count != 1:
            continue
        if state.input_name in seen:
            r.error(f"{prefix}.input_name", "state-input-repeated",
                    f"{label} is declared again (first at state[{seen[state.input_name]}])")
        seen.setdefault(str(state.input_name), i)
        _check_initial(state, state.initial_state[0], f"{prefix}.initial_state[0]", label, r)


def _check_initial(
    state: mc.ModelSequenceBatching.State, initial: mc.ModelSequenceBatching.InitialState,
    field: str, label: str, r: Reporter,
) -> None:
    if initial.data_type != state.data_type:
        r.error(f"{field}.data_type", "initial-state-data-type-mismatch",
                f"{label} initial_state is {type_name(initial.data_type)} but the state is "
                f"{type_name(state.data_type)}")
    if not initial.name:
        r.error(f"{field}.name", "initial-state-no-name",
                f"{label} initial_state has no name; Triton requires one")
    if initial.WhichOneof("state_data") is None:
        r.error(field, "initial-state-no-data",
                f"{label} initial_state sets neither zero_data nor data_file")
    given, declared = list(initial.dims), list(state.dims)
    if len(given) != len(declared):
        r.error(f"{field}.dims", "initial-state-dims-mismatch",
                f"{label} initial_state dims {_fmt(given)} have {len(given)} dimensions but "
                f"the state has {len(declared)} ({_fmt(declared)})")
        return
    for k, (g, d) in enumerate(zip(given, declared, strict=True)):
        if g == WILDCARD_DIM:
            r.error(f"{field}.dims[{k}]", "initial-state-dims-mismatch",
                    f"{label} initial_state dims {_fmt(given)} must be concrete (no -1)")
            return
        if d != WILDCARD_DIM and g != d:
            r.error(f"{field}.dims[{k}]", "initial-state-dims-mismatch",
                    f"{label} initial_state dims {_fmt(given)} do not match the state's "
                    f"{_fmt(declared)}")
            return


def check_initial_state_files(artifacts: ModelArtifacts, r: Reporter) -> None:
    """Every initial-state ``data_file`` is in ``initial_state/`` and holds enough bytes.

    Args:
        artifacts: The model folder.
        r: Where issues go.
    """
    for i, state in enumerate(artifacts.config.sequence_batching.state):
        if len(state.initial_state) != 1:
            continue
        initial = state.initial_state[0]
        if initial.WhichOneof("state_data") != "data_file":
            continue
        field = f"sequence_batching.state[{i}].initial_state[0].data_file"
        key = f"{INITIAL_STATE_FOLDER}/{initial.data_file}"
        path = artifacts.files.get(key)
        if path is None:
            r.error(field, "initial-state-file-missing",
                    f"state {state.input_name!r} reads initial data from {key!r}, which is not "
                    "in the model folder; Triton fails the load")
            continue
        width = byte_width(initial.data_type)
        if width is None or any(d < 1 for d in initial.dims):
            continue
        needed = int(prod(initial.dims)) * width
        try:
            actual = path.stat().st_size
        except OSError:
            continue
        if actual < needed:
            r.error(field, "initial-state-file-too-small",
                    f"state {state.input_name!r} initial data needs {needed} bytes but {key!r} "
                    f"has {actual}")
