"""Version 2 of the recommender: unknown users get the popularity top K, in the graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from reference.data import TRAIN_SEED, make_interactions
from reference.recsys import (
    GOLDEN_FILES,
    RECOMMENDER_FILES,
    BPRConfig,
    FactorModel,
    build_onnx,
    evaluate_recommender,
    make_golden,
    popularity_ranking,
    popularity_scores,
    train_recommender,
)
from serving.release import compare_outputs, load_golden


def _session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("user_id", [-1, 2000, 10**12])
def test_version_2_returns_the_popularity_top_20_when_the_user_is_unknown(
    assets_dir: Path, user_id: int
) -> None:
    item_ids, scores = _session(assets_dir / RECOMMENDER_FILES[2]).run(
        ["item_ids", "scores"], {"user_id": np.array([[user_id]], dtype=np.int64)}
    )

    interactions = make_interactions(TRAIN_SEED)
    expected = popularity_ranking(interactions, 20)
    assert item_ids[0].tolist() == expected.tolist()
    np.testing.assert_allclose(scores[0], popularity_scores(interactions)[expected])


def test_version_2_answers_known_and_unknown_users_in_one_batch(assets_dir: Path) -> None:
    users = np.array([[0], [10**12], [1999]], dtype=np.int64)

    v1_known = _session(assets_dir / RECOMMENDER_FILES[1]).run(
        ["item_ids"], {"user_id": users[[0, 2]]})[0]
    v2 = _session(assets_dir / RECOMMENDER_FILES[2]).run(["item_ids"], {"user_id": users})[0]

    assert np.array_equal(v2[[0, 2]], v1_known)
    assert v2[1].tolist() == popularity_ranking(make_interactions(TRAIN_SEED), 20).tolist()


def test_version_2_hit_rate_for_known_users_is_at_least_version_1s(assets_dir: Path) -> None:
    interactions = make_interactions(TRAIN_SEED)

    v1 = evaluate_recommender(assets_dir / RECOMMENDER_FILES[1], interactions, k=10)
    v2 = evaluate_recommender(assets_dir / RECOMMENDER_FILES[2], interactions, k=10)

    assert v2.hit_rate >= v1.hit_rate
    assert v2.hit_rate >= 2.0 * v2.popularity_hit_rate


def test_build_onnx_raises_value_error_when_popularity_is_not_one_score_per_item() -> None:
    model = FactorModel(
        user_factors=np.zeros((2, 2), dtype=np.float32),
        item_factors=np.zeros((3, 2), dtype=np.float32),
        item_bias=np.zeros(3, dtype=np.float32),
    )
    with pytest.raises(ValueError, match=r"popularity must have shape \(3,\)"):
        build_onnx(model, k=2, popularity=np.zeros(4, dtype=np.float32))


@pytest.mark.parametrize("version", [1, 2])
def test_committed_golden_file_matches_its_onnx_file(assets_dir: Path, version: int) -> None:
    golden = load_golden(assets_dir / GOLDEN_FILES[version])
    session = _session(assets_dir / RECOMMENDER_FILES[version])

    problems = []
    for case in golden.cases:
        feeds = {name: t.to_numpy() for name, t in case.inputs.items()}
        outputs = dict(zip(sorted(case.outputs), session.run(sorted(case.outputs), feeds),
                           strict=True))
        problems += compare_outputs(golden, case, outputs)

    assert (golden.model, golden.version) == ("recommendation", version)
    assert problems == []
    assert any(c.name.startswith("unknown") for c in golden.cases) == (version == 2)


def test_golden_comparison_names_the_case_and_output_when_a_value_differs(
    assets_dir: Path,
) -> None:
    golden = make_golden(assets_dir / RECOMMENDER_FILES[2], 2, [0])
    case = golden.cases[0]
    wrong = {name: t.to_numpy().copy() for name, t in case.outputs.items()}
    wrong["scores"][0, 3] += 0.5

    problems = compare_outputs(golden, case, wrong)

    assert problems == [
        "case 'known user 0' output 'scores': 1 value(s) differ; first at flat index 3: "
        f"got {wrong['scores'][0, 3]!r}, expected {case.outputs['scores'].to_numpy()[0, 3]!r}"
    ]


def test_train_recommender_writes_identical_files_when_run_twice(tmp_path: Path) -> None:
    config = BPRConfig(epochs=2)
    first = [p.read_bytes() for p in train_recommender(tmp_path / "a", config)]
    second = [p.read_bytes() for p in train_recommender(tmp_path / "b", config)]

    assert first == second
    assert len(first) == 4
