"""One case per config-only check: the faulty config is flagged, its fixed neighbour is not."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from generator.validation import Issue, ModelArtifacts, Severity, parse_config, validate_model

CheckFn = Callable[..., list[Issue]]

BASE_CONFIG = """
name: "m"
backend: "python"
max_batch_size: 8
input [ { name: "x" data_type: TYPE_FP32 dims: [ 3 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 3 ] } ]
instance_group [ { kind: KIND_CPU count: 1 } ]
"""


@dataclass(frozen=True)
class Case:
    code: str
    severity: Severity
    field: str
    bad: str
    good: str
    message_part: str


def _cfg(extra: str, base: str = BASE_CONFIG) -> str:
    return base + "\n" + extra


NO_BATCH = BASE_CONFIG.replace("max_batch_size: 8", "max_batch_size: 0")

CASES = [
    Case("preferred-batch-size-too-large", Severity.ERROR,
         "dynamic_batching.preferred_batch_size[1]",
         _cfg("dynamic_batching { preferred_batch_size: [ 4, 64 ] }"),
         _cfg("dynamic_batching { preferred_batch_size: [ 4, 8 ] }"),
         "preferred batch size 64 is larger than max_batch_size 8"),
    Case("name-mismatch", Severity.ERROR, "name",
         BASE_CONFIG.replace('name: "m"', 'name: "other"'),
         BASE_CONFIG.replace('name: "m"', ""),
         "'other' differs from its folder name 'm'"),
    Case("default-priority-out-of-range", Severity.ERROR,
         "dynamic_batching.default_priority_level",
         _cfg("dynamic_batching { priority_levels: 3 default_priority_level: 0 }"),
         _cfg("dynamic_batching { priority_levels: 0 default_priority_level: 0 }"),
         "default_priority_level 0 is outside [1, 3]"),
    Case("gpus-on-non-gpu-group", Severity.ERROR, "instance_group[0].gpus",
         BASE_CONFIG.replace("kind: KIND_CPU", "kind: KIND_CPU gpus: [ 0 ]"),
         BASE_CONFIG.replace("kind: KIND_CPU", "kind: KIND_GPU gpus: [ 0 ]"),
         "KIND_CPU but lists gpus [0]"),
    Case("invalid-dim", Severity.ERROR, "input[0].dims[1]",
         BASE_CONFIG.replace("dims: [ 3 ] } ]\noutput", "dims: [ 3, 0 ] } ]\noutput"),
         BASE_CONFIG.replace("dims: [ 3 ] } ]\noutput", "dims: [ 3, -1 ] } ]\noutput"),
         "dimension 0 must be an integer >= 1, or -1"),
    Case("invalid-dim", Severity.ERROR, "output[0].reshape.shape[0]",
         BASE_CONFIG.replace('dims: [ 3 ] } ]\ninstance', 'dims: [ 3 ] reshape { shape: [ -2 ] }'
                             ' } ]\ninstance'),
         BASE_CONFIG.replace('dims: [ 3 ] } ]\ninstance', 'dims: [ 3 ] reshape { shape: [ 3, 1 ] }'
                             ' } ]\ninstance'),
         "reshape dimension -2"),
    Case("dynamic-batching-without-batching", Severity.WARNING, "dynamic_batching",
         _cfg("dynamic_batching { }", NO_BATCH),
         _cfg("dynamic_batching { }"),
         "max_batch_size is 0"),
    Case("duplicate-input-name", Severity.WARNING, "input[1].name",
         BASE_CONFIG.replace("dims: [ 3 ] } ]\noutput",
                             'dims: [ 3 ] }, { name: "x" data_type: TYPE_FP32 dims: [ 1 ] } ]'
                             "\noutput"),
         BASE_CONFIG.replace("dims: [ 3 ] } ]\noutput",
                             'dims: [ 3 ] }, { name: "x2" data_type: TYPE_FP32 dims: [ 1 ] } ]'
                             "\noutput"),
         "input name 'x' is used 2 times"),
    Case("batch-io-without-batching", Severity.WARNING, "batch_input[0]",
         _cfg('batch_input [ { kind: BATCH_ELEMENT_COUNT target_name: "n" data_type: TYPE_INT32 '
              'source_input: "x" } ]', NO_BATCH),
         _cfg('batch_input [ { kind: BATCH_ELEMENT_COUNT target_name: "n" data_type: TYPE_INT32 '
              'source_input: "x" } ]'),
         "max_batch_size is 0"),
    Case("tensorrt-on-cpu", Severity.ERROR, "instance_group[0].kind",
         BASE_CONFIG.replace('backend: "python"', 'platform: "tensorrt_plan"'),
         BASE_CONFIG.replace('backend: "python"', 'platform: "tensorrt_plan"')
         .replace("KIND_CPU", "KIND_GPU"),
         "TensorRT plan runs only on GPU"),
    Case("platform-backend-mismatch", Severity.ERROR, "backend",
         BASE_CONFIG.replace('backend: "python"',
                             'platform: "onnxruntime_onnx" backend: "tensorrt"'),
         BASE_CONFIG.replace('backend: "python"',
                             'platform: "onnxruntime_onnx" backend: "onnxruntime"'),
         "platform 'onnxruntime_onnx' does not go with backend 'tensorrt'"),
    Case("platform-custom-legacy", Severity.WARNING, "platform",
         BASE_CONFIG.replace('backend: "python"', 'platform: "custom" backend: "python"'),
         BASE_CONFIG,
         "legacy"),
    Case("unknown-platform", Severity.ERROR, "platform",
         BASE_CONFIG.replace('backend: "python"', 'platform: "tensorrt"'),
         BASE_CONFIG.replace('backend: "python"', 'platform: "tensorrt" backend: "python"'),
         "unknown platform 'tensorrt'"),
    Case("negative-max-batch-size", Severity.ERROR, "max_batch_size",
         BASE_CONFIG.replace("max_batch_size: 8", "max_batch_size: -1"),
         NO_BATCH,
         "max_batch_size -1 is negative"),
    Case("negative-instance-count", Severity.ERROR, "instance_group[0].count",
         BASE_CONFIG.replace("count: 1", "count: -2"),
         BASE_CONFIG.replace("count: 1", "count: 2"),
         "count -2"),
    Case("warmup-unknown-input", Severity.ERROR, "model_warmup[0].inputs[z]",
         _cfg('model_warmup [ { name: "w" batch_size: 1 inputs { key: "z" value: '
              '{ data_type: TYPE_FP32 dims: [ 3 ] zero_data: true } } } ]'),
         _cfg('model_warmup [ { name: "w" batch_size: 1 inputs { key: "x" value: '
              '{ data_type: TYPE_FP32 dims: [ 3 ] zero_data: true } } } ]'),
         "names input 'z', which the model does not have; inputs: 'x'"),
    Case("warmup-data-type-mismatch", Severity.ERROR, "model_warmup[0].inputs[x].data_type",
         _cfg('model_warmup [ { name: "w" batch_size: 1 inputs { key: "x" value: '
              '{ data_type: TYPE_INT32 dims: [ 3 ] zero_data: true } } } ]'),
         _cfg('model_warmup [ { name: "w" batch_size: 1 inputs { key: "x" value: '
              '{ data_type: TYPE_FP32 dims: [ 3 ] zero_data: true } } } ]'),
         "TYPE_INT32 but the input is TYPE_FP32"),
    Case("warmup-dims-mismatch", Severity.ERROR, "model_warmup[0].inputs[x].dims",
         _cfg('model_warmup [ { name: "w" batch_size: 2 inputs { key: "x" value: '
              '{ data_type: TYPE_FP32 dims: [ 2, 3 ] zero_data: true } } } ]'),
         _cfg('model_warmup [ { name: "w" batch_size: 2 inputs { key: "x" value: '
              '{ data_type: TYPE_FP32 dims: [ 3 ] zero_data: true } } } ]'),
         "leave out the batch dimension"),
    Case("invalid-model-name", Severity.ERROR, "name",
         BASE_CONFIG.replace('name: "m"', 'name: "../m"'),
         BASE_CONFIG,
         "contains '/'"),
    Case("ensemble-instance-group", Severity.ERROR, "instance_group",
         'name: "m" platform: "ensemble" max_batch_size: 0\n'
         'input [ { name: "a" data_type: TYPE_FP32 dims: [ 1 ] } ]\n'
         'output [ { name: "b" data_type: TYPE_FP32 dims: [ 1 ] } ]\n'
         'instance_group [ { kind: KIND_CPU } ]\n'
         'ensemble_scheduling { step [ { model_name: "s" input_map { key: "i" value: "a" } '
         'output_map { key: "o" value: "b" } } ] }',
         'name: "m" platform: "ensemble" max_batch_size: 0\n'
         'input [ { name: "a" data_type: TYPE_FP32 dims: [ 1 ] } ]\n'
         'output [ { name: "b" data_type: TYPE_FP32 dims: [ 1 ] } ]\n'
         'ensemble_scheduling { step [ { model_name: "s" input_map { key: "i" value: "a" } '
         'output_map { key: "o" value: "b" } } ] }',
         "instance_group must not be set for an ensemble"),
    # The recommendation spec's dynamic_batching as shipped before issue 19, beside the same
    # batching without the queue policy (docs/stall.md: 500 ms stalls, 10x less throughput).
    Case("queue-policy-stalls-batcher", Severity.WARNING,
         "dynamic_batching.default_queue_policy.default_timeout_microseconds",
         _cfg("dynamic_batching { preferred_batch_size: [ 4, 8 ] "
              "max_queue_delay_microseconds: 1000 default_queue_policy { "
              "default_timeout_microseconds: 5000000 allow_timeout_override: true "
              "max_queue_size: 256 } }"),
         _cfg("dynamic_batching { preferred_batch_size: [ 4, 8 ] "
              "max_queue_delay_microseconds: 1000 }"),
         "default_timeout_microseconds 5000000, allow_timeout_override, max_queue_size 256 "
         "turns Triton 2.51's batch prefetching off"),
    Case("queue-policy-stalls-batcher", Severity.WARNING,
         "dynamic_batching.default_queue_policy.max_queue_size",
         _cfg("dynamic_batching { default_queue_policy { max_queue_size: 256 } }"),
         _cfg("dynamic_batching { default_queue_policy { timeout_action: DELAY } }"),
         "sleeps up to 500 ms"),
    Case("queue-policy-stalls-batcher", Severity.WARNING,
         "dynamic_batching.default_queue_policy.allow_timeout_override",
         _cfg("dynamic_batching { default_queue_policy { allow_timeout_override: true } }"),
         _cfg("dynamic_batching { }"),
         "Shed load at the balancer"),
    Case("queue-policy-stalls-batcher", Severity.WARNING, "dynamic_batching.priority_levels",
         _cfg("dynamic_batching { priority_levels: 2 default_priority_level: 1 }"),
         _cfg("dynamic_batching { priority_levels: 0 }"),
         "priority_levels 2"),
    Case("reshape-size-mismatch", Severity.ERROR, "input[0].reshape.shape",
         BASE_CONFIG.replace("dims: [ 3 ] } ]\noutput",
                             "dims: [ 3 ] reshape { shape: [ 2, 2 ] } } ]\noutput"),
         BASE_CONFIG.replace("dims: [ 3 ] } ]\noutput",
                             "dims: [ 3 ] reshape { shape: [ 3, 1 ] } } ]\noutput"),
         "dims [3] and reshape [2, 2]"),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.code}@{c.field}" for c in CASES])
def test_validate_model_flags_check_when_config_is_faulty_and_not_its_fixed_neighbour(
    check: CheckFn, case: Case
) -> None:
    bad = [i for i in check(case.bad) if i.code == case.code]
    assert bad, f"expected {case.code} in {check(case.bad)}"
    assert bad[0].severity is case.severity
    assert bad[0].field == case.field
    assert bad[0].model == "m"
    assert case.message_part in bad[0].message
    good = check(case.good)
    assert [i for i in good if i.code == case.code] == []


def test_validate_model_reports_nothing_when_python_model_is_well_formed(check: CheckFn) -> None:
    assert check(BASE_CONFIG) == []


def test_validate_model_accepts_default_priority_in_range_when_levels_are_set(
    check: CheckFn,
) -> None:
    issues = check(_cfg("dynamic_batching { priority_levels: 3 default_priority_level: 3 }"))
    assert [i.code for i in issues] == ["queue-policy-stalls-batcher"]


WORKSPACE = """
name: "m"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ {{ name: "x" data_type: TYPE_FP32 dims: [ 3 ] }} ]
output [ {{ name: "y" data_type: TYPE_FP32 dims: [ 3 ] }} ]
optimization {{ execution_accelerators {{ gpu_execution_accelerator [ {{
  name: "tensorrt" parameters {{ key: "max_workspace_size_bytes" value: "{value}" }}
}} ] }} }}
"""


@pytest.mark.parametrize(("value", "severity", "code"), [
    ("1024", "warning", "workspace-size-tiny"),
    ("1GB", "error", "workspace-size-not-bytes"),
])
def test_validate_model_flags_workspace_size_that_is_not_a_plausible_byte_count(
    value: str, severity: str, code: str
) -> None:
    config = parse_config(WORKSPACE.format(value=value))
    issues = [i for i in validate_model(ModelArtifacts(config, "m")) if i.code == code]
    assert [i.severity.value for i in issues] == [severity]
    assert issues[0].field.endswith(".parameters['max_workspace_size_bytes']")
    assert value in issues[0].message


def test_validate_model_accepts_workspace_size_of_one_gib() -> None:
    config = parse_config(WORKSPACE.format(value=str(1 << 30)))
    codes = {i.code for i in validate_model(ModelArtifacts(config, "m"))}
    assert not codes & {"workspace-size-tiny", "workspace-size-not-bytes"}


def test_shipped_repository_sets_nothing_that_stalls_the_batcher() -> None:
    from pathlib import Path

    from generator.validation import validate_repository

    repository = Path(__file__).resolve().parents[2] / "model_repository"
    issues = validate_repository(repository)
    assert [i for i in issues if i.code == "queue-policy-stalls-batcher"] == []
    assert (repository / "recommendation" / "config.pbtxt").is_file()
