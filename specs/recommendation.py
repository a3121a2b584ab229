"""Recommendation: a matrix-factorisation model whose graph returns the top K items.

Input ``user_id`` INT64 [1]; outputs ``item_ids`` INT64 [K] and ``scores``
FP32 [K], sorted by descending score. Inputs and outputs are read from the
ONNX file, so the spec only says how to serve it.

Two versions share the model folder (``python -m reference train`` writes both):

* version 1 fails a request whose ``user_id`` is outside the 2000 known users;
* version 2 answers such a user with the popularity top K, computed in the graph.

Each version folder also holds ``golden.json``: inputs and the outputs that version
must produce, computed offline from its ONNX file. ``python -m serving.release``
compares the served version with it before it switches traffic (smoke check).

Both versions are served; an unpinned request goes to the highest READY version.
On a server in explicit model-control mode the release controller narrows the
policy to one version at a time (see docs/releases.md).
"""

from pathlib import Path

from generator.presets import gpu_instances
from generator.spec import (
    DataType,
    DynamicBatching,
    ModelSpec,
    QueuePolicy,
    VersionPolicy,
    Warmup,
    WarmupInput,
)
from reference.recsys import GOLDEN_FILES, RECOMMENDER_FILES

ASSETS = Path(__file__).resolve().parent / "assets"

# Shedding (docs/reference_models.md): one CPU instance on the 2-core host answers
# about 1,200 requests/s at 32 concurrent calls. 256 queued requests are ~0.2 s of work;
# past that Triton refuses at once (HTTP 503 / gRPC UNAVAILABLE). The 5 s timeout only
# bounds waits when the server stalls (loading a version on 2 busy cores stalled the
# queue for over 1 s), so a version switch never sheds work.
MAX_QUEUE_SIZE = 256
QUEUE_TIMEOUT_US = 5_000_000

recommendation = ModelSpec(
    name="recommendation",
    platform="onnxruntime_onnx",
    max_batch_size=64,
    version_policy=VersionPolicy.specific_versions(1, 2),
    dynamic_batching=DynamicBatching(
        preferred_batch_size=(16, 32),
        max_queue_delay_microseconds=1000,
        default_queue_policy=QueuePolicy(
            max_queue_size=MAX_QUEUE_SIZE,
            default_timeout_microseconds=QUEUE_TIMEOUT_US,
            allow_timeout_override=True,
        ),
    ),
    instance_groups=(gpu_instances(count=1),),
    model_warmup=(
        Warmup(
            name="known_user_batch_1",
            batch_size=1,
            inputs={"user_id": WarmupInput(data_type=DataType.INT64, dims=(1,), zero_data=True)},
            count=2,
        ),
        Warmup(
            name="known_user_batch_32",
            batch_size=32,
            inputs={"user_id": WarmupInput(data_type=DataType.INT64, dims=(1,), zero_data=True)},
            count=1,
        ),
    ),
    versions={
        version: {"model.onnx": ASSETS / RECOMMENDER_FILES[version],
                  "golden.json": ASSETS / GOLDEN_FILES[version]}
        for version in (1, 2)
    },
)

MODELS = [recommendation]
