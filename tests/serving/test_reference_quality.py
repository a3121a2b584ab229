"""The served reference models meet their quality bars, through plain tritonclient.

Accuracy of the ``image_diagnosis`` ensemble and hit-rate@10 of
``recommendation`` are measured on held-out synthetic data over HTTP and gRPC,
and served outputs are compared with in-process onnxruntime on the same inputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from reference.data import (
    HELD_OUT_SEED,
    TRAIN_SEED,
    encode_png,
    make_images,
    make_interactions,
    preprocess,
)
from reference.recsys import hit_rate_at_k, popularity_ranking
from serving import TritonServer

HELD_OUT_IMAGES = 300
BATCH = 32
PROTOCOLS = ("http", "grpc")


@pytest.fixture(params=PROTOCOLS)
def client(request: pytest.FixtureRequest, triton_server: TritonServer) -> Iterator[Any]:
    """A raw tritonclient for each protocol, closed after the test."""
    if request.param == "http":
        c: Any = httpclient.InferenceServerClient(triton_server.http_address)
    else:
        c = grpcclient.InferenceServerClient(triton_server.grpc_address)
    c.module = httpclient if request.param == "http" else grpcclient
    yield c
    c.close()


def _infer(client: Any, model: str, name: str, array: np.ndarray, datatype: str,
           outputs: tuple[str, ...]) -> list[np.ndarray]:
    tensor = client.module.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array)
    result = client.infer(model, [tensor])
    return [result.as_numpy(o) for o in outputs]


def _padded(encoded: list[bytes]) -> np.ndarray:
    rows = np.zeros((len(encoded), max(len(e) for e in encoded)), dtype=np.uint8)
    for i, data in enumerate(encoded):
        rows[i, : len(data)] = np.frombuffer(data, dtype=np.uint8)
    return rows


@pytest.fixture(scope="module")
def held_out() -> tuple[list[bytes], np.ndarray]:
    images, labels = make_images(HELD_OUT_IMAGES, seed=HELD_OUT_SEED)
    return [encode_png(image) for image in images], labels


@pytest.mark.timeout(300)
def test_served_ensemble_accuracy_is_at_least_95_percent_on_held_out_images(
    client: Any, held_out: tuple[list[bytes], np.ndarray],
) -> None:
    encoded, labels = held_out
    predicted = []
    for start in range(0, len(encoded), BATCH):
        (probabilities,) = _infer(client, "image_diagnosis", "IMAGE",
                                  _padded(encoded[start:start + BATCH]), "UINT8",
                                  ("PROBABILITIES",))
        predicted.append(np.argmax(probabilities, axis=1))
    accuracy = float(np.mean(np.concatenate(predicted) == labels))
    assert accuracy >= 0.95, f"accuracy {accuracy:.3f} on {len(labels)} held-out images"


@pytest.mark.timeout(300)
def test_served_recommendation_hit_rate_at_10_is_at_least_twice_popularity_baseline(
    client: Any,
) -> None:
    interactions = make_interactions(TRAIN_SEED)  # the model's data; its .test split is held out
    users = np.arange(interactions.num_users, dtype=np.int64).reshape(-1, 1)
    rankings = []
    for start in range(0, len(users), 64):
        (items,) = _infer(client, "recommendation", "user_id", users[start:start + 64], "INT64",
                          ("item_ids",))
        rankings.append(items)
    served = hit_rate_at_k(np.concatenate(rankings), interactions.test, 10)
    popular = np.broadcast_to(popularity_ranking(interactions, 10), (len(users), 10))
    baseline = hit_rate_at_k(np.asarray(popular), interactions.test, 10)
    assert served >= 2 * baseline, f"hit-rate@10 {served:.3f} vs popularity {baseline:.3f}"


def test_served_classifier_and_ensemble_match_in_process_onnxruntime_within_1e_5(
    client: Any, repo_root: Path, held_out: tuple[list[bytes], np.ndarray],
) -> None:
    encoded = held_out[0][:8]
    pixels = np.stack([preprocess(data) for data in encoded])
    session = ort.InferenceSession(
        str(repo_root / "model_repository" / "image_diagnosis_classifier" / "1" / "model.onnx"),
        providers=["CPUExecutionProvider"],
    )
    (expected,) = session.run(["probabilities"], {"pixels": pixels})
    (served,) = _infer(client, "image_diagnosis_classifier", "pixels", pixels, "FP32",
                       ("probabilities",))
    (through_ensemble,) = _infer(client, "image_diagnosis", "IMAGE", _padded(encoded), "UINT8",
                                 ("PROBABILITIES",))
    np.testing.assert_allclose(served, expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(through_ensemble, expected, atol=1e-5, rtol=0)


def test_served_recommendation_matches_in_process_onnxruntime_within_1e_5(
    client: Any, repo_root: Path,
) -> None:
    users = np.array([[0], [7], [1234], [1999]], dtype=np.int64)
    session = ort.InferenceSession(
        str(repo_root / "model_repository" / "recommendation" / "1" / "model.onnx"),
        providers=["CPUExecutionProvider"],
    )
    expected_items, expected_scores = session.run(["item_ids", "scores"], {"user_id": users})
    items, scores = _infer(client, "recommendation", "user_id", users, "INT64",
                           ("item_ids", "scores"))
    np.testing.assert_array_equal(items, expected_items)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-5, rtol=0)
    assert np.all(np.diff(scores, axis=1) <= 0), "scores are not sorted in descending order"
