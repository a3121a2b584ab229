"""The ``image_diagnosis_classifier`` reference CNN: training (PyTorch) and evaluation.

Training needs the optional ``train`` extra (``pip install -e '.[train]'``); torch is
imported only inside :func:`train_classifier`. Evaluation and latency measurement use
onnxruntime only.

Architecture (input ``pixels`` [N, 1, 224, 224], normalised as in
:func:`reference.data.preprocess`): eight 3x3 conv + BatchNorm + ReLU layers, five of
them with stride 2 (channels 16, 16, 24, 24, 32, 48, 64, 64; 224 -> 7 px), global
average and global max pooling concatenated (128 features), a linear layer to the 3
classes and a softmax, exported as output ``probabilities`` [N, 3] (opset 17, dynamic
batch axis). About 69 M multiply-adds per image, 97 k parameters.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from generator.layout import write_bytes_atomic
from reference.data import CLASSES, TRAIN_SEED, encode_png, make_images, preprocess

__all__ = [
    "CLASSIFIER_INPUT",
    "CLASSIFIER_OUTPUT",
    "ClassifierEvaluation",
    "TrainConfig",
    "evaluate_classifier",
    "measure_latency_ms",
    "preprocess_batch",
    "train_classifier",
]

CLASSIFIER_INPUT = "pixels"
CLASSIFIER_OUTPUT = "probabilities"
OPSET = 17
# (out_channels, stride) of each 3x3 conv + BatchNorm + ReLU layer: 224 -> 7 px.
_LAYERS = ((16, 2), (16, 1), (24, 2), (24, 1), (32, 2), (48, 2), (64, 2), (64, 1))

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of :func:`train_classifier`.

    Attributes:
        num_train_images: Size of the generated training set.
        epochs: Passes over the training set.
        batch_size: Mini-batch size.
        learning_rate: Peak AdamW learning rate (one-cycle schedule).
        seed: Seed of data generation, weight init and shuffling.
        num_threads: Torch intra-op threads (fixed for reproducibility).
    """

    num_train_images: int = 2400
    epochs: int = 8
    batch_size: int = 32
    learning_rate: float = 3e-3
    seed: int = TRAIN_SEED
    num_threads: int = 2


@dataclass(frozen=True)
class ClassifierEvaluation:
    """Accuracy of an ONNX classifier on a generated evaluation set.

    Attributes:
        accuracy: Fraction of correctly classified images.
        num_images: Size of the evaluation set.
        per_class_accuracy: Accuracy per class name.
    """

    accuracy: float
    num_images: int
    per_class_accuracy: dict[str, float]


def preprocess_batch(images: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """PNG-encodes each image and applies the contract preprocessing.

    Args:
        images: uint8 array [N, H, W].

    Returns:
        float32 array [N, 1, 224, 224], exactly what the served preprocess model emits.
    """
    return np.stack([preprocess(encode_png(image)) for image in images]).astype(np.float32)


def _build_model() -> Any:
    import torch
    from torch import nn

    class DiagnosisNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers: list[nn.Module] = []
            in_ch = 1
            for out_ch, stride in _LAYERS:
                layers += [
                    nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False),
                    nn.BatchNorm2d(out_ch),
                    nn.ReLU(inplace=True),
                ]
                in_ch = out_ch
            self.features = nn.Sequential(*layers)
            self.head = nn.Linear(2 * in_ch, len(CLASSES))

        def logits(self, x: torch.Tensor) -> torch.Tensor:
            f = self.features(x)
            pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
            return cast("torch.Tensor", self.head(pooled))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.logits(x), dim=1)

    return DiagnosisNet()


