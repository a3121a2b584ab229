"""The ``recommendation`` reference model: BPR matrix factorisation and its ONNX graph.

Training is pure numpy (mini-batch SGD on the Bayesian Personalised Ranking loss with
item biases and uniform negative sampling). The exported graph is built directly with
``onnx.helper``::

    user_id INT64 [N, 1] -> Where(id < 0, num_users, id) -> Gather(user_factors)
    -> Squeeze -> MatMul(item_factors^T) -> Add(item_bias) -> TopK(k=20, largest, sorted)
    -> item_ids INT64 [N, 20], scores FP32 [N, 20]

The graph only sees ``user_id``, so it cannot exclude items a user already consumed.
Evaluation therefore ranks *all* items for both the model and the popularity baseline
(no masking of training items), which is exactly what the served model returns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from generator.layout import write_bytes_atomic
from reference.data import TRAIN_SEED, Interactions, make_interactions

__all__ = [
    "RECSYS_INPUT",
    "RECSYS_ITEM_IDS",
    "RECSYS_SCORES",
    "TOP_K",
    "BPRConfig",
    "FactorModel",
    "RecsysEvaluation",
    "build_onnx",
    "evaluate_recommender",
    "hit_rate_at_k",
    "popularity_ranking",
    "train_bpr",
    "train_recommender",
]

RECSYS_INPUT = "user_id"
RECSYS_ITEM_IDS = "item_ids"
RECSYS_SCORES = "scores"
TOP_K = 20
OPSET = 17

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BPRConfig:
    """Hyper-parameters of :func:`train_bpr`.

    Attributes:
        factors: Latent dimension.
        epochs: Passes over the training pairs.
        batch_size: Triples (user, positive, negative) per SGD step.
        learning_rate: SGD step size.
        reg: L2 regularisation of factors and biases.
        seed: Seed of initialisation and sampling.
    """

    factors: int = 32
    epochs: int = 40
    batch_size: int = 256
    learning_rate: float = 0.05
    reg: float = 0.005
    seed: int = TRAIN_SEED


@dataclass(frozen=True)
class FactorModel:
    """A trained factor model: ``score(u, i) = user_factors[u] . item_factors[i] + bias[i]``.

    Attributes:
        user_factors: float32 [num_users, factors].
        item_factors: float32 [num_items, factors].
        item_bias: float32 [num_items].
    """

    user_factors: npt.NDArray[np.float32]
    item_factors: npt.NDArray[np.float32]
    item_bias: npt.NDArray[np.float32]

    def scores(self, user_ids: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """Scores of every item for each user, float32 [len(user_ids), num_items]."""
        out = self.user_factors[user_ids] @ self.item_factors.T + self.item_bias
        return out.astype(np.float32)


@dataclass(frozen=True)
class RecsysEvaluation:
    """Hit-rate of a recommender against the popularity baseline.

    Attributes:
        k: Cut-off of the ranking.
        hit_rate: Fraction of held-out (user, item) pairs whose item is in the user's top k.
        popularity_hit_rate: The same for the k most popular training items.
        num_test_pairs: Number of held-out pairs.
    """

    k: int
    hit_rate: float
    popularity_hit_rate: float
    num_test_pairs: int

    @property
    def lift(self) -> float:
        """``hit_rate / popularity_hit_rate`` (inf when the baseline never hits)."""
        if self.popularity_hit_rate == 0.0:
            return float("inf")
        return self.hit_rate / self.popularity_hit_rate


def train_bpr(interactions: Interactions, config: BPRConfig | None = None) -> FactorModel:
    """Trains BPR matrix factorisation with item biases (deterministic for a seed).

    Args:
        interactions: Training data; only ``interactions.train`` is used.
        config: Hyper-parameters; defaults to :class:`BPRConfig()`.

    Returns:
        The trained :class:`FactorModel`.
    """
    cfg = config or BPRConfig()
    rng = np.random.default_rng(cfg.seed)
    n_users, n_items = interactions.num_users, interactions.num_items
    users_f = rng.normal(0.0, 0.1, size=(n_users, cfg.factors))
    items_f = rng.normal(0.0, 0.1, size=(n_items, cfg.factors))
    bias = np.zeros(n_items)
    pairs = interactions.train
    seen = np.zeros((n_users, n_items), dtype=bool)
    seen[pairs[:, 0], pairs[:, 1]] = True
    lr, reg = cfg.learning_rate, cfg.reg

    for epoch in range(cfg.epochs):
        order = rng.permutation(len(pairs))
        negatives = rng.integers(0, n_items, size=len(pairs))
        total_loss = 0.0
        for start in range(0, len(order), cfg.batch_size):
            batch = order[start : start + cfg.batch_size]
            u, i = pairs[batch, 0], pairs[batch, 1]
            j = negatives[batch]
            valid = ~seen[u, j]
            u, i, j = u[valid], i[valid], j[valid]
            pu, qi, qj = users_f[u], items_f[i], items_f[j]
            x = np.sum(pu * (qi - qj), axis=1) + bias[i] - bias[j]
            total_loss += float(np.sum(np.logaddexp(0.0, -x)))
            g = 1.0 / (1.0 + np.exp(x))
            np.add.at(users_f, u, lr * (g[:, None] * (qi - qj) - reg * pu))
            np.add.at(items_f, i, lr * (g[:, None] * pu - reg * qi))
            np.add.at(items_f, j, lr * (-g[:, None] * pu - reg * qj))
            np.add.at(bias, i, lr * (g - reg * bias[i]))
            np.add.at(bias, j, lr * (-g - reg * bias[j]))
        _log.info("bpr epoch %d/%d loss %.4f", epoch + 1, cfg.epochs, total_loss / len(pairs))

    return FactorModel(
        user_factors=users_f.astype(np.float32),
        item_factors=items_f.astype(np.float32),
        item_bias=bias.astype(np.float32),
    )


def build_onnx(model: FactorModel, k: int = TOP_K) -> onnx.ModelProto:
    """Builds the served ONNX graph (opset 17) of a factor model.

    Args:
        model: The trained factors.
        k: Number of recommendations returned per user.

    Returns:
        A checked ``onnx.ModelProto`` with input ``user_id`` INT64 [N, 1] and outputs
        ``item_ids`` INT64 [N, k] and ``scores`` FP32 [N, k], sorted by descending score.
        A ``user_id`` outside [0, num_users) makes onnxruntime fail the run (Gather
        "indices element out of data bounds") instead of wrapping around.

    Raises:
        ValueError: If ``k`` is not in [1, num_items].
    """
    num_users, num_items = model.user_factors.shape[0], model.item_factors.shape[0]
    if not 1 <= k <= num_items:
        raise ValueError(f"k must be in [1, {num_items}], got {k}")
    initializers = [
        numpy_helper.from_array(model.user_factors.astype(np.float32), "user_factors"),
        numpy_helper.from_array(
            np.ascontiguousarray(model.item_factors.T.astype(np.float32)), "item_factors_t"
        ),
        numpy_helper.from_array(model.item_bias.astype(np.float32), "item_bias"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "squeeze_axes"),
        numpy_helper.from_array(np.array([k], dtype=np.int64), "top_k"),
        numpy_helper.from_array(np.array(0, dtype=np.int64), "zero"),
        numpy_helper.from_array(np.array(num_users, dtype=np.int64), "out_of_range_id"),
    ]
    nodes = [
        # Gather wraps negative indices; map them out of range so they fail instead.
        helper.make_node("Less", [RECSYS_INPUT, "zero"], ["is_negative"]),
        helper.make_node(
            "Where", ["is_negative", "out_of_range_id", RECSYS_INPUT], ["checked_user_id"]
        ),
        helper.make_node("Gather", ["user_factors", "checked_user_id"], ["user_vec3"], axis=0),
        helper.make_node("Squeeze", ["user_vec3", "squeeze_axes"], ["user_vec"]),
        helper.make_node("MatMul", ["user_vec", "item_factors_t"], ["affinity"]),
        helper.make_node("Add", ["affinity", "item_bias"], ["all_scores"]),
        helper.make_node(
            "TopK",
            ["all_scores", "top_k"],
            [RECSYS_SCORES, RECSYS_ITEM_IDS],
            axis=-1,
            largest=1,
            sorted=1,
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "recommendation",
        inputs=[helper.make_tensor_value_info(RECSYS_INPUT, TensorProto.INT64, ["batch", 1])],
        outputs=[
            helper.make_tensor_value_info(RECSYS_ITEM_IDS, TensorProto.INT64, ["batch", k]),
            helper.make_tensor_value_info(RECSYS_SCORES, TensorProto.FLOAT, ["batch", k]),
        ],
        initializer=initializers,
    )
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="triton-suite-reference",
        doc_string="BPR matrix factorisation, top-k items per user (no masking of seen items).",
    )
    proto.ir_version = 8
    onnx.checker.check_model(proto, full_check=True)
    return proto


def popularity_ranking(interactions: Interactions, k: int) -> npt.NDArray[np.int64]:
    """The ``k`` most frequent training items, most popular first (ties by lower id)."""
    counts = np.bincount(interactions.train[:, 1], minlength=interactions.num_items)
    return np.argsort(-counts, kind="stable")[:k].astype(np.int64)


def hit_rate_at_k(
    ranked_items: npt.NDArray[np.int64], test_pairs: npt.NDArray[np.int64], k: int
) -> float:
    """Fraction of held-out pairs whose item is among the user's first ``k`` items.

    Args:
        ranked_items: int64 [num_users, >= k]; row ``u`` is user ``u``'s ranking.
        test_pairs: int64 [M, 2] of (user_id, item_id).
        k: Cut-off.

    Returns:
        Hit-rate in [0, 1].

    Raises:
        ValueError: If the rankings are shorter than ``k``.
    """
    if ranked_items.shape[1] < k:
        raise ValueError(f"rankings have {ranked_items.shape[1]} items, fewer than k={k}")
    top = ranked_items[test_pairs[:, 0], :k]
    return float(np.mean(np.any(top == test_pairs[:, 1:2], axis=1)))


def _onnx_rankings(onnx_path: Path, num_users: int) -> npt.NDArray[np.int64]:
    import onnxruntime as ort

    session: Any = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    user_ids = np.arange(num_users, dtype=np.int64).reshape(-1, 1)
    (item_ids,) = session.run([RECSYS_ITEM_IDS], {RECSYS_INPUT: user_ids})
    return np.asarray(item_ids, dtype=np.int64)


def evaluate_recommender(
    onnx_path: Path, interactions: Interactions, k: int = 10
) -> RecsysEvaluation:
    """Hit-rate@k of the ONNX recommender (onnxruntime) vs the popularity baseline.

    Neither ranking excludes the user's training items (see module docstring).

    Args:
        onnx_path: The ``.onnx`` file.
        interactions: The data the model was trained on (its ``test`` split is used).
        k: Cut-off, at most the graph's top-k.

    Returns:
        The :class:`RecsysEvaluation`.
    """
    rankings = _onnx_rankings(onnx_path, interactions.num_users)
    popular = np.broadcast_to(popularity_ranking(interactions, k), (interactions.num_users, k))
    return RecsysEvaluation(
        k=k,
        hit_rate=hit_rate_at_k(rankings, interactions.test, k),
        popularity_hit_rate=hit_rate_at_k(np.asarray(popular), interactions.test, k),
        num_test_pairs=len(interactions.test),
    )


def train_recommender(out_path: Path, config: BPRConfig | None = None) -> Path:
    """Generates the interactions, trains BPR and writes the ONNX file atomically.

    Args:
        out_path: Destination ``.onnx`` file.
        config: Hyper-parameters; defaults to :class:`BPRConfig()`.

    Returns:
        ``out_path``.
    """
    cfg = config or BPRConfig()
    interactions = make_interactions(cfg.seed)
    _log.info(
        "training BPR on %d pairs (%d users, %d items)",
        len(interactions.train),
        interactions.num_users,
        interactions.num_items,
    )
    model = train_bpr(interactions, cfg)
    proto = build_onnx(model)
    data = proto.SerializeToString()
    write_bytes_atomic(out_path, data)
    _log.info("wrote %s (%d bytes)", out_path, len(data))
    return out_path
