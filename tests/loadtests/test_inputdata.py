"""The input-data core: perf_analyzer's JSON forms, generated inputs, export and read-back."""

from __future__ import annotations

import base64
import json
import struct

import numpy as np
import pytest

from clients import TensorSpec
from loadtests.errors import InputDataError
from loadtests.inputdata import (
    ModelTensors,
    generate_input_data,
    parse_ranges,
    parse_shapes,
    read_input_data,
)

MIXED = ModelTensors(
    "mixed", 4,
    (TensorSpec("input-features", "FP32", (-1, 4)), TensorSpec("scale", "INT64", (-1, 1))),
    (TensorSpec("row total", "FP64", (-1, 1)),),
)
TEXT = ModelTensors("labels", 8, (TensorSpec("text", "BYTES", (-1, 1)),),
                    (TensorSpec("class", "INT64", (-1, 1)),))
SEQUENCE = ModelTensors("sequence", 4, (TensorSpec("tokens", "INT32", (-1, -1)),
                                        TensorSpec("mask", "BOOL", (-1, -1))),
                        (TensorSpec("mean", "FP32", (-1, 1)),))
FIXED = ModelTensors("resnet", 0, (TensorSpec("gpu_0/data_0", "FP32", (1, 3)),),
                     (TensorSpec("gpu_0/softmax_1", "FP32", (1, 2)),))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _prefixed(*items: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(item)) + item for item in items)


def test_read_flat_list_content_shape_and_b64_forms_give_the_same_request() -> None:
    features = np.array([1.5, 2, 3, 4], np.float32)
    document = {"data": [
        {"input-features": [1.5, 2, 3, 4], "scale": [3]},
        {"input-features": {"content": [1.5, 2, 3, 4], "shape": [4]}, "scale": {"content": [3]}},
        {"input-features": {"b64": _b64(features.astype("<f4").tobytes())},
         "scale": {"content": {"b64": _b64(np.int64(3).astype("<i8").tobytes())},
                   "shape": [1]}},
    ]}
    data = read_input_data(document, MIXED, origin="in.json", batch_size=2)
    for index in range(3):
        request = data.request(index)
        np.testing.assert_array_equal(request["input-features"], [features, features])
        assert request["input-features"].dtype == np.float32
        np.testing.assert_array_equal(request["scale"], [[3], [3]])
        assert request["scale"].dtype == np.int64


def test_read_entries_are_used_round_robin() -> None:
    document = {"data": [{"text": ["cat"]}, {"text": ["dog"]}]}
    data = read_input_data(document, TEXT, origin="in.json")
    assert [data.request(i)["text"].ravel().tolist() for i in range(4)] == [
        [b"cat"], [b"dog"], [b"cat"], [b"dog"]]


def test_read_bytes_b64_with_length_prefixes() -> None:
    document = {"data": [{"text": {"b64": _b64(_prefixed(b"emu"))}}]}
    data = read_input_data(document, TEXT, origin="in.json")
    assert data.request(0)["text"].tolist() == [[b"emu"]]


def test_read_bytes_b64_without_length_prefix_explains_the_prefix() -> None:
    document = {"data": [{"text": {"b64": _b64(b"a")}}]}
    with pytest.raises(InputDataError, match=r"in.json: data\[0\]: input 'text'.*4-byte"):
        read_input_data(document, TEXT, origin="in.json")


def test_read_variable_dims_take_content_shape_or_shape_option() -> None:
    document = {"data": [
        {"tokens": {"content": [1, 2, 3], "shape": [3]},
         "mask": {"content": [True] * 3, "shape": [3]}},
        {"tokens": [1, 2, 3, 4], "mask": [False] * 4},
    ]}
    data = read_input_data(document, SEQUENCE, origin="in.json", batch_size=2,
                           shapes={"tokens": (4,), "mask": (4,)})
    assert data.request(0)["tokens"].shape == (2, 3)
    assert data.request(1)["tokens"].shape == (2, 4)
    with pytest.raises(InputDataError, match=r"data\[1\]: input 'tokens'.*variable"):
        read_input_data(document, SEQUENCE, origin="in.json")


def test_read_wrong_value_count_names_entry_and_tensor() -> None:
    document = {"data": [{"input-features": [1, 2, 3], "scale": [1]}]}
    with pytest.raises(InputDataError, match=r"data\[0\]: input 'input-features': 3 values"):
        read_input_data(document, MIXED, origin="in.json")


