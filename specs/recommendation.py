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
    VersionPolicy,
    Warmup,
    WarmupInput,
)
from reference.recsys import GOLDEN_FILES, RECOMMENDER_FILES

ASSETS = Path(__file__).resolve().parent / "assets"

# No queue policy: in Triton 2.51 any of max_queue_size, a default timeout,
# allow_timeout_override or priority levels turns batch prefetching off, and the batcher
# then stalls for 500 ms (docs/stall.md: p99 508 ms and a tenth of the throughput with 8
# closed-loop callers). Load is shed at the balancer instead (HAProxy maxconn + timeout
# queue answering 503, serving.lb) and by client deadlines.
recommendation = ModelSpec(
    name="recommendation",
    platform="onnxruntime_onnx",
    max_batch_size=64,
    version_policy=VersionPolicy.specific_versions(1, 2),
    dynamic_batching=DynamicBatching(
        preferred_batch_size=(16, 32),
        max_queue_delay_microseconds=1000,
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
