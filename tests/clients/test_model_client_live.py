"""The generic ``ModelClient`` against ONNX models served by the embedded Triton.

The string model is the one the python-backend ONNX wrapper used to get wrong: a
LabelEncoder keyed by strings answered the default id for every string, because Triton
hands the wrapper ``bytes`` and the graph compares ``str``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clients import (
    AsyncModelClient,
    InvalidInputError,
    MetadataMismatchError,
    ModelClient,
    ModelSignature,
    TensorSpec,
)
from generator.loader import LoadedSpec
from generator.presets import onnx_model
from generator.writer import build_repository
from serving import TritonServer, start_server
from tests.generator.onnx_zoo import (
    labels_model,
    mixed_dtypes_model,
    run_in_process,
    sample_inputs,
    small_types_model,
)

MODELS = {"labels": labels_model, "mixed-dtypes": mixed_dtypes_model,
          "small_types": small_types_model}


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("onnx")
    return {name: build(folder) for name, build in MODELS.items()}


@pytest.fixture(scope="module")
def server(onnx_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[TritonServer]:
    specs = [LoadedSpec(onnx_model(name, model_file=path, max_batch_size=4), "test/specs.py")
             for name, path in onnx_files.items()]
    repo = tmp_path_factory.mktemp("repo") / "repo"
    build_repository(specs, repo)
    with start_server(repo) as running:
        yield running


@pytest.fixture(params=["http", "grpc"])
def url(request: pytest.FixtureRequest, server: TritonServer) -> str:
    return str(server.http_url if request.param == "http" else server.grpc_url)


def _assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert set(got) == set(want)
    for name, array in want.items():
        assert got[name].dtype == array.dtype, name
        np.testing.assert_array_equal(got[name], array, err_msg=name)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_model_client_infer_matches_onnxruntime_in_process(
    url: str, model: str, onnx_files: dict[str, Path]
) -> None:
    inputs = sample_inputs(model, rows=3, seed=1)
    with ModelClient(url, model) as client:
        got = client.infer(inputs)
    _assert_same(got, run_in_process(onnx_files[model], inputs))


def test_string_label_encoder_served_gives_each_strings_own_id(url: str) -> None:
    with ModelClient(url, "labels") as client:
        out = client.infer({"text": ["emu", "cat", "yak", "dog"]})
    assert out["class"].ravel().tolist() == [2, 0, -1, 1]
    assert out["label"].ravel().tolist() == [b"emu", b"cat", b"?", b"dog"]


def test_model_client_batch_above_max_batch_size_is_split_and_joined_in_order(
    url: str, onnx_files: dict[str, Path]
) -> None:
    inputs = sample_inputs("mixed-dtypes", rows=11, seed=2)  # max_batch_size 4: 3 requests
    with ModelClient(url, "mixed-dtypes") as client:
        got = client.infer(inputs)
    _assert_same(got, run_in_process(onnx_files["mixed-dtypes"], inputs))


def test_async_model_client_infer_matches_onnxruntime_in_process(
    url: str, onnx_files: dict[str, Path]
) -> None:
    inputs = sample_inputs("mixed-dtypes", rows=6, seed=3)

    async def call() -> dict[str, Any]:
        async with AsyncModelClient(url, "mixed-dtypes") as client:
            return await client.infer(inputs)

    _assert_same(asyncio.run(call()), run_in_process(onnx_files["mixed-dtypes"], inputs))


def test_model_client_wrong_dtype_names_model_and_tensor(url: str) -> None:
    inputs = sample_inputs("mixed-dtypes", rows=2)
    inputs["scale"] = inputs["scale"].astype(np.int32)
    with ModelClient(url, "mixed-dtypes") as client, pytest.raises(InvalidInputError) as error:
        client.infer(inputs)
    assert "model 'mixed-dtypes'" in str(error.value)
    assert "input 'scale'" in str(error.value) and "INT64" in str(error.value)


def test_model_client_unknown_input_lists_the_models_inputs(url: str) -> None:
    with ModelClient(url, "labels") as client, pytest.raises(InvalidInputError) as error:
        client.infer({"txt": ["cat"]})
    assert "'txt'" in str(error.value) and "'text'" in str(error.value)


def test_model_client_with_other_signature_raises_metadata_mismatch(url: str) -> None:
    expected = ModelSignature(
        inputs=(TensorSpec("text", "BYTES", (-1, 1)),),
        outputs=(TensorSpec("class", "INT32", (-1, 1)),),
        batched=True,
    )
    client = ModelClient(url, "labels", signature=expected)
    with client, pytest.raises(MetadataMismatchError) as error:
        client.infer({"text": ["cat"]})
    assert "output 'class' has datatype INT64, expected INT32" in str(error.value)
