"""The project's own model_repository/ served (adapted) by the session ``triton_server``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import tritonclient.grpc as grpcclient

from serving import TritonServer

MODELS = ("image_diagnosis", "image_diagnosis_classifier", "image_diagnosis_preprocess",
          "recommendation")


def test_reference_repository_serves_every_model_when_adapted_for_cpu(
    triton_server: TritonServer,
) -> None:
    client = grpcclient.InferenceServerClient(triton_server.grpc_address)
    try:
        assert all(client.is_model_ready(name) for name in MODELS)
    finally:
        client.close()
    adapted = {s.model for s in triton_server.substitutions if s.what == "platform"}
    assert adapted == {"image_diagnosis_classifier", "recommendation"}


def test_reference_recommendation_matches_inprocess_onnxruntime_for_two_users(
    triton_server: TritonServer, repo_root: Path,
) -> None:
    users = np.array([[3], [1999]], dtype=np.int64)
    client = grpcclient.InferenceServerClient(triton_server.grpc_address)
    try:
        tensor = grpcclient.InferInput("user_id", [2, 1], "INT64")
        tensor.set_data_from_numpy(users)
        result = client.infer("recommendation", [tensor])
    finally:
        client.close()
    session = ort.InferenceSession(
        str(repo_root / "model_repository" / "recommendation" / "1" / "model.onnx"),
        providers=["CPUExecutionProvider"],
    )
    item_ids, scores = session.run(["item_ids", "scores"], {"user_id": users})
    np.testing.assert_array_equal(result.as_numpy("item_ids"), item_ids)
    np.testing.assert_allclose(result.as_numpy("scores"), scores, atol=1e-5, rtol=0)
    served_scores = result.as_numpy("scores")
    assert served_scores.shape == (2, 20)
    assert np.all(np.diff(served_scores, axis=1) <= 0), "scores must be sorted descending"
