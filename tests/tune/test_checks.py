"""Candidate checks against the real reference repository's files (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from generator.spec import InstanceKind
from loadtests.tune import Candidate, CandidateError, HostInfo
from loadtests.tune.checks import CandidateChecker
from loadtests.tune.control import apply_candidate, candidate_from_config

MODEL = "recommendation"


@pytest.fixture
def served(repo_root: Path) -> tuple[Path, mc.ModelConfig]:
    model_dir = repo_root / "model_repository" / MODEL
    config = mc.ModelConfig()
    text_format.Parse((model_dir / "config.pbtxt").read_text(encoding="utf-8"), config)
    return model_dir, config


def test_checker_rejects_gpu_instances_on_a_host_without_gpu(
    served: tuple[Path, mc.ModelConfig],
) -> None:
    model_dir, config = served
    candidate = Candidate(1, False, 0, (), 64, InstanceKind.GPU)
    checker = CandidateChecker(MODEL, model_dir, HostInfo(cpu_cores=2))

    with pytest.raises(CandidateError, match="KIND_GPU on a host without a GPU"):
        checker.check(candidate, apply_candidate(config, candidate))


def test_checker_passes_triton_errors_through_from_the_validator(
    served: tuple[Path, mc.ModelConfig],
) -> None:
    model_dir, config = served
    candidate = Candidate(1, True, 0, (128,), 64)  # preferred above the cap: Triton refuses
    checker = CandidateChecker(MODEL, model_dir, HostInfo(cpu_cores=2))

    with pytest.raises(CandidateError, match="preferred-batch-size-too-large"):
        checker.check(candidate, apply_candidate(config, candidate))


def test_checker_accepts_the_spec_config_moved_to_cpu(
    served: tuple[Path, mc.ModelConfig],
) -> None:
    model_dir, config = served
    candidate = Candidate(2, True, 500, (16, 32), 64)
    checker = CandidateChecker(MODEL, model_dir, HostInfo(cpu_cores=2))

    checker.check(candidate, apply_candidate(config, candidate))


def test_apply_candidate_keeps_queue_policy_and_round_trips_the_knobs(
    served: tuple[Path, mc.ModelConfig],
) -> None:
    _, config = served
    candidate = Candidate(2, True, 500, (16,), 32)

    applied = apply_candidate(config, candidate)

    assert candidate_from_config(applied) == candidate
    assert applied.dynamic_batching.default_queue_policy == \
        config.dynamic_batching.default_queue_policy
    assert config.max_batch_size == 64  # the input message is not modified
