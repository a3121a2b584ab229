"""The spec patch: rendered lines, and edits applied to a copy of the real reference specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.loader import load_specs
from generator.render import spec_config
from generator.spec import InstanceKind, ModelSpec, QueuePolicy
from loadtests.tune import Candidate, TuneError
from loadtests.tune.control import apply_candidate
from loadtests.tune.patch import apply_patch, build_patch

_SHEDDING = QueuePolicy(max_queue_size=256, default_timeout_microseconds=5_000_000,
                        allow_timeout_override=True)


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
           "max_queue_delay_microseconds=500, default_queue_policy=None)," in text
    assert "    instance_groups=[cpu_instances(count=2)]," in text
    assert "max_batch_size" not in text  # unchanged cap: not part of the patch


def test_patch_text_of_a_winner_with_a_queue_policy_spells_the_policy_and_its_imports() -> None:
    winner = Candidate(1, True, 0, (), 64, queue_policy=_SHEDDING)

    text = build_patch("recommendation", winner, 64).text()

    assert "from generator.spec import QueuePolicy" in text
    assert "from generator.spec import TimeoutAction" in text
    assert "default_queue_policy=QueuePolicy(max_queue_size=256, " \
           "default_timeout_microseconds=5000000, allow_timeout_override=True, " \
           "timeout_action=TimeoutAction.REJECT))," in text


def test_applied_patch_sets_batching_and_the_winners_queue_policy(spec_copy: Path) -> None:
    path = spec_copy / "recommendation.py"
    before = _spec(path, "recommendation")
    winner = Candidate(2, True, 500, (), 64, queue_policy=_SHEDDING)

    apply_patch(path, build_patch("recommendation", winner, 64), winner)

    after = _spec(path, "recommendation")
    assert after.dynamic_batching is not None
    assert after.dynamic_batching.max_queue_delay_microseconds == 500
    assert tuple(after.dynamic_batching.preferred_batch_size) == ()
    assert after.dynamic_batching.default_queue_policy == _SHEDDING
    assert [(g.kind, g.count) for g in after.instance_groups] == [(InstanceKind.CPU, 2)]
    assert after.model_warmup == before.model_warmup


def test_applied_patch_drops_a_queue_policy_the_winner_was_measured_without(
    spec_copy: Path,
) -> None:
    path = spec_copy / "recommendation.py"
    with_policy = Candidate(1, True, 1000, (16, 32), 64, queue_policy=_SHEDDING)
    apply_patch(path, build_patch("recommendation", with_policy, 64), with_policy)
    winner = Candidate(2, True, 0, (16, 32), 64)

    apply_patch(path, build_patch("recommendation", winner, 64), winner)

    after = _spec(path, "recommendation")
    assert after.dynamic_batching is not None
    assert after.dynamic_batching.default_queue_policy is None


@pytest.mark.parametrize("winner", [
    Candidate(2, True, 0, (16, 32), 64),
    Candidate(1, True, 500, (), 16, queue_policy=_SHEDDING),
    Candidate(2, False, 0, (), 64),
], ids=["batching-without-policy", "batching-with-policy", "no-batching"])
def test_patched_spec_renders_to_the_config_the_winner_was_measured_with(
    spec_copy: Path, winner: Candidate,
) -> None:
    path = spec_copy / "recommendation.py"
    served, _ = spec_config(_spec(path, "recommendation"))
    measured = apply_candidate(served, winner)  # what the trial loaded into Triton

    apply_patch(path, build_patch("recommendation", winner, 64), winner)

    rendered, _ = spec_config(_spec(path, "recommendation"))
    assert rendered == measured, f"{rendered}\n!=\n{measured}"


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
