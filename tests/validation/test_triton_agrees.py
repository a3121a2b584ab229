"""Every load-time error of ../shared/EMBEDDED_TRITON.md: the validator and the real server agree.

Each case is a small repository folder on disk. ``python -m generator validate``
must exit 1 naming the error, and the embedded Triton 2.51 must refuse the
same model with its own reason. Cases Triton accepts silently must pass
validation with a warning, and fail only under ``--strict``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from generator.validation import validate_repository

serving = pytest.importorskip("serving")

REPO_ROOT = Path(__file__).resolve().parents[2]

MODEL_PY = '''
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "x").as_numpy()
            out = pb_utils.Tensor("y", x.astype(np.float32))
            responses.append(pb_utils.InferenceResponse(output_tensors=[out]))
        return responses
'''

CONFIG = """
name: "{name}"
backend: "python"
max_batch_size: {max_batch_size}
input [ {{ name: "x" data_type: TYPE_FP32 dims: [ {dims} ] }} ]
output [ {{ name: "y" data_type: {out_type} dims: [ 3 ] {label} }} ]
instance_group [ {{ kind: KIND_CPU count: 1 {gpus} }} ]
{extra}
"""

ENSEMBLE = """
name: "{name}"
platform: "ensemble"
max_batch_size: 8
input [ {{ name: "IN" data_type: TYPE_FP32 dims: [ 3 ] }} ]
output [ {{ name: "OUT" data_type: TYPE_FP32 dims: [ 3 ] }} ]
ensemble_scheduling {{ {steps} }}
"""


def python_model(repo: Path, folder: str, *, name: str | None = None, extra: str = "",
                 dims: str = "3", gpus: str = "", label: str = "", out_type: str = "TYPE_FP32",
                 max_batch_size: int = 8, versions: tuple[int, ...] = (1,)) -> None:
    """Write a python-backend model folder: y = x."""
    for version in versions:
        (repo / folder / str(version)).mkdir(parents=True)
        (repo / folder / str(version) / "model.py").write_text(MODEL_PY, encoding="utf-8")
    (repo / folder / "config.pbtxt").write_text(
        CONFIG.format(name=name or folder, extra=extra, dims=dims, gpus=gpus, label=label,
                      out_type=out_type, max_batch_size=max_batch_size),
        encoding="utf-8",
    )


def ensemble(repo: Path, folder: str, steps: str) -> None:
    """Write an ensemble model folder with an empty version folder."""
    (repo / folder / "1").mkdir(parents=True)
    (repo / folder / "config.pbtxt").write_text(ENSEMBLE.format(name=folder, steps=steps),
                                                encoding="utf-8")


def step(model: str, inputs: dict[str, str], outputs: dict[str, str]) -> str:
    """One ensemble step in protobuf text."""
    ins = " ".join(f'input_map {{ key: "{k}" value: "{v}" }}' for k, v in inputs.items())
    outs = " ".join(f'output_map {{ key: "{k}" value: "{v}" }}' for k, v in outputs.items())
    return f'step {{ model_name: "{model}" model_version: -1 {ins} {outs} }}'


@dataclass(frozen=True)
class Case:
    """One load-time error: how to write it, what we report, what Triton says."""

    model: str
    write: Callable[[Path], None]
    field: str
    triton_reason: str


REJECTED = [
    Case("preferred_too_big",
         lambda r: python_model(r, "preferred_too_big",
                                extra="dynamic_batching { preferred_batch_size: [ 4, 64 ] }"),
         "dynamic_batching.preferred_batch_size[1]",
         "dynamic batching preferred size must be <= max batch size"),
    Case("renamed", lambda r: python_model(r, "renamed", name="other_name"), "name",
         "directory name must equal model name"),
    Case("bad_priority",
         lambda r: python_model(r, "bad_priority",
                                extra="dynamic_batching { priority_levels: 2 "
                                      "default_priority_level: 0 }"),
         "dynamic_batching.default_priority_level", "default priority level"),
    Case("missing_labels", lambda r: python_model(r, "missing_labels",
                                                  label='label_filename: "labels.txt"'),
         "output[0].label_filename", "failed to open text file for read"),
    Case("gpus_on_cpu", lambda r: python_model(r, "gpus_on_cpu", gpus="gpus: [ 0 ]"),
         "instance_group[0].gpus", "gpu"),
    Case("zero_dim", lambda r: python_model(r, "zero_dim", dims="0"), "input[0].dims[0]",
         "dimension must be integer >= 1, or -1"),
    Case("negative_dim", lambda r: python_model(r, "negative_dim", dims="-2"),
         "input[0].dims[0]", "dimension must be integer >= 1, or -1"),
]


def _ens(model: str, steps: str, *needs: str) -> Callable[[Path], None]:
    def write(repo: Path) -> None:
        for name in needs:
            if not (repo / name).exists():
                python_model(repo, name)
        ensemble(repo, model, steps)

    return write


def _type_clash(repo: Path) -> None:
    python_model(repo, "ens_step_int", out_type="TYPE_INT32")
    steps = (step("ens_step_int", {"x": "IN"}, {"y": "MID"})
             + step("ens_step_b", {"x": "MID"}, {"y": "OUT"}))
    _ens("ens_type_clash", steps, "ens_step_b")(repo)


REJECTED += [
    Case("ens_output_unwritten",
         _ens("ens_output_unwritten", step("ens_step_a", {"x": "IN"}, {"y": "OTHER"}),
              "ens_step_a"),
         "output[0]", "ensemble"),
    Case("ens_input_unproduced",
         _ens("ens_input_unproduced", step("ens_step_a", {"x": "NOBODY"}, {"y": "OUT"}),
              "ens_step_a"),
         "ensemble_scheduling.step[0].input_map", "ensemble"),
    Case("ens_missing_model",
         _ens("ens_missing_model", step("no_such_model", {"x": "IN"}, {"y": "OUT"})),
         "ensemble_scheduling.step[0].model_name", "not available or ambiguous: no_such_model"),
    Case("ens_type_clash", _type_clash, "ensemble_scheduling", "inconsistent data type"),
]

def raw_model(repo: Path, folder: str, config: str, files: dict[str, str]) -> None:
    """Write a model folder from config text and files (path -> text)."""
    (repo / folder).mkdir(parents=True)
    (repo / folder / "config.pbtxt").write_text(config, encoding="utf-8")
    for rel, text in files.items():
        (repo / folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / folder / rel).write_text(text, encoding="utf-8")


def _pinned(repo: Path) -> None:
    python_model(repo, "ens_step_v1")
    ensemble(repo, "ens_pinned", step("ens_step_v1", {"x": "IN"}, {"y": "OUT"})
             .replace("model_version: -1", "model_version: 2"))


def _unmapped(repo: Path) -> None:
    python_model(repo, "ens_step_two_in",
                 extra='input [ { name: "x2" data_type: TYPE_FP32 dims: [ 3 ] } ]')
    ensemble(repo, "ens_unmapped", step("ens_step_two_in", {"x": "IN"}, {"y": "OUT"}))


def _small_batch(repo: Path) -> None:
    python_model(repo, "ens_step_mbs4", max_batch_size=4)
    ensemble(repo, "ens_small_batch", step("ens_step_mbs4", {"x": "IN"}, {"y": "OUT"}))


def _shape_clash(repo: Path) -> None:
    python_model(repo, "ens_step_dims4", dims="4")
    ensemble(repo, "ens_shape_clash", step("ens_step_dims4", {"x": "IN"}, {"y": "OUT"}))


SEQUENCE = ('sequence_batching {{ control_input [ '
            '{{ name: "START" control [ {{ {control} }} ] }} ] }}')

def _decoupled_join(repo: Path) -> None:
    for name in ("ens_dec1", "ens_dec2"):
        python_model(repo, name, extra="model_transaction_policy { decoupled: true }")
    python_model(repo, "ens_join",
                 extra='input [ { name: "x2" data_type: TYPE_FP32 dims: [ 3 ] } ]')
    ensemble(repo, "ens_decoupled_join",
             step("ens_dec1", {"x": "IN"}, {"y": "A"}) + step("ens_dec2", {"x": "IN"}, {"y": "B"})
             + step("ens_join", {"x": "A", "x2": "B"}, {"y": "OUT"}))


STATE = ('sequence_batching {{ state [ {{ input_name: "IN_STATE" output_name: "OUT_STATE" '
         'data_type: TYPE_INT32 dims: [ 2 ] initial_state [ {{ name: "init" data_type: {type} '
         'dims: [ 2 ] {data} }} ] }} ] }}')

WARMUP = ('model_warmup [ {{ name: "w" {batch} inputs {{ key: "x" value: '
          '{{ data_type: TYPE_FP32 dims: [ 3 ] {data} }} }} }} ]')

REJECTED += [
    Case("ens_pinned", _pinned, "ensemble_scheduling.step[0].model_version",
         "whose required version 2 is not loaded"),
    Case("ens_unmapped", _unmapped, "ensemble_scheduling.step[0].input_map",
         "is not mapped to any ensemble tensors"),
    Case("ens_small_batch", _small_batch, "max_batch_size", "maximum batch size"),
    Case("ens_shape_clash", _shape_clash, "ensemble_scheduling.step[0]", "inconsistent shape"),
    Case("seq_no_values",
         lambda r: python_model(r, "seq_no_values", extra=SEQUENCE.format(
             control="kind: CONTROL_SEQUENCE_START")),
         "sequence_batching.control_input[0].control[0]",
         "must specify either 'int32_false_true'"),
    Case("seq_one_value",
         lambda r: python_model(r, "seq_one_value", extra=SEQUENCE.format(
             control="kind: CONTROL_SEQUENCE_START int32_false_true: [ 1 ]")),
         "sequence_batching.control_input[0].control[0].int32_false_true", "exactly 2 entries"),
    Case("seq_two_starts",
         lambda r: python_model(r, "seq_two_starts", extra=SEQUENCE.format(
             control="kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ] }, "
                     "{ kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ]")),
         "sequence_batching.control_input[0].control[1].kind", "multiple"),
    Case("seq_strategy",
         lambda r: python_model(r, "seq_strategy", extra=SEQUENCE.format(
             control="kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ]")
             + ' parameters { key: "TRITON_BATCH_STRATEGY_PATH" value: { string_value: '
               '"/nonexistent/batch.so" } }'),
         "parameters['TRITON_BATCH_STRATEGY_PATH']", "cannot be specified with sequence batcher"),
    Case("no_versions_selected",
         lambda r: python_model(r, "no_versions_selected",
                                extra="version_policy { latest { num_versions: 0 } }"),
         "version_policy", "at least one version must be available"),
    Case("legacy_custom",
         lambda r: raw_model(r, "legacy_custom", 'platform: "custom"\nmax_batch_size: 8\n'
                             'input [ { name: "x" data_type: TYPE_FP32 dims: [ 3 ] } ]\n'
                             'output [ { name: "y" data_type: TYPE_FP32 dims: [ 3 ] } ]\n',
                             {"1/model.py": MODEL_PY}),
         "platform", "unexpected platform type"),
    Case("ens_decoupled_join", _decoupled_join, "ensemble_scheduling.step[2].input_map",
         "different decoupled models"),
    Case("state_no_file",
         lambda r: python_model(r, "state_no_file", extra=STATE.format(
             type="TYPE_INT32", data='data_file: "s.bin"')),
         "sequence_batching.state[0].initial_state[0].data_file", "s.bin"),
    Case("state_type_clash",
         lambda r: python_model(r, "state_type_clash", extra=STATE.format(
             type="TYPE_FP32", data="zero_data: true")),
         "sequence_batching.state[0].initial_state[0].data_type", "does not match"),
    Case("warmup_no_file",
         lambda r: python_model(r, "warmup_no_file", extra=WARMUP.format(
             batch="batch_size: 1", data='input_data_file: "x.bin"')),
         "model_warmup[0].inputs[x].input_data_file", "x.bin"),
    Case("warmup_no_data",
         lambda r: python_model(r, "warmup_no_data", extra=WARMUP.format(
             batch="batch_size: 1", data="")),
         "model_warmup[0].inputs[x]", "to have input_data_type set"),
    Case("no_backend",
         lambda r: raw_model(r, "no_backend", 'max_batch_size: 8\n'
                             'input [ { name: "x" data_type: TYPE_FP32 dims: [ 3 ] } ]\n'
                             'output [ { name: "y" data_type: TYPE_FP32 dims: [ 3 ] } ]\n',
                             {"1/weights.txt": "w"}),
         "backend", "could not determine backend"),
]

def _leading_zero(repo: Path) -> None:
    python_model(repo, "leading_zero")
    (repo / "leading_zero" / "01").mkdir()
    (repo / "leading_zero" / "01" / "notes.txt").write_text("not a version", encoding="utf-8")


WARNED = [
    Case("batching_without_batch",
         lambda r: python_model(r, "batching_without_batch", max_batch_size=0,
                                extra="dynamic_batching { }"),
         "dynamic_batching", ""),
    Case("duplicate_inputs",
         lambda r: python_model(
             r, "duplicate_inputs",
             extra='input [ { name: "x" data_type: TYPE_FP32 dims: [ 3 ] } ]'),
         "input[1].name", ""),
    Case("missing_version",
         lambda r: python_model(r, "missing_version",
                                extra="version_policy { specific { versions: [ 1, 7 ] } }"),
         "version_policy.specific.versions[1]", ""),
    Case("leading_zero", _leading_zero, "01", ""),
    Case("warmup_batch_zero",
         lambda r: python_model(r, "warmup_batch_zero", extra=WARMUP.format(
             batch="", data='input_data_file: "missing.bin"')),
         "model_warmup[0].batch_size", ""),
]


def _validate_cli(repo: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "generator", "validate", str(repo), *flags],
                          capture_output=True, text=True, cwd=REPO_ROOT, check=False)


@pytest.mark.parametrize("case", REJECTED, ids=lambda c: c.model)
def test_validate_cli_rejects_triton_load_time_error_naming_model_and_field(
    case: Case, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    python_model(repo, "good")
    case.write(repo)
    errors = [i for i in validate_repository(repo) if i.is_error]
    assert {i.model for i in errors} == {case.model}, [str(i) for i in errors]
    assert any(i.field.startswith(case.field) for i in errors), [str(i) for i in errors]
    result = _validate_cli(repo)
    assert result.returncode == 1
    assert f"error: {case.model}.{case.field}" in result.stderr


@pytest.mark.parametrize("case", WARNED, ids=lambda c: c.model)
def test_validate_cli_warns_for_config_triton_accepts_silently_and_fails_only_when_strict(
    case: Case, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    case.write(repo)
    issues = validate_repository(repo)
    assert not [i for i in issues if i.is_error], [str(i) for i in issues]
    assert any(i.model == case.model and i.field.startswith(case.field) for i in issues), \
        [str(i) for i in issues]
    assert _validate_cli(repo).returncode == 0
    strict = _validate_cli(repo, "--strict")
    assert strict.returncode == 1
    assert f"warning: {case.model}.{case.field}" in strict.stderr


def test_validate_cli_passes_valid_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    python_model(repo, "good")
    python_model(repo, "ens_step_a")
    ensemble(repo, "pipeline", step("ens_step_a", {"x": "IN"}, {"y": "OUT"}))
    result = _validate_cli(repo, "--strict")
    assert result.returncode == 0, result.stderr


@pytest.mark.timeout(240)
def test_real_triton_refuses_exactly_the_models_the_validator_rejects(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    python_model(repo, "good")
    for case in REJECTED + WARNED:
        case.write(repo)
    flagged = {i.model for i in validate_repository(repo) if i.is_error}
    assert flagged == {c.model for c in REJECTED}
    try:
        server = serving.TritonServer(repo, ready_timeout_s=180.0)
    except serving.TritonNotFoundError as exc:  # pragma: no cover - machine without Triton
        pytest.skip(f"embedded Triton not available: {exc}")
    with pytest.raises(serving.ServerStartError) as info, server:
        pass
    reasons = info.value.model_errors
    assert set(reasons) == flagged, reasons
    for case in REJECTED:
        assert case.triton_reason.lower() in reasons[case.model].lower(), (case.model, reasons)
