"""Capture the real ``/metrics`` text of the embedded Triton 2.51 serving the reference models.

The capture is the ground truth for the Prometheus rule unit tests
(``deploy/prometheus/tests/``): every metric name, label and type they use must appear
in it, so a rule can never be tested against a metric Triton does not export.

The server runs with the metrics flags of ``docker-compose.yml`` (summaries on), serves
``model_repository/`` and answers a few successful requests to every model and a few
bad ones (bytes that are not an image), so that success, failure, queue, compute and
summary families all have samples::

    python scripts/capture_triton_metrics.py [--out FILE.prom]
"""

from __future__ import annotations

import argparse
import io
import sys
import urllib.request
from pathlib import Path

import numpy as np
import tritonclient.http as httpclient
from PIL import Image
from tritonclient.utils import InferenceServerException

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generator.layout import write_text_atomic  # noqa: E402
from serving import TritonServer  # noqa: E402

__all__ = ["capture", "image_input", "main", "noise_png", "user_input"]

DEFAULT_OUT = ROOT / "deploy" / "prometheus" / "tests" / "triton-2.51-metrics.prom"
#: The metrics flags of the ``triton`` service in docker-compose.yml.
METRICS_ARGS = (
    "--allow-metrics=true",
    "--allow-cpu-metrics=true",
    "--metrics-interval-ms=2000",
    "--metrics-config=summary_latencies=true",
)
GOOD_REQUESTS = 8
BAD_REQUESTS = 3


def noise_png(seed: int) -> bytes:
    """Return a 64x64 greyscale PNG of random pixels (the same for the same seed)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (64, 64), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def image_input(data: bytes) -> httpclient.InferInput:
    """Return the ``IMAGE`` input of ``image_diagnosis`` holding the encoded ``data``."""
    tensor = httpclient.InferInput("IMAGE", [1, len(data)], "UINT8")
    tensor.set_data_from_numpy(np.frombuffer(data, dtype=np.uint8).reshape(1, -1))
    return tensor


def user_input(user: int) -> httpclient.InferInput:
    """Return the ``user_id`` input of ``recommendation``."""
    tensor = httpclient.InferInput("user_id", [1, 1], "INT64")
    tensor.set_data_from_numpy(np.array([[user]], dtype=np.int64))
    return tensor


def _traffic(client: httpclient.InferenceServerClient) -> int:
    """Send good requests to both models and bad ones to the ensemble; return failures."""
    for index in range(GOOD_REQUESTS):
        client.infer("recommendation", [user_input(index)])
        client.infer("image_diagnosis", [image_input(noise_png(index))])
    failures = 0
    for _ in range(BAD_REQUESTS):
        try:
            client.infer("image_diagnosis", [image_input(b"this is not an image")])
        except InferenceServerException:
            failures += 1
    return failures


def capture(repository: Path) -> str:
    """Serve ``repository``, send traffic, and return the server's ``/metrics`` text."""
    with TritonServer(repository, extra_args=METRICS_ARGS, ready_timeout_s=180.0) as server:
        client = httpclient.InferenceServerClient(server.http_address)
        try:
            failures = _traffic(client)
        finally:
            client.close()
        if failures != BAD_REQUESTS:
            raise SystemExit(f"expected {BAD_REQUESTS} failed requests, saw {failures}")
        with urllib.request.urlopen(server.metrics_url, timeout=10.0) as response:
            text: str = response.read().decode("utf-8")
    return text


def main(argv: list[str] | None = None) -> int:
    """Write the capture; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", type=Path, default=ROOT / "model_repository")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    text = capture(args.repository)
    header = (
        "# Captured from the embedded Triton 2.51 by scripts/capture_triton_metrics.py "
        "(reference models, compose metrics flags). Regenerate with that script.\n"
    )
    write_text_atomic(args.out, header + text)
    print(f"wrote {args.out} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
