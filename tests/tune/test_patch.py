"""The spec patch: rendered lines, and edits applied to a copy of the real reference specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.loader import load_specs
from generator.spec import InstanceKind, ModelSpec
from loadtests.tune import Candidate, TuneError
from loadtests.tune.patch import apply_patch, build_patch


@pytest.fixture
def spec_copy(repo_root: Path, tmp_path: Path) -> Path:
    """specs/ copied to a temporary folder (assets linked), so patches never touch the real one."""
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "assets").symlink_to(repo_root / "specs" / "assets")
    for name in ("recommendation.py", "image_diagnosis.py"):
        (folder / name).write_text((repo_root / "specs" / name).read_text(encoding="utf-8"),
                                   encoding="utf-8")
    return folder


def _spec(path: Path, model: str) -> ModelSpec:
    (spec,) = [s.spec for s in load_specs(path) if s.spec.name == model]
    return spec


def test_patch_text_lists_the_keyword_lines_and_their_imports() -> None:
    patch = build_patch("recommendation", Candidate(2, True, 500, (16,), 64), 64)

    text = patch.text()

    assert "from generator.presets import cpu_instances" in text
    assert "from generator.spec import DynamicBatching" in text
    assert "    dynamic_batching=DynamicBatching(preferred_batch_size=[16], " \
           "max_queue_delay_microseconds=500)," in text
    assert "    instance_groups=[cpu_instances(count=2)]," in text
    assert "max_batch_size" not in text  # unchanged cap: not part of the patch


def test_applied_patch_sets_batching_and_keeps_the_queue_policy(spec_copy: Path) -> None:
    path = spec_copy / "recommendation.py"
    before = _spec(path, "recommendation")
    winner = Candidate(2, True, 500, (), 64)

    apply_patch(path, build_patch("recommendation", winner, 64), winner)

    after = _spec(path, "recommendation")
    assert after.dynamic_batching is not None
    assert after.dynamic_batching.max_queue_delay_microseconds == 500
    assert tuple(after.dynamic_batching.preferred_batch_size) == ()
    assert before.dynamic_batching is not None
    assert after.dynamic_batching.default_queue_policy == \
        before.dynamic_batching.default_queue_policy
    assert [(g.kind, g.count) for g in after.instance_groups] == [(InstanceKind.CPU, 2)]
    assert after.model_warmup == before.model_warmup


def test_applied_patch_turns_batching_off_and_lowers_the_cap_of_one_model_only(
    spec_copy: Path,
) -> None:
    path = spec_copy / "image_diagnosis.py"
    winner = Candidate(1, False, 0, (), 8)

    apply_patch(path, build_patch("image_diagnosis_classifier", winner, 32), winner)

    classifier = _spec(path, "image_diagnosis_classifier")
    assert classifier.dynamic_batching is None
    assert classifier.max_batch_size == 8
    assert _spec(path, "image_diagnosis").max_batch_size == 32  # the ensemble is untouched


def test_patch_that_does_not_match_the_winner_leaves_the_file_unchanged(
    spec_copy: Path,
) -> None:
    path = spec_copy / "recommendation.py"
    original = path.read_bytes()
    winner = Candidate(1, False, 0, (), 16)
    wrong = build_patch("recommendation", winner, 16)  # claims 16 is the spec's cap

    with pytest.raises(TuneError, match="does not match the winner"):
        apply_patch(path, wrong, winner)

    assert path.read_bytes() == original
    assert sorted(p.name for p in spec_copy.iterdir()) == [
        "assets", "image_diagnosis.py", "recommendation.py"]


def test_patch_for_a_model_the_file_does_not_define_names_the_model(spec_copy: Path) -> None:
    winner = Candidate(1, False, 0, (), 64)

    with pytest.raises(TuneError, match="'unknown'"):
        apply_patch(spec_copy / "recommendation.py", build_patch("unknown", winner, 64), winner)
