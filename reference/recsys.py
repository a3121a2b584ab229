"""The ``recommendation`` reference model: BPR matrix factorisation and its ONNX graph.

Training is pure numpy (mini-batch SGD on the Bayesian Personalised Ranking loss with
item biases and uniform negative sampling). The exported graph is built directly with
``onnx.helper``::

    user_id INT64 [N, 1] -> Where(id < 0, num_users, id) -> Gather(user_factors)
    -> Squeeze -> MatMul(item_factors^T) -> Add(item_bias) -> TopK(k=20, largest, sorted)
    -> item_ids INT64 [N, 20], scores FP32 [N, 20]

Version 1 fails the whole request for an id outside [0, num_users) (Gather out of
range). Version 2 (``build_onnx(..., popularity=...)``) serves such unknown users the
popularity ranking instead, computed in the graph::

    known = 0 <= id < num_users;  Gather(user_factors, Where(known, id, 0)) -> ...
    all_scores = Where(known, user_scores, popularity) -> TopK

The graph only sees ``user_id``, so it cannot exclude items a user already consumed.
Evaluation therefore ranks *all* items for both the model and the popularity baseline
(no masking of training items), which is exactly what the served model returns.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from generator.layout import write_bytes_atomic
from reference.data import NUM_USERS, TRAIN_SEED, Interactions, make_interactions
from serving.release.golden import GoldenCase, GoldenSet, GoldenTensor, write_golden

__all__ = [
    "GOLDEN_FILES",
    "GOLDEN_KNOWN_USERS",
    "GOLDEN_UNKNOWN_USERS",
    "RECOMMENDER_FILES",
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
    "make_golden",
    "popularity_ranking",
    "popularity_scores",
    "train_bpr",
    "train_recommender",
]

RECSYS_INPUT = "user_id"
RECSYS_ITEM_IDS = "item_ids"
RECSYS_SCORES = "scores"
TOP_K = 20
OPSET = 17

RECOMMENDER_FILES: dict[int, str] = {1: "recommendation.onnx", 2: "recommendation_v2.onnx"}
"""Version -> file name in ``specs/assets`` of the recommender's ONNX graph."""
GOLDEN_FILES: dict[int, str] = {
    1: "recommendation_v1.golden.json",
    2: "recommendation_v2.golden.json",
}
"""Version -> golden file (inputs and expected outputs) in ``specs/assets``."""
GOLDEN_KNOWN_USERS: tuple[int, ...] = (0, 1, 1999)
"""Users of every version's golden file."""
GOLDEN_UNKNOWN_USERS: tuple[int, ...] = (2000, 10**12)
"""Unknown users of version 2's golden file (version 1 fails on them)."""

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


def build_onnx(
    model: FactorModel, k: int = TOP_K, *, popularity: npt.NDArray[np.float32] | None = None
) -> onnx.ModelProto:
    """Builds the served ONNX graph (opset 17) of a factor model.

    Args:
        model: The trained factors.
        k: Number of recommendations returned per user.
        popularity: Version 2: float32 [num_items] scores served to unknown users (see
            :func:`popularity_scores`). None builds version 1, which has no fallback.

    Returns:
        A checked ``onnx.ModelProto`` with input ``user_id`` INT64 [N, 1] and outputs
        ``item_ids`` INT64 [N, k] and ``scores`` FP32 [N, k], sorted by descending score.
        Without ``popularity``, a ``user_id`` outside [0, num_users) makes onnxruntime
        fail the run (Gather "indices element out of data bounds") instead of wrapping
        around; with it, such a user gets the ``k`` most popular items (ties: lower
        item id first) and their popularity as scores.

    Raises:
        ValueError: If ``k`` is not in [1, num_items], or ``popularity`` is not one
            score per item.
    """
    num_users, num_items = model.user_factors.shape[0], model.item_factors.shape[0]
    if not 1 <= k <= num_items:
        raise ValueError(f"k must be in [1, {num_items}], got {k}")
    if popularity is not None:
        if popularity.shape != (num_items,):
            raise ValueError(
                f"popularity must have shape ({num_items},), got {popularity.shape}"
            )
        return _finish_graph(_cold_start_graph(model, k, popularity, num_users), k)
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
    return _finish_graph((nodes, initializers, _V1_DOC), k)


_V1_DOC = "BPR matrix factorisation, top-k items per user (no masking of seen items)."
_V2_DOC = (
    "BPR matrix factorisation, top-k items per user (no masking of seen items); "
    "unknown user ids get the popularity top-k."
)
_GraphParts = tuple[list[onnx.NodeProto], list[onnx.TensorProto], str]


