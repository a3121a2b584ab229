"""The spec dataclasses: coverage of Triton's schema, coercion and bad input."""

from __future__ import annotations

import dataclasses

import pytest
from tritonclient.grpc import model_config_pb2 as mc

from generator import SpecError, spec_to_config
from generator.presets import onnx_model
from generator.spec import (
    DataType,
    DynamicBatching,
    Input,
    InstanceGroup,
    InstanceKind,
    ModelSpec,
    SequenceBatching,
    SequenceStrategyDirect,
    SequenceStrategyOldest,
    VersionPolicy,
    WarmupInput,
)
from generator.spec.base import SpecBase, enum_for_proto, spec_for_proto


def _messages(descriptor: object) -> list[object]:
    found = [descriptor]
    for nested in descriptor.nested_types:  # type: ignore[attr-defined]
        if not nested.GetOptions().map_entry:
            found += _messages(nested)
    return found


ALL_MESSAGES = [m for d in mc.DESCRIPTOR.message_types_by_name.values() for m in _messages(d)]


@pytest.mark.parametrize("message", ALL_MESSAGES, ids=lambda m: m.full_name)
def test_spec_classes_cover_every_field_of_each_model_config_message(message: object) -> None:
    full_name = message.full_name  # type: ignore[attr-defined]
    if full_name == "inference.ModelParameter":
        # Specs hold parameters as plain strings: that is all this message carries.
        assert [f.name for f in message.fields] == ["string_value"]  # type: ignore[attr-defined]
        return
    cls = spec_for_proto(full_name)
    covered = {cls.RENAMES.get(f.name, f.name) for f in dataclasses.fields(cls)} - cls.EXTRA_FIELDS
    proto_fields = {f.name for f in message.fields}  # type: ignore[attr-defined]
    assert proto_fields - covered == set(), f"{cls.__name__} misses fields"
    assert covered - proto_fields == set(), f"{cls.__name__} has fields Triton does not know"


@pytest.mark.parametrize("enum_descriptor",
                         [e for m in ALL_MESSAGES for e in m.enum_types]  # type: ignore[attr-defined]
                         + list(mc.DESCRIPTOR.enum_types_by_name.values()),
                         ids=lambda e: e.full_name)
def test_spec_enums_cover_every_value_of_each_protobuf_enum(enum_descriptor: object) -> None:
    enum_cls = enum_for_proto(enum_descriptor.full_name)  # type: ignore[attr-defined]
    assert {m.value for m in enum_cls} == {v.name for v in enum_descriptor.values}  # type: ignore[attr-defined]


def test_spec_rejects_unknown_keyword_argument_when_constructed() -> None:
    with pytest.raises(TypeError, match="max_batch"):
        ModelSpec(name="m", max_batch=4)  # type: ignore[call-arg]


def test_preset_rejects_unknown_keyword_with_suggestion() -> None:
    with pytest.raises(SpecError, match=r"'dynamic_batchin'.*did you mean 'dynamic_batching'"):
        onnx_model("m", model_file="m.onnx", dynamic_batchin=DynamicBatching())


def test_spec_coerces_lists_and_enum_names_when_constructed() -> None:
    tensor = Input(name="x", data_type="TYPE_FP32", dims=[1, 2])  # type: ignore[arg-type]
    assert tensor.data_type is DataType.FP32
    assert tensor.dims == (1, 2)
    assert InstanceGroup(kind="GPU").kind is InstanceKind.GPU  # type: ignore[arg-type]


def test_spec_rejects_unknown_enum_name_listing_valid_names() -> None:
    with pytest.raises(SpecError, match=r"Input\.data_type: 'FLOAT32' is not a DataType; use"):
        Input(name="x", data_type="FLOAT32")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["../escape", "a/b", "/abs", "a..b", "with space", "modèle"])
def test_model_spec_rejects_name_triton_refuses(name: str) -> None:
    with pytest.raises(SpecError, match="model name"):
        ModelSpec(name=name)


@pytest.mark.parametrize("filename", ["../x", "/etc/passwd", "a/../../b", "config.pbtxt"])
def test_model_spec_rejects_file_names_outside_the_model_folder(filename: str) -> None:
    with pytest.raises(SpecError):
        ModelSpec(name="m", files={filename: "x"})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    "build",
    [
        lambda: ModelSpec(name="m", dynamic_batching=DynamicBatching(),
                          sequence_batching=SequenceBatching()),
        lambda: SequenceBatching(direct=SequenceStrategyDirect(), oldest=SequenceStrategyOldest()),
        lambda: WarmupInput(zero_data=True, random_data=True),
    ],
    ids=["scheduler", "sequence-strategy", "warmup-data"],
)
def test_spec_rejects_two_members_of_one_protobuf_oneof(build: object) -> None:
    with pytest.raises(SpecError, match="set only one of"):
        build()  # type: ignore[operator]


def test_spec_to_config_names_the_field_path_when_a_value_has_the_wrong_type() -> None:
    spec = ModelSpec(name="resnet", inputs=[Input("x", DataType.FP32, [3, "224"])])  # type: ignore[list-item]
    with pytest.raises(SpecError, match=r"resnet\.input\[0\]\.dims\[1\]: expected an int"):
        spec_to_config(spec)


def test_spec_to_config_rejects_negative_value_for_unsigned_field() -> None:
    spec = ModelSpec(name="m", dynamic_batching=DynamicBatching(max_queue_delay_microseconds=-5))
    with pytest.raises(SpecError, match=r"m\.dynamic_batching\.max_queue_delay_microseconds"):
        spec_to_config(spec)


def test_version_policy_shortcuts_build_each_protobuf_choice() -> None:
    for policy, choice in [(VersionPolicy.latest_n(2), "latest"),
                           (VersionPolicy.all_versions(), "all"),
                           (VersionPolicy.specific_versions(1, 3), "specific")]:
        config = spec_to_config(ModelSpec(name="m", version_policy=policy))
        assert config.version_policy.WhichOneof("policy_choice") == choice


def test_spec_instances_are_frozen() -> None:
    spec = ModelSpec(name="m")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"  # type: ignore[misc]
    assert isinstance(spec, SpecBase)
