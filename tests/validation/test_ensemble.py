"""Ensemble wiring: data flow inside one ensemble and agreement with the step models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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


def _models(ensemble: str, *steps: tuple[str, tuple[int, ...]]) -> list[Issue]:
    models = [ModelArtifacts(parse_config(text), str(parse_config(text).name),
                             {f"{v}/model.py": Path(__file__) for v in versions},
                             versions=versions)
              for text, versions in steps]
    models.append(ModelArtifacts(parse_config(ensemble), "ens", {}, versions=(1,)))
    return validate_models(models)


def _step_model(name: str, *, mbs: int = 0, dims: str = "3", extra: str = "") -> str:
    return (f'name: "{name}" backend: "python" max_batch_size: {mbs} {extra}\n'
            f'input [ {{ name: "X" data_type: TYPE_FP32 dims: [ {dims} ] }} ]\n'
            f'output [ {{ name: "Y" data_type: TYPE_FP32 dims: [ {dims} ] }} ]\n')


def _one_step_ensemble(*, mbs: int = 0, dims: str = "3", version: int = -1) -> str:
    return (f'name: "ens" platform: "ensemble" max_batch_size: {mbs}\n'
            f'input [ {{ name: "in" data_type: TYPE_FP32 dims: [ {dims} ] }} ]\n'
            f'output [ {{ name: "out" data_type: TYPE_FP32 dims: [ {dims} ] }} ]\n'
            f'ensemble_scheduling {{ step [ {{ model_name: "s" model_version: {version} '
            'input_map { key: "X" value: "in" } output_map { key: "Y" value: "out" } } ] }\n')


def _codes(issues: list[Issue], code: str) -> list[Issue]:
    return [i for i in issues if i.code == code]


def test_validate_models_errors_when_ensemble_batches_more_than_a_step_and_not_when_equal() -> None:
    bad = _codes(_models(_one_step_ensemble(mbs=8), (_step_model("s", mbs=4), (1,))),
                 "ensemble-batch-larger-than-step")
    assert [(i.severity, i.model, i.field) for i in bad] == [
        (Severity.ERROR, "ens", "max_batch_size")]
    assert "allows max_batch_size 8 but step 0 model 's' allows only 4" in bad[0].message
    assert not _codes(_models(_one_step_ensemble(mbs=4), (_step_model("s", mbs=4), (1,))),
                      "ensemble-batch-larger-than-step")
    assert not _codes(_models(_one_step_ensemble(mbs=8), (_step_model("s", dims="-1, 3"), (1,))),
                      "ensemble-batch-larger-than-step")


def test_validate_models_errors_when_tensor_shapes_disagree_with_the_batch_dimension() -> None:
    bad = _codes(_models(_one_step_ensemble(mbs=4), (_step_model("s", mbs=4, dims="4"), (1,))),
                 "ensemble-tensor-shape-conflict")
    assert bad and bad[0].field == "ensemble_scheduling.step[0].input_map[X]"
    assert "[-1, 3] from ensemble 'ens' but [-1, 4] from model 's'" in bad[0].message
    # A non-batching step may take [-1, 3] where the batching ensemble has [3] + batch.
    assert not _codes(_models(_one_step_ensemble(mbs=4), (_step_model("s", dims="-1, 3"), (1,))),
                      "ensemble-tensor-shape-conflict")


def test_validate_models_errors_when_step_pins_a_version_its_policy_does_not_serve() -> None:
    step = _step_model("s")
    bad = _codes(_models(_one_step_ensemble(version=1), (step, (1, 2))),
                 "ensemble-step-version-not-served")
    assert [(i.severity, i.field) for i in bad] == [
        (Severity.ERROR, "ensemble_scheduling.step[0].model_version")]
    assert "serves only versions [2] under its version policy" in bad[0].message
    all_versions = step + "version_policy { all { } }"
    assert not _codes(_models(_one_step_ensemble(version=1), (all_versions, (1, 2))),
                      "ensemble-step-version-not-served")


def test_validate_models_errors_when_a_step_joins_outputs_of_two_decoupled_models() -> None:
    def ensemble(d2_source: str) -> str:
        return ('name: "ens" platform: "ensemble" max_batch_size: 0\n'
                'input [ { name: "in" data_type: TYPE_FP32 dims: [ 3 ] } ]\n'
                'output [ { name: "out" data_type: TYPE_FP32 dims: [ 3 ] } ]\n'
                'ensemble_scheduling { step [ '
                '{ model_name: "d1" model_version: -1 input_map { key: "X" value: "in" } '
                'output_map { key: "Y" value: "a" } }, '
                '{ model_name: "d2" model_version: -1 '
                f'input_map {{ key: "X" value: "{d2_source}" }} '
                'output_map { key: "Y" value: "b" } }, '
                '{ model_name: "join" model_version: -1 input_map { key: "A" value: "a" } '
                'input_map { key: "B" value: "b" } output_map { key: "Y" value: "out" } } ] }\n')

    decoupled = "model_transaction_policy { decoupled: true }"
    join = ('name: "join" backend: "python" max_batch_size: 0\n'
            'input [ { name: "A" data_type: TYPE_FP32 dims: [ 3 ] }, '
            '{ name: "B" data_type: TYPE_FP32 dims: [ 3 ] } ]\n'
            'output [ { name: "Y" data_type: TYPE_FP32 dims: [ 3 ] } ]\n')
    d1 = (_step_model("d1", extra=decoupled), (1,))
    parallel = (d1, (_step_model("d2", extra=decoupled), (1,)), (join, (1,)))
    bad = _codes(_models(ensemble("in"), *parallel), "ensemble-decoupled-join")
    assert [(i.severity, i.field) for i in bad] == [
        (Severity.ERROR, "ensemble_scheduling.step[2].input_map")]
    assert "different decoupled models" in bad[0].message
    chained = (d1, (_step_model("d2"), (1,)), (join, (1,)))
    assert not _codes(_models(ensemble("a"), *chained), "ensemble-decoupled-join")


def test_validate_model_errors_when_required_step_input_is_unmapped_but_not_when_optional(
    check: CheckFn,
) -> None:
    two_inputs = parse_config(
        'name: "cls" backend: "python" max_batch_size: 0\n'
        'input [ { name: "PIX" data_type: TYPE_FP32 dims: [ 3 ] }, '
        '{ name: "EXTRA" data_type: TYPE_FP32 dims: [ 1 ] } ]\n'
        'output [ { name: "PROB" data_type: TYPE_FP32 dims: [ 4 ] } ]\n')
    optional = parse_config(str(two_inputs).replace('name: "EXTRA"', 'name: "EXTRA"\n'
                                                    "  optional: true"))
    bad = _codes(_run(check, _ensemble(STEP_PRE, STEP_CLS), {"pre": PRE, "cls": two_inputs}),
                 "ensemble-step-input-unmapped")
    assert [(i.severity, i.field) for i in bad] == [
        (Severity.ERROR, "ensemble_scheduling.step[1].input_map")]
    assert not _codes(_run(check, _ensemble(STEP_PRE, STEP_CLS), {"pre": PRE, "cls": optional}),
                      "ensemble-step-input-unmapped")