def _cold_start_graph(
    model: FactorModel, k: int, popularity: npt.NDArray[np.float32], num_users: int
) -> _GraphParts:
    initializers = [
        numpy_helper.from_array(model.user_factors.astype(np.float32), "user_factors"),
        numpy_helper.from_array(
            np.ascontiguousarray(model.item_factors.T.astype(np.float32)), "item_factors_t"
        ),
        numpy_helper.from_array(model.item_bias.astype(np.float32), "item_bias"),
        numpy_helper.from_array(popularity.astype(np.float32), "popularity"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "squeeze_axes"),
        numpy_helper.from_array(np.array([k], dtype=np.int64), "top_k"),
        numpy_helper.from_array(np.array(0, dtype=np.int64), "zero"),
        numpy_helper.from_array(np.array(num_users, dtype=np.int64), "num_users"),
    ]
    nodes = [
        helper.make_node("GreaterOrEqual", [RECSYS_INPUT, "zero"], ["not_negative"]),
        helper.make_node("Less", [RECSYS_INPUT, "num_users"], ["below_num_users"]),
        helper.make_node("And", ["not_negative", "below_num_users"], ["is_known"]),
        # Unknown ids read row 0 (always in range); their scores are replaced below.
        helper.make_node("Where", ["is_known", RECSYS_INPUT, "zero"], ["safe_user_id"]),
        helper.make_node("Gather", ["user_factors", "safe_user_id"], ["user_vec3"], axis=0),
        helper.make_node("Squeeze", ["user_vec3", "squeeze_axes"], ["user_vec"]),
        helper.make_node("MatMul", ["user_vec", "item_factors_t"], ["affinity"]),
        helper.make_node("Add", ["affinity", "item_bias"], ["user_scores"]),
        helper.make_node("Where", ["is_known", "user_scores", "popularity"], ["all_scores"]),
        helper.make_node(
            "TopK",
            ["all_scores", "top_k"],
            [RECSYS_SCORES, RECSYS_ITEM_IDS],
            axis=-1,
            largest=1,
            sorted=1,
        ),
    ]
    return nodes, initializers, _V2_DOC


def _finish_graph(parts: _GraphParts, k: int) -> onnx.ModelProto:
    nodes, initializers, doc = parts
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
        doc_string=doc,
    )
    proto.ir_version = 8
    onnx.checker.check_model(proto, full_check=True)
    return proto


def popularity_ranking(interactions: Interactions, k: int) -> npt.NDArray[np.int64]:
    """The ``k`` most frequent training items, most popular first (ties by lower id)."""
    counts = np.bincount(interactions.train[:, 1], minlength=interactions.num_items)
    return np.argsort(-counts, kind="stable")[:k].astype(np.int64)


def popularity_scores(interactions: Interactions) -> npt.NDArray[np.float32]:
    """Each item's share of the training interactions, float32 [num_items].

    Sorting by it (descending, ties by lower id) gives :func:`popularity_ranking`.
    """
    counts = np.bincount(interactions.train[:, 1], minlength=interactions.num_items)
    return (counts / max(1, len(interactions.train))).astype(np.float32)


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


def make_golden(
    onnx_path: Path, version: int, user_ids: Sequence[int], model: str = "recommendation"
) -> GoldenSet:
    """The golden cases of a recommender version, computed with onnxruntime on its file.

    Args:
        onnx_path: The version's ``.onnx`` file.
        version: The version number recorded in the golden set.
        user_ids: One case (a batch-1 request) per id.
        model: Model name recorded in the golden set.

    Returns:
        The :class:`~serving.release.golden.GoldenSet` the served version must reproduce.
    """
    import onnxruntime as ort

    session: Any = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    cases = []
    for user_id in user_ids:
        feed = np.array([[user_id]], dtype=np.int64)
        item_ids, scores = session.run([RECSYS_ITEM_IDS, RECSYS_SCORES], {RECSYS_INPUT: feed})
        known = 0 <= user_id < NUM_USERS
        cases.append(GoldenCase(
            name=f"{'known' if known else 'unknown'} user {user_id}",
            inputs={RECSYS_INPUT: GoldenTensor.from_numpy(feed)},
            outputs={
                RECSYS_ITEM_IDS: GoldenTensor.from_numpy(np.asarray(item_ids, dtype=np.int64)),
                RECSYS_SCORES: GoldenTensor.from_numpy(np.asarray(scores, dtype=np.float32)),
            },
        ))
    return GoldenSet(model=model, version=version, cases=tuple(cases))


def train_recommender(out_dir: Path, config: BPRConfig | None = None) -> list[Path]:
    """Generates the interactions, trains BPR once and writes both versions atomically.

    Version 1 (:data:`RECOMMENDER_FILES` ``[1]``) has no fallback for unknown users;
    version 2 serves them the popularity ranking. Each gets a golden file
    (:data:`GOLDEN_FILES`) computed from its own ONNX file.

    Args:
        out_dir: Destination folder (``specs/assets``).
        config: Hyper-parameters; defaults to :class:`BPRConfig()`.

    Returns:
        The files written.
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
    protos = {
        1: build_onnx(model),
        2: build_onnx(model, popularity=popularity_scores(interactions)),
    }
    written: list[Path] = []
    for version, proto in protos.items():
        onnx_path = Path(out_dir) / RECOMMENDER_FILES[version]
        data = proto.SerializeToString()
        write_bytes_atomic(onnx_path, data)
        _log.info("wrote %s (%d bytes)", onnx_path, len(data))
        users = GOLDEN_KNOWN_USERS + (GOLDEN_UNKNOWN_USERS if version >= 2 else ())
        golden_file = Path(out_dir) / GOLDEN_FILES[version]
        write_golden(golden_file, make_golden(onnx_path, version, users))
        written += [onnx_path, golden_file]
    return written