@pytest.mark.parametrize("document, unsupported", [
    ({"data": [[{"text": ["a"]}], [{"text": ["b"]}]]}, "sequence model's data stream"),
    ({"data": [{"ipc_stream": "python3 x.py"}]}, "ipc_stream"),
    ({"data": [{"text": ["a"]}], "parameters": {}}, "top-level keys \\['parameters'\\]"),
    ({"data": [{"text": {"content": ["a"], "dims": [1]}}]}, "unsupported keys \\['dims'\\]"),
    ({"data": [{"words": ["a"]}]}, "no input 'words'"),
    ({"data": []}, "non-empty list"),
    ([1, 2], "\"data\" list"),
])
def test_read_refuses_unsupported_forms_naming_them(document: object, unsupported: str) -> None:
    with pytest.raises(InputDataError, match=unsupported):
        read_input_data(document, TEXT, origin="in.json")


def test_validation_data_mismatch_names_the_output() -> None:
    document = {"data": [{"input-features": [1, 1, 1, 1], "scale": [2]}],
                "validation_data": [{"row total": [8.0]}]}
    data = read_input_data(document, MIXED, origin="in.json", batch_size=3)
    assert data.validates
    assert data.mismatches(0, {"row total": np.full((3, 1), 8.0)}) == []
    assert data.mismatches(0, {"row total": np.array([[8.0], [8.0], [7.0]])}) == ["row total"]
    assert data.mismatches(0, {}) == ["row total"]


def test_validation_data_must_align_with_data() -> None:
    document = {"data": [{"text": ["a"]}, {"text": ["b"]}], "validation_data": [{"class": [1]}]}
    with pytest.raises(InputDataError, match="aligned"):
        read_input_data(document, TEXT, origin="in.json")


def test_generate_fills_every_dtype_within_ranges() -> None:
    data = generate_input_data(
        SEQUENCE, shapes={"tokens": (5,), "mask": (5,)}, ranges={"tokens": (10, 12)},
        batch_size=3)
    request = data.request(0)
    assert request["tokens"].shape == (3, 5) and request["tokens"].dtype == np.int32
    assert request["tokens"].min() >= 10 and request["tokens"].max() <= 12
    assert request["mask"].dtype == np.bool_
    text = generate_input_data(TEXT, string_length=5).request(1)["text"]
    assert text.shape == (1, 1) and len(text[0, 0]) == 5 and isinstance(text[0, 0], bytes)


def test_generate_variable_dims_without_shape_names_each_input() -> None:
    with pytest.raises(InputDataError) as error:
        generate_input_data(SEQUENCE)
    message = str(error.value)
    assert "input 'tokens'" in message and "input 'mask'" in message
    assert "--shape tokens:N" in message


def test_generate_shape_with_batch_dim_gets_a_hint_without_it() -> None:
    with pytest.raises(InputDataError, match=r"without the batch dimension.*--shape tokens:7"):
        generate_input_data(SEQUENCE, shapes={"tokens": (4, 7), "mask": (7,)})


def test_generate_refuses_batch_size_the_model_cannot_take() -> None:
    with pytest.raises(InputDataError, match="does not batch"):
        generate_input_data(FIXED, batch_size=2)
    with pytest.raises(InputDataError, match="at most 4"):
        generate_input_data(MIXED, batch_size=5)


def test_generate_unknown_input_in_options_lists_the_inputs() -> None:
    with pytest.raises(InputDataError, match=r"--input-range: .*no input 'x'.*'input-features'"):
        generate_input_data(MIXED, ranges={"x": (0, 1)})


def test_export_read_back_gives_the_same_requests_and_validation() -> None:
    generated = generate_input_data(FIXED, entries=3, seed=4)
    again = read_input_data(json.loads(json.dumps(generated.export())), FIXED, origin="x")
    for index in range(3):
        for name, array in generated.request(index).items():
            np.testing.assert_array_equal(again.request(index)[name], array)
            assert again.request(index)[name].dtype == array.dtype
    document = {"data": [{"text": {"b64": _b64(_prefixed(b"\xff\x00"))}}],
                "validation_data": [{"class": [-1]}]}
    binary = read_input_data(document, TEXT, origin="x")
    back = read_input_data(json.loads(json.dumps(binary.export())), TEXT, origin="y")
    assert back.request(0)["text"].tolist() == [[b"\xff\x00"]]
    assert back.mismatches(0, {"class": np.array([[-1]])}) == []


def test_parse_shape_and_range_options() -> None:
    assert parse_shapes(["gpu_0/data_0:3,224,224"]) == {"gpu_0/data_0": (3, 224, 224)}
    assert parse_ranges(["a:b:-1:2.5"]) == {"a:b": (-1.0, 2.5)}
    with pytest.raises(InputDataError, match="NAME:DIMS"):
        parse_shapes(["tokens"])
    with pytest.raises(InputDataError, match="LOW <= HIGH"):
        parse_ranges(["x:3:1"])
