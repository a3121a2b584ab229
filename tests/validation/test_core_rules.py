"""Near-miss cases for the rules read from Triton core: each faulty config beside a fixed one.

Every case names the check's code, severity and field; the faulty config must raise
it and its neighbour, one edit away, must not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pytest

from generator.validation import Issue, Severity

CheckFn = Callable[..., list[Issue]]

BASE = """
name: "m"
backend: "python"
max_batch_size: 8
input [ { name: "x" data_type: TYPE_FP32 dims: [ 3 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 3 ] } ]
instance_group [ { kind: KIND_CPU count: 1 } ]
"""
TRT = BASE.replace('backend: "python"', 'platform: "tensorrt_plan"').replace(
    "KIND_CPU", "KIND_GPU")
PLAN = {"1/model.plan": b"plan"}


def _seq(controls: str) -> str:
    return BASE + "sequence_batching { control_input [ " + controls + " ] }"


def _warmup(data: str, *, batch: str = "batch_size: 1", name: str = "x") -> str:
    return (f'\nmodel_warmup [ {{ name: "w" {batch} inputs {{ key: "{name}" value: '
            f"{{ data_type: TYPE_FP32 dims: [ 3 ] {data} }} }} }} ]")


INITIAL = '{ name: "init" data_type: TYPE_INT32 dims: [ 2 ] %s }'


def _state(initial: str) -> str:
    return BASE + ('sequence_batching { state [ { input_name: "IN_STATE" output_name: '
                   '"OUT_STATE" data_type: TYPE_INT32 dims: [ 2 ] initial_state [ '
                   + initial + " ] } ] }")


START = '{ name: "START" control [ { kind: CONTROL_SEQUENCE_START %s } ] }'
BOOL_OK = "int32_false_true: [ 0, 1 ]"


@dataclass(frozen=True)
class Case:
    code: str
    severity: Severity
    field: str
    bad: str
    good: str
    message_part: str
    files: Mapping[str, str | bytes] | None = None
    good_files: Mapping[str, str | bytes] | None = None
    directory: str = "m"
    versions: tuple[int, ...] = ()


CASES = [
    # GetBooleanSequenceControlProperties / GetTypedSequenceControlProperties
    Case("control-input-no-name", Severity.ERROR, "sequence_batching.control_input[0].name",
         _seq(START.replace('name: "START" ', "") % BOOL_OK), _seq(START % BOOL_OK),
         "has no name"),
    Case("control-input-duplicate-name", Severity.ERROR,
         "sequence_batching.control_input[1].name",
         _seq(START % BOOL_OK + ", " + START.replace("START }", "END }")
              .replace("CONTROL_SEQUENCE_START", "CONTROL_SEQUENCE_END") % BOOL_OK),
         _seq(START % BOOL_OK + ", " + START.replace('"START"', '"END"')
              .replace("CONTROL_SEQUENCE_START", "CONTROL_SEQUENCE_END") % BOOL_OK),
         "'START' is declared again"),
    Case("control-kind-repeated", Severity.ERROR,
         "sequence_batching.control_input[1].control[0].kind",
         _seq(START % BOOL_OK + ", " + START.replace('"START"', '"START2"') % BOOL_OK),
         _seq(START % BOOL_OK + ", " + START.replace('"START"', '"READY"')
              .replace("CONTROL_SEQUENCE_START", "CONTROL_SEQUENCE_READY") % BOOL_OK),
         "CONTROL_SEQUENCE_START is given twice"),
    Case("control-value-missing", Severity.ERROR,
         "sequence_batching.control_input[0].control[0]",
         _seq(START % ""), _seq(START % "bool_false_true: [ false, true ]"),
         "gives no false/true values"),
    Case("control-value-ambiguous", Severity.ERROR,
         "sequence_batching.control_input[0].control[0]",
         _seq(START % "int32_false_true: [ 0, 1 ] fp32_false_true: [ 0, 1 ]"),
         _seq(START % "fp32_false_true: [ 0, 1 ]"),
         "int32_false_true and fp32_false_true"),
    Case("control-value-count", Severity.ERROR,
         "sequence_batching.control_input[0].control[0].int32_false_true",
         _seq(START % "int32_false_true: [ 1 ]"), _seq(START % BOOL_OK),
         "has 1 entries; it needs exactly 2"),
    Case("corrid-values-set", Severity.ERROR,
         "sequence_batching.control_input[0].control[0].int32_false_true",
         _seq('{ name: "CORRID" control [ { kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_UINT64 '
              "int32_false_true: [ 0, 1 ] } ] }"),
         _seq('{ name: "CORRID" control [ { kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_UINT64 '
              "} ] }"),
         "false/true values are not allowed"),
    Case("corrid-data-type", Severity.ERROR,
         "sequence_batching.control_input[0].control[0].data_type",
         _seq('{ name: "CORRID" control [ { kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_FP32 '
              "} ] }"),
         _seq('{ name: "CORRID" control [ { kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_STRING '
              "} ] }"),
         "TYPE_FP32"),
    # ValidateModelMetrics
    Case("metric-control-incomplete", Severity.ERROR,
         "model_metrics.metric_control[0].histogram_options.buckets",
         BASE + 'model_metrics { metric_control [ { metric_identifier { family: '
         '"nv_inference_first_response_histogram_ms" } histogram_options { } } ] }',
         BASE + 'model_metrics { metric_control [ { metric_identifier { family: '
         '"nv_inference_first_response_histogram_ms" } histogram_options { buckets: [ 1, 10 ] '
         "} } ] }",
         "has no histogram buckets"),
    # ValidateInstanceGroup
    Case("instance-profile-invalid", Severity.ERROR, "instance_group[0].profile[0]",
         TRT.replace("count: 1", 'count: 1 profile: [ "first" ]'),
         TRT.replace("count: 1", 'count: 1 profile: [ "0" ]'),
         "profile 'first' must be a non-negative integer", files=PLAN),
    Case("gpu-id-host-dependent", Severity.WARNING, "instance_group[0].gpus[0]",
         TRT.replace("count: 1", "count: 1 gpus: [ 2 ]"),
         TRT.replace("count: 1", "count: 1 gpus: [ 0 ]"),
         "needs at least 3 GPUs", files=PLAN),
    # ValidateNonLinearFormatIO
    Case("non-linear-io-not-tensorrt", Severity.ERROR, "input[0].is_non_linear_format_io",
         BASE.replace("dims: [ 3 ] } ]\noutput", "dims: [ 3 ] is_non_linear_format_io: true } ]"
                      "\noutput"),
         TRT.replace("dims: [ 3 ] } ]\noutput", "dims: [ 3, 2, 2 ] is_non_linear_format_io: true"
                     " } ]\noutput"),
         "only TensorRT", good_files=PLAN),
    Case("non-linear-io-needs-3-dims", Severity.ERROR, "input[0].dims",
         TRT.replace("dims: [ 3 ] } ]\noutput", "dims: [ 3 ] is_non_linear_format_io: true } ]"
                     "\noutput"),
         TRT.replace("dims: [ 3 ] } ]\noutput", "dims: [ 3, 2, 2 ] is_non_linear_format_io: true"
                     " } ]\noutput"),
         "needs 3 dims", files=PLAN),
    # ValidateModelConfig: "unexpected platform type" for Triton 1.x's platform "custom"
    Case("unknown-platform", Severity.ERROR, "platform",
         BASE.replace('backend: "python"', 'platform: "custom"'),
         BASE.replace('backend: "python"', 'platform: "custom" backend: "python"'),
         "platform 'custom' is from Triton 1.x"),
    # TritonModel::Create: TRITON_BATCH_STRATEGY_PATH
    Case("batch-strategy-with-sequence", Severity.ERROR,
         "parameters['TRITON_BATCH_STRATEGY_PATH']",
         _seq(START % BOOL_OK) + '\nparameters { key: "TRITON_BATCH_STRATEGY_PATH" value: '
         '{ string_value: "/opt/b.so" } }',
         _seq(START % BOOL_OK), "cannot be used with the sequence batcher"),
    Case("batch-strategy-on-host", Severity.WARNING, "parameters['TRITON_BATCH_STRATEGY_PATH']",
         BASE + 'parameters { key: "TRITON_BATCH_STRATEGY_PATH" value: '
         '{ string_value: "/opt/b.so" } }', BASE, "host-dependent"),
    # LocalizePythonBackendExecutionEnvironmentPath
    Case("execution-env-missing", Severity.ERROR, "parameters['EXECUTION_ENV_PATH']",
         BASE + 'parameters { key: "EXECUTION_ENV_PATH" value: '
         '{ string_value: "$$TRITON_MODEL_DIRECTORY/env.tar.gz" } }',
         BASE + 'parameters { key: "EXECUTION_ENV_PATH" value: '
         '{ string_value: "$$TRITON_MODEL_DIRECTORY/env.tar.gz" } }',
         "'env.tar.gz' in the model folder", files={"1/model.py": "#"},
         good_files={"1/model.py": "#", "env.tar.gz": b"tar"}),
    # GetBackendLibraryProperties: runtime
    Case("runtime-escapes-backend-folder", Severity.ERROR, "runtime",
         BASE.replace('backend: "python"', 'backend: "custom" runtime: "../../libx.so"'),
         BASE.replace('backend: "python"', 'backend: "custom" runtime: "libx.so"'),
         "points outside the backend folder",
         files={"1/model.bin": b"x"}, good_files={"1/model.bin": b"x", "libx.so": b"so"}),
    Case("runtime-library-on-host", Severity.WARNING, "runtime",
         BASE.replace('backend: "python"', 'backend: "custom" runtime: "libx.so"'),
         BASE.replace('backend: "python"', 'backend: "custom" runtime: "libx.so"'),
         "not in the model folder", files={"1/model.bin": b"x"},
         good_files={"1/model.bin": b"x", "1/libx.so": b"so"}),
    # AutoCompleteBackendFields: backend from the folder name, or none at all
    Case("missing-backend", Severity.ERROR, "backend",
         BASE.replace('name: "m"\nbackend: "python"', ""),
         BASE.replace('name: "m"\nbackend: "python"', ""),
         "has no '.backend' suffix", files={"1/weights.bin": b"w"}, directory="m",
         good_files={"1/model.py": "#"}),
    Case("backend-from-folder-name", Severity.WARNING, "backend",
         BASE.replace('name: "m"\nbackend: "python"', ""),
         BASE.replace('name: "m"\nbackend: "python"', 'backend: "identity"'),
         "takes backend 'identity' from the folder name 'm.identity'",
         files={"1/model.identity": b"w"}, directory="m.identity"),
    # VersionsToLoad
    Case("version-folder-leading-zero", Severity.WARNING, "01",
         BASE, BASE, "Triton ignores it as a version (name it '1')",
         files={"01/model.py": "#", "2/model.py": "#"},
         good_files={"1/model.py": "#", "2/model.py": "#"}),
    Case("no-loadable-version", Severity.ERROR, "version_policy",
         BASE + "version_policy { latest { num_versions: 0 } }",
         BASE + "version_policy { latest { num_versions: 1 } }",
         "selects none of the versions present [1]"),
    # GenerateWarmupData
    Case("warmup-batch-zero", Severity.WARNING, "model_warmup[0].batch_size",
         BASE + _warmup("zero_data: true", batch=""), BASE + _warmup("zero_data: true"),
         "Triton skips it"),
    Case("warmup-input-no-data", Severity.ERROR, "model_warmup[0].inputs[x]",
         BASE + _warmup(""), BASE + _warmup("random_data: true"),
         "sets none of zero_data, random_data or input_data_file"),
    Case("warmup-data-file-missing", Severity.ERROR,
         "model_warmup[0].inputs[x].input_data_file",
         BASE + _warmup('input_data_file: "x.bin"'), BASE + _warmup('input_data_file: "x.bin"'),
         "reads 'warmup/x.bin', which is not in the model folder",
         files={"1/model.py": "#"}, good_files={"1/model.py": "#", "warmup/x.bin": b"\0" * 12}),
    Case("warmup-data-file-too-small", Severity.ERROR,
         "model_warmup[0].inputs[x].input_data_file",
         BASE + _warmup('input_data_file: "x.bin"'), BASE + _warmup('input_data_file: "x.bin"'),
         "needs 12 bytes (TYPE_FP32 x [3]) but 'warmup/x.bin' has 4",
         files={"1/model.py": "#", "warmup/x.bin": b"\0" * 4},
         good_files={"1/model.py": "#", "warmup/x.bin": b"\0" * 12}),
    Case("warmup-unknown-input", Severity.ERROR, "model_warmup[1].inputs[z]",
         _seq(START % BOOL_OK) + _warmup("zero_data: true") + _warmup(
             "zero_data: true", name="z"),
         _seq(START % BOOL_OK) + _warmup("zero_data: true") + _warmup(
             "zero_data: true", name="START"),
         "names input 'z', which the model does not have"),
    # SequenceBatchScheduler::Create / GenerateInitialStateData
    Case("initial-state-count", Severity.ERROR, "sequence_batching.state[0].initial_state",
         _state(INITIAL % "zero_data: true" + ", " + INITIAL % "zero_data: true"),
         _state(INITIAL % "zero_data: true"), "has 2 initial_state entries"),
    Case("initial-state-data-type-mismatch", Severity.ERROR,
         "sequence_batching.state[0].initial_state[0].data_type",
         _state(INITIAL.replace("TYPE_INT32", "TYPE_FP32") % "zero_data: true"),
         _state(INITIAL % "zero_data: true"), "initial_state is TYPE_FP32 but the state is"),
    Case("initial-state-no-name", Severity.ERROR,
         "sequence_batching.state[0].initial_state[0].name",
         _state(INITIAL.replace('name: "init" ', "") % "zero_data: true"),
         _state(INITIAL % "zero_data: true"), "has no name"),
    Case("initial-state-no-data", Severity.ERROR, "sequence_batching.state[0].initial_state[0]",
         _state(INITIAL % ""), _state(INITIAL % "zero_data: true"),
         "sets neither zero_data nor data_file"),
    Case("initial-state-dims-mismatch", Severity.ERROR,
         "sequence_batching.state[0].initial_state[0].dims[0]",
         _state(INITIAL.replace("dims: [ 2 ]", "dims: [ 3 ]") % "zero_data: true"),
         _state(INITIAL % "zero_data: true"), "do not match the state's [2]"),
    Case("initial-state-file-missing", Severity.ERROR,
         "sequence_batching.state[0].initial_state[0].data_file",
         _state(INITIAL % 'data_file: "s.bin"'), _state(INITIAL % 'data_file: "s.bin"'),
         "'initial_state/s.bin', which is not in the model folder",
         files={"1/model.py": "#"},
         good_files={"1/model.py": "#", "initial_state/s.bin": b"\0" * 8}),
    Case("initial-state-file-too-small", Severity.ERROR,
         "sequence_batching.state[0].initial_state[0].data_file",
         _state(INITIAL % 'data_file: "s.bin"'), _state(INITIAL % 'data_file: "s.bin"'),
         "needs 8 bytes but 'initial_state/s.bin' has 4",
         files={"1/model.py": "#", "initial_state/s.bin": b"\0" * 4},
         good_files={"1/model.py": "#", "initial_state/s.bin": b"\0" * 8}),
    Case("missing-model-file", Severity.ERROR, "version 2",
         BASE, BASE + "version_policy { specific { versions: [ 1 ] } }",
         "version folder '2/' has no model file 'model.py'",
         files={"1/model.py": "#", "2/notes.txt": "x"}),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.code}@{c.field}" for c in CASES])
def test_validate_model_flags_core_rule_on_faulty_config_and_not_on_its_neighbour(
    check: CheckFn, case: Case
) -> None:
    issues = check(case.bad, files=case.files, directory=case.directory,
                   versions=case.versions)
    bad = [i for i in issues if i.code == case.code]
    assert bad, f"expected {case.code} in {[str(i) for i in issues]}"
    assert bad[0].severity is case.severity
    assert bad[0].field == case.field
    assert case.message_part in bad[0].message
    good_files = case.good_files if case.good_files is not None else case.files
    good = check(case.good, files=good_files, directory=case.directory, versions=case.versions)
    assert [str(i) for i in good if i.code == case.code] == []