def train_classifier(out_path: Path, config: TrainConfig | None = None) -> Path:
    """Trains the CNN on generated images and writes the ONNX file atomically.

    Args:
        out_path: Destination ``.onnx`` file (written via a temporary sibling).
        config: Hyper-parameters; defaults to :class:`TrainConfig()`.

    Returns:
        ``out_path``.

    Raises:
        ImportError: If torch (the ``train`` extra) is not installed.
    """
    cfg = config or TrainConfig()
    try:
        import torch
        from torch import nn
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "training the image classifier needs torch: pip install -e '.[train]'"
        ) from exc

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.num_threads)
    torch.use_deterministic_algorithms(True)

    _log.info("generating %d training images (seed %d)", cfg.num_train_images, cfg.seed)
    images, labels = make_images(cfg.num_train_images, cfg.seed)
    x_all = torch.from_numpy(preprocess_batch(images))
    y_all = torch.from_numpy(labels)

    model = _build_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=1e-4)
    steps_per_epoch = (len(x_all) + cfg.batch_size - 1) // cfg.batch_size
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=cfg.learning_rate, total_steps=cfg.epochs * steps_per_epoch
    )
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(cfg.seed)

    for epoch in range(cfg.epochs):
        model.train()
        started = time.perf_counter()
        order = torch.randperm(len(x_all), generator=generator)
        total_loss, correct = 0.0, 0
        for start in range(0, len(order), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            xb, yb = x_all[idx], y_all[idx]
            if torch.rand(1, generator=generator).item() < 0.5:
                xb = torch.flip(xb, dims=(3,))
            logits = model.logits(xb)
            loss = loss_fn(logits, yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            total_loss += float(loss.item()) * len(idx)
            correct += int((logits.argmax(dim=1) == yb).sum().item())
        _log.info(
            "epoch %d/%d loss %.4f train_acc %.4f (%.1f s)",
            epoch + 1,
            cfg.epochs,
            total_loss / len(x_all),
            correct / len(x_all),
            time.perf_counter() - started,
        )

    model.eval()
    with tempfile.TemporaryDirectory(prefix="reference-export-") as tmp_dir:
        exported = Path(tmp_dir) / "model.onnx"
        _export_onnx(torch, model, exported)
        data = exported.read_bytes()
    write_bytes_atomic(out_path, data)
    _log.info("wrote %s (%d bytes)", out_path, len(data))
    return out_path


def _export_onnx(torch: Any, model: Any, path: Path) -> None:
    torch.onnx.export(
        model,
        (torch.zeros(1, 1, 224, 224),),
        str(path),
        dynamo=False,
        opset_version=OPSET,
        input_names=[CLASSIFIER_INPUT],
        output_names=[CLASSIFIER_OUTPUT],
        dynamic_axes={CLASSIFIER_INPUT: {0: "batch"}, CLASSIFIER_OUTPUT: {0: "batch"}},
        do_constant_folding=True,
    )


def _session(onnx_path: Path, num_threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(
        str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
    )


def evaluate_classifier(
    onnx_path: Path, num_images: int, seed: int, *, batch_size: int = 32
) -> ClassifierEvaluation:
    """Measures accuracy of an ONNX classifier with onnxruntime on generated images.

    Args:
        onnx_path: The ``.onnx`` file.
        num_images: Size of the evaluation set.
        seed: Seed of the evaluation set (use ``HELD_OUT_SEED`` for held-out data).
        batch_size: Inference batch size.

    Returns:
        The :class:`ClassifierEvaluation`.
    """
    session = _session(onnx_path, num_threads=2)
    images, labels = make_images(num_images, seed)
    pixels = preprocess_batch(images)
    predicted = np.empty(num_images, dtype=np.int64)
    for start in range(0, num_images, batch_size):
        (probs,) = session.run(
            [CLASSIFIER_OUTPUT], {CLASSIFIER_INPUT: pixels[start : start + batch_size]}
        )
        predicted[start : start + batch_size] = np.argmax(probs, axis=1)
    per_class = {
        name: float(np.mean(predicted[labels == i] == i)) if np.any(labels == i) else 0.0
        for i, name in enumerate(CLASSES)
    }
    return ClassifierEvaluation(
        accuracy=float(np.mean(predicted == labels)),
        num_images=num_images,
        per_class_accuracy=per_class,
    )


def measure_latency_ms(
    onnx_path: Path, *, batch_size: int = 1, repeats: int = 50, num_threads: int = 1
) -> float:
    """Median onnxruntime CPU latency per image, in milliseconds.

    Args:
        onnx_path: The ``.onnx`` file.
        batch_size: Images per ``run`` call.
        repeats: Timed calls (after 5 warm-up calls).
        num_threads: onnxruntime intra-op threads.

    Returns:
        Median wall time of one call divided by ``batch_size``, in ms.
    """
    session = _session(onnx_path, num_threads=num_threads)
    rng = np.random.default_rng(0)
    batch = rng.uniform(-1.0, 1.0, size=(batch_size, 1, 224, 224)).astype(np.float32)
    for _ in range(5):
        session.run([CLASSIFIER_OUTPUT], {CLASSIFIER_INPUT: batch})
    timings_s = []
    for _ in range(repeats):
        started = time.perf_counter()
        session.run([CLASSIFIER_OUTPUT], {CLASSIFIER_INPUT: batch})
        timings_s.append(time.perf_counter() - started)
    return float(np.median(timings_s)) * 1000.0 / batch_size
