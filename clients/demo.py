"""End-to-end demo: serve the repository, diagnose sample images, recommend items.

Run with ``python -m clients.demo --repository model_repository``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from clients.diagnosis import ImageDiagnosisClient
from clients.errors import ClientError
from clients.recommendation import RecommendationClient

__all__ = ["main"]


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m clients.demo", description=__doc__)
    parser.add_argument("--repository", type=Path, default=Path("model_repository"),
                        help="model repository to serve (default: model_repository)")
    parser.add_argument("--images", type=int, default=6, help="sample images to diagnose")
    parser.add_argument("--users", type=int, nargs="*", default=[0, 42, 1999],
                        help="user ids to recommend for")
    parser.add_argument("--k", type=int, default=5, help="items per user")
    parser.add_argument("--ready-timeout-s", type=float, default=120.0,
                        help="how long to wait for the server to become ready")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the demo.

    Args:
        argv: Command-line arguments (``sys.argv[1:]`` when None).

    Returns:
        The process exit code (0 on success).
    """
    args = _parse_args(argv)
    # Imported here so `import clients` never needs the server or the data packages.
    from reference.data import CLASSES, HELD_OUT_SEED, encode_png, make_images
    from serving import ServerStartError, TritonNotFoundError, TritonServer

    images, labels = make_images(args.images, HELD_OUT_SEED)
    pngs = [encode_png(image) for image in images]
    try:
        with TritonServer(args.repository, ready_timeout_s=args.ready_timeout_s) as server:
            print(f"Triton ready: {server.http_url} and {server.grpc_url}")
            with ImageDiagnosisClient(server.http_url) as diagnosis:
                diagnosis.wait_until_ready(30.0)
                print(f"\nImage diagnosis over HTTP ({diagnosis.model_name}):")
                results = diagnosis.diagnose_batch(pngs)
                correct = 0
                for i, (label, result) in enumerate(zip(labels, results, strict=True)):
                    truth = CLASSES[int(label)]
                    correct += truth == result.label
                    mark = "ok " if truth == result.label else "MISS"
                    print(f"  [{mark}] image {i}: true={truth:<9} predicted={result.label:<9} "
                          f"p={result.score:.3f} (v{result.model_version})")
                print(f"  {correct}/{len(results)} correct")
            with RecommendationClient(server.grpc_url) as recommendation:
                recommendation.wait_until_ready(30.0)
                print(f"\nRecommendations over gRPC (top {args.k}):")
                for user, recs in zip(
                    args.users, recommendation.recommend_batch(args.users, args.k), strict=True
                ):
                    items = ", ".join(f"{r.item_id} ({r.score:.2f})" for r in recs)
                    print(f"  user {user}: {items}")
    except (ClientError, ServerStartError, TritonNotFoundError) as exc:
        print(f"demo failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
