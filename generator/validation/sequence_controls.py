"""Sequence-batching control tensors, as Triton core checks them at load time.

Mirrors ``GetBooleanSequenceControlProperties`` (START, END, READY) and
``GetTypedSequenceControlProperties`` (CORRID), both called from
``ValidateModelConfig`` in ``model_config_utils.cc``.
"""

from __future__ import annotations

from tritonclient.grpc import model_config_pb2 as mc

from generator.validation.reporter import Reporter
from generator.validation.tensor_types import type_name

__all__ = ["check_sequence_controls"]

_Control = mc.ModelSequenceBatching.Control
_BOOLEAN_KINDS = (
    _Control.CONTROL_SEQUENCE_START,
    _Control.CONTROL_SEQUENCE_END,
    _Control.CONTROL_SEQUENCE_READY,
)
_VALUE_FIELDS = ("int32_false_true", "fp32_false_true", "bool_false_true")
_CORRID_TYPES = (mc.TYPE_UINT64, mc.TYPE_INT64, mc.TYPE_UINT32, mc.TYPE_INT32, mc.TYPE_STRING)


def _kind(kind: int) -> str:
    return str(_Control.Kind.Name(kind))


def check_sequence_controls(config: mc.ModelConfig, r: Reporter) -> None:
    """Check every ``sequence_batching.control_input`` of ``config``.

    Args:
        config: The config (nothing is checked without ``sequence_batching``).
        r: Where issues go.
    """
    if not config.HasField("sequence_batching"):
        return
    seen_names: dict[str, int] = {}
    first_of_kind: dict[int, str] = {}
    for i, control_input in enumerate(config.sequence_batching.control_input):
        prefix = f"sequence_batching.control_input[{i}]"
        name = str(control_input.name)
        if not name:
            r.error(f"{prefix}.name", "control-input-no-name",
                    f"control input {i} has no name; every control tensor needs one")
        elif name in seen_names:
            r.error(f"{prefix}.name", "control-input-duplicate-name",
                    f"control tensor {name!r} is declared again (first at control_input"
                    f"[{seen_names[name]}]); one tensor can carry one control kind only")
        else:
            seen_names[name] = i
        for j, control in enumerate(control_input.control):
            field = f"{prefix}.control[{j}]"
            kind = int(control.kind)
            if kind in first_of_kind:
                r.error(f"{field}.kind", "control-kind-repeated",
                        f"{_kind(kind)} is given twice (tensor {first_of_kind[kind]!r} and "
                        f"tensor {name!r}); each control kind may appear once")
            else:
                first_of_kind[kind] = name
            if kind in _BOOLEAN_KINDS:
                _check_boolean(control, field, name, r)
            elif kind == _Control.CONTROL_SEQUENCE_CORRID:
                _check_corrid(control, field, name, r)


def _check_boolean(control: mc.ModelSequenceBatching.Control, field: str, name: str,
                   r: Reporter) -> None:
    given = [f for f in _VALUE_FIELDS if len(getattr(control, f)) > 0]
    kind = _kind(control.kind)
    if not given:
        r.error(field, "control-value-missing",
                f"{kind} control {name!r} gives no false/true values; set exactly one of "
                "int32_false_true, fp32_false_true or bool_false_true")
        return
    if len(given) > 1:
        r.error(field, "control-value-ambiguous",
                f"{kind} control {name!r} sets {' and '.join(given)}; set exactly one")
        return
    count = len(getattr(control, given[0]))
    if count != 2:
        r.error(f"{field}.{given[0]}", "control-value-count",
                f"{kind} control {name!r} {given[0]} has {count} entries; it needs exactly 2 "
                "(the false value, then the true value)")


def _check_corrid(control: mc.ModelSequenceBatching.Control, field: str, name: str,
                  r: Reporter) -> None:
    given = [f for f in _VALUE_FIELDS if len(getattr(control, f)) > 0]
    if given:
        r.error(f"{field}.{given[0]}", "corrid-values-set",
                f"CORRID control {name!r} sets {given[0]}; the correlation id is passed as "
                "it is, so false/true values are not allowed (set data_type instead)")
    if control.data_type not in _CORRID_TYPES:
        r.error(f"{field}.data_type", "corrid-data-type",
                f"CORRID control {name!r} has data type {type_name(control.data_type)}; "
                "allowed: TYPE_UINT64, TYPE_INT64, TYPE_UINT32, TYPE_INT32, TYPE_STRING")
