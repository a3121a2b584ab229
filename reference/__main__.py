"""Command line: ``python -m reference train|evaluate``.

Examples::

    python -m reference train --what all --out specs/assets
    python -m reference evaluate --assets specs/assets
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from generator.layout import write_bytes_atomic
from reference.data import (
    CLASSES,
    HELD_OUT_SEED,
    TRAIN_SEED,
    encode_png,
    make_images,
    make_interactions,
)

CLASSIFIER_FILE = "image_diagnosis_classifier.onnx"
LABELS_FILE = "labels.txt"
WARMUP_IMAGE_FILE = "warmup_scan.png"
"""A held-out radiograph that Triton sends to the preprocessing model as its warm-up."""

_log = logging.getLogger("reference")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m reference", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="retrain deterministically and write the ONNX files")
    train.add_argument("--what", choices=("image", "recsys", "warmup", "all"), default="all",
                       help="warmup: only the warm-up image (needs no torch)")
    train.add_argument("--out", type=Path, default=Path("specs/assets"))
    evaluate = sub.add_parser("evaluate", help="evaluate the ONNX files with onnxruntime")
    evaluate.add_argument("--what", choices=("image", "recsys", "all"), default="all")
    evaluate.add_argument("--assets", type=Path, default=Path("specs/assets"))
    evaluate.add_argument("--num-images", type=int, default=600)
    return parser


def _train(what: str, out: Path) -> None:
    if what in ("warmup", "image", "all"):
        images, _ = make_images(1, HELD_OUT_SEED)
        write_bytes_atomic(out / WARMUP_IMAGE_FILE, encode_png(images[0]))
    if what in ("image", "all"):
        from reference.image_model import train_classifier

        train_classifier(out / CLASSIFIER_FILE)
        write_bytes_atomic(out / LABELS_FILE, "".join(f"{c}\n" for c in CLASSES).encode())
    if what in ("recsys", "all"):
        from reference.recsys import train_recommender

        train_recommender(out)


def _evaluate(what: str, assets: Path, num_images: int) -> None:
    if what in ("image", "all"):
        from reference.image_model import evaluate_classifier, measure_latency_ms

        result = evaluate_classifier(assets / CLASSIFIER_FILE, num_images, HELD_OUT_SEED)
        print(f"classifier accuracy: {result.accuracy:.4f} on {result.num_images} held-out images")
        for name, accuracy in result.per_class_accuracy.items():
            print(f"  {name:<9} {accuracy:.4f}")
        single_ms = measure_latency_ms(assets / CLASSIFIER_FILE, batch_size=1, num_threads=1)
        batched_ms = measure_latency_ms(
            assets / CLASSIFIER_FILE, batch_size=32, num_threads=2, repeats=10
        )
        print(f"classifier latency: {single_ms:.2f} ms/image (batch 1, 1 thread)")
        print(f"classifier latency: {batched_ms:.2f} ms/image (batch 32, 2 threads)")
    if what in ("recsys", "all"):
        from reference.recsys import RECOMMENDER_FILES, evaluate_recommender

        interactions = make_interactions(TRAIN_SEED)
        for version, filename in sorted(RECOMMENDER_FILES.items()):
            rec = evaluate_recommender(assets / filename, interactions)
            print(
                f"recommendation v{version} hit-rate@{rec.k}: {rec.hit_rate:.4f}, popularity "
                f"baseline {rec.popularity_hit_rate:.4f} (x{rec.lift:.2f}) on "
                f"{rec.num_test_pairs} pairs"
            )


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the process exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.command == "train":
        _train(args.what, args.out)
    else:
        _evaluate(args.what, args.assets, args.num_images)
    return 0


if __name__ == "__main__":
    sys.exit(main())
