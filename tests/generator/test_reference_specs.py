"""The reference specs in specs/: production configs and the TensorRT-plan variant."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.grpc import model_config_pb2 as mc

from generator import build_repository, load_specs
from generator.validation import load_config
from serving import TritonServer

from .conftest import REPO_ROOT

SPECS = REPO_ROOT / "specs"


def test_default_build_has_gpu_onnx_models_and_leaves_out_the_tensorrt_variant() -> None:
    names = [s.spec.name for s in load_specs(SPECS)]
    assert names == ["image_diagnosis_preprocess", "image_diagnosis_classifier",
                     "image_diagnosis", "recommendation"]
    repo = REPO_ROOT / "model_repository"
    for model in ("image_diagnosis_classifier", "recommendation"):
        config = load_config(repo / model / "config.pbtxt")
        assert config.platform == "onnxruntime_onnx"
        assert [g.kind for g in config.instance_group] == [mc.ModelInstanceGroup.KIND_GPU]
        assert config.dynamic_batching.max_queue_delay_microseconds > 0
    accelerators = load_config(repo / "image_diagnosis_classifier" / "config.pbtxt") \
        .optimization.execution_accelerators.gpu_execution_accelerator
    assert [a.name for a in accelerators] == ["tensorrt"]


@pytest.fixture
def trt_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    plan = tmp_path / "model.plan"
    plan.write_bytes(b"stand-in: the real plan is built by trtexec on the GPU host")
    monkeypatch.setenv("IMAGE_DIAGNOSIS_TRT_PLAN", str(plan))
    out = tmp_path / "repo"
    build_repository(load_specs([SPECS, SPECS / "tensorrt"]), out)
    return out


def test_tensorrt_variant_is_a_gpu_plan_with_an_optimisation_profile_and_onnx_beside_it(
    trt_repository: Path,
) -> None:
    model_dir = trt_repository / "image_diagnosis_classifier_trt"
    config = load_config(model_dir / "config.pbtxt")
    assert config.platform == "tensorrt_plan"
    assert [(g.kind, list(g.profile)) for g in config.instance_group] == [
        (mc.ModelInstanceGroup.KIND_GPU, ["0"])]
    assert (model_dir / "1" / "model.plan").is_file()
    assert (model_dir / "1" / "model.onnx").read_bytes() == (
        SPECS / "assets" / "image_diagnosis_classifier.onnx").read_bytes()


@pytest.mark.timeout(180)
def test_embedded_server_serves_tensorrt_variant_from_its_onnx_source_like_the_classifier(
    trt_repository: Path,
) -> None:
    pixels = np.random.default_rng(0).standard_normal((2, 1, 224, 224)).astype(np.float32)
    with TritonServer(trt_repository) as server:
        assert any(s.model == "image_diagnosis_classifier_trt" for s in server.substitutions)
        client = httpclient.InferenceServerClient(server.http_address)
        try:
            results = []
            for model in ("image_diagnosis_classifier", "image_diagnosis_classifier_trt"):
                tensor = httpclient.InferInput("pixels", list(pixels.shape), "FP32")
                tensor.set_data_from_numpy(pixels)
                results.append(client.infer(model, [tensor]).as_numpy("probabilities"))
        finally:
            client.close()
    np.testing.assert_allclose(results[0], results[1], atol=1e-6)
    assert results[0].shape == (2, 3)
