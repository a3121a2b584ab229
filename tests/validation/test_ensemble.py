"""Ensemble wiring: data flow inside one ensemble and agreement with the step models."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tritonclient.grpc import model_config_pb2 as mc

from generator.validation import (
    Issue,
    ModelArtifacts,
    Severity,
    parse_config,
    validate_models,
)

CheckFn = Callable[..., list[Issue]]

PRE = parse_config("""
name: "pre" backend: "python" max_batch_size: 0
input [ { name: "RAW" data_type: TYPE_UINT8 dims: [ -1 ] } ]
output [ { name: "PIX" data_type: TYPE_FP32 dims: [ 3 ] } ]
""")
CLS = parse_config("""
name: "cls" backend: "python" max_batch_size: 0
input [ { name: "PIX" data_type: TYPE_FP32 dims: [ 3 ] } ]
output [ { name: "PROB" data_type: TYPE_FP32 dims: [ 4 ] } ]
""")
REPO = {"pre": PRE, "cls": CLS}

HEAD = """
name: "ens" platform: "ensemble" max_batch_size: 0
input [ { name: "raw" data_type: TYPE_UINT8 dims: [ -1 ] } ]
output [ { name: "prob" data_type: TYPE_FP32 dims: [ 4 ] } ]
"""
STEP_PRE = ('{ model_name: "pre" model_version: -1 input_map { key: "RAW" value: "raw" } '
            'output_map { key: "PIX" value: "pix" } }')
STEP_CLS = ('{ model_name: "cls" model_version: -1 input_map { key: "PIX" value: "pix" } '
            'output_map { key: "PROB" value: "prob" } }')


def _ensemble(*steps: str, head: str = HEAD) -> str:
    return head + "ensemble_scheduling { step [ " + ", ".join(steps) + " ] }\n"


def _run(
    check: CheckFn, text: str, repository: dict[str, mc.ModelConfig] | None = None
) -> list[Issue]:
    return check(text, files={}, directory="ens", versions=(1,),
                 repository=REPO if repository is None else repository)


def test_validate_model_reports_nothing_when_ensemble_is_wired_correctly(check: CheckFn) -> None:
    assert _run(check, _ensemble(STEP_PRE, STEP_CLS)) == []


def test_validate_model_errors_when_ensemble_has_no_version_folder(check: CheckFn) -> None:
    issues = check(_ensemble(STEP_PRE, STEP_CLS), files={}, directory="ens", repository=REPO)
    assert [i.code for i in issues] == ["no-version-folder"]


def test_validate_model_errors_when_no_step_writes_an_ensemble_output(check: CheckFn) -> None:
    issues = _run(check, _ensemble(STEP_PRE, STEP_CLS.replace('value: "prob"', 'value: "p2"')))
    codes = {(i.code, i.field) for i in issues}
    assert ("ensemble-output-not-written", "output[0]") in codes
    assert ("ensemble-tensor-unused", "ensemble_scheduling.step[1].output_map") in codes


def test_validate_model_errors_when_step_input_is_produced_by_nobody(check: CheckFn) -> None:
    issues = _run(check, _ensemble(STEP_PRE.replace('value: "pix"', 'value: "pixels"'), STEP_CLS))
    missing = [i for i in issues if i.code == "ensemble-tensor-not-produced"]
    assert len(missing) == 1
    assert missing[0].field == "ensemble_scheduling.step[1].input_map[PIX]"
    assert "'pix'" in missing[0].message


def test_validate_model_errors_naming_models_when_step_model_is_absent(check: CheckFn) -> None:
    issues = _run(check, _ensemble(STEP_PRE, STEP_CLS), repository={"pre": PRE})
    missing = [i for i in issues if i.code == "ensemble-step-model-missing"]
    assert len(missing) == 1 and missing[0].is_error
    assert "'cls'" in missing[0].message and "models: 'pre'" in missing[0].message


def test_validate_model_errors_with_both_types_when_tensor_types_conflict(check: CheckFn) -> None:
    cls16 = mc.ModelConfig()
    cls16.CopyFrom(CLS)
    cls16.input[0].data_type = mc.TYPE_FP16
    issues = _run(check, _ensemble(STEP_PRE, STEP_CLS), repository={"pre": PRE, "cls": cls16})
    conflict = [i for i in issues if i.code == "ensemble-tensor-type-conflict"]
    assert len(conflict) == 1
    assert "'pix'" in conflict[0].message
    assert "TYPE_FP16" in conflict[0].message and "TYPE_FP32" in conflict[0].message


def test_validate_model_errors_when_two_steps_write_the_same_tensor(check: CheckFn) -> None:
    twice = STEP_CLS.replace('"prob"', '"pix"').replace('value: "pix" } output', 'value: "raw" } '
                                                                                'output')
    issues = _run(check, _ensemble(STEP_PRE, twice))
    written = [i for i in issues if i.code == "ensemble-tensor-written-twice"]
    assert written and "'pix'" in written[0].message
    assert "step 0 ('pre')" in written[0].message and "step 1 ('cls')" in written[0].message


def test_validate_model_errors_when_steps_form_a_cycle(check: CheckFn) -> None:
    a = ('{ model_name: "pre" input_map [ { key: "RAW" value: "raw" }, { key: "X" value: "t2" } ] '
         'output_map { key: "PIX" value: "t1" } }')
    b = ('{ model_name: "cls" input_map { key: "PIX" value: "t1" } '
         'output_map [ { key: "PROB" value: "prob" }, { key: "Y" value: "t2" } ] }')
    issues = _run(check, _ensemble(a, b), repository={})
    cycle = [i for i in issues if i.code == "ensemble-cycle"]
    assert cycle and "step 0 ('pre') -> step 1 ('cls') -> step 0 ('pre')" in cycle[0].message


def test_validate_model_errors_when_ensemble_input_is_unused(check: CheckFn) -> None:
    head = HEAD.replace("dims: [ -1 ] } ]", 'dims: [ -1 ] }, { name: "extra" data_type: TYPE_FP32'
                        " dims: [ 1 ] } ]")
    issues = _run(check, _ensemble(STEP_PRE, STEP_CLS, head=head))
    assert [(i.code, i.field) for i in issues] == [("ensemble-input-unused", "input[1]")]


@pytest.mark.parametrize("batcher", ["dynamic_batching", "sequence_batching"])
def test_validate_model_errors_when_ensemble_sets_a_batcher(check: CheckFn, batcher: str) -> None:
    issues = _run(check, HEAD + batcher + " { }\n")
    assert [(i.code, i.severity, i.field) for i in issues] == [
        ("ensemble-batcher-set", Severity.ERROR, batcher)
    ]


def test_validate_models_errors_when_ensembles_contain_each_other() -> None:
    def ens(name: str, step_model: str) -> ModelArtifacts:
        text = (f'name: "{name}" platform: "ensemble"\n'
                'input [ { name: "a" data_type: TYPE_FP32 dims: [ 1 ] } ]\n'
                'output [ { name: "b" data_type: TYPE_FP32 dims: [ 1 ] } ]\n'
                f'ensemble_scheduling {{ step [ {{ model_name: "{step_model}" model_version: -1 '
                'input_map { key: "a" value: "a" } output_map { key: "b" value: "b" } } ] }\n')
        return ModelArtifacts(parse_config(text), name, {}, versions=(1,))

    issues = validate_models([ens("e1", "e2"), ens("e2", "e1")])
    assert [(i.code, i.message) for i in issues] == [
        ("ensemble-model-cycle", "ensembles contain each other in a cycle: 'e1' -> 'e2' -> 'e1'")
    ]
