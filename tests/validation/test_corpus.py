"""Every real-world config in the shared corpus parses and validates without crashing."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.validation import (
    ModelArtifacts,
    Severity,
    parse_config,
    validate_config,
    validate_model,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CORPUS = SHARED / "corpus" / "triton-configs"

if not SHARED.is_dir():
    pytest.skip(f"shared corpus folder {SHARED} is absent", allow_module_level=True)

CONFIGS = sorted(CORPUS.glob("*.pbtxt"))


def test_corpus_is_not_empty_when_shared_folder_exists() -> None:
    assert len(CONFIGS) > 50


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_validate_model_returns_issues_without_crashing_when_config_is_from_corpus(
    path: Path,
) -> None:
    config = parse_config(path.read_text(encoding="utf-8"), path=path)
    directory = str(config.name) or path.stem
    issues = validate_model(ModelArtifacts(config=config, directory_name=directory))
    for issue in issues:
        assert issue.model == directory
        assert issue.code and issue.message
        assert isinstance(issue.severity, Severity)


def test_validate_model_flags_known_mistakes_when_corpus_config_is_a_negative_test() -> None:
    path = CORPUS / "026_server-qa-negative-ensemble_optimization_set.pbtxt"
    if not path.exists():
        pytest.skip("negative-test config not in this corpus")
    config = parse_config(path.read_text(encoding="utf-8"), path=path)
    issues = validate_model(ModelArtifacts(config=config, directory_name=str(config.name)))
    assert "ensemble-optimization" in [i.code for i in issues]


#: Corpus configs Triton 2.51 itself refuses, with the codes that say why (SOURCES.tsv notes).
TRITON_REFUSES = {
    # Triton QA negative case: an ensemble must not set optimization.
    "026_server-qa-negative-ensemble_optimization_set": {"ensemble-optimization"},
    # ensemble_scheduling without platform "ensemble", and no ensemble inputs/outputs.
    "056_tutorials-data_pipelines-ensemble": {
        "ensemble-scheduling-not-ensemble", "ensemble-tensor-not-produced",
        "ensemble-tensor-unused"},
    # Triton 1.x's platform "custom" with no backend: "unexpected platform type".
    "071_dle-tacotron2waveglow-custom": {"unknown-platform"},
    # pytriton's parser test asset: not a loadable config.
    "078_pytriton-full_config": {
        "unknown-platform", "preferred-batch-size-too-large",
        "preserve-ordering-with-priorities", "preserve-ordering-with-delay",
        "response-cache-with-decoupled"},
}


def test_validate_config_errors_only_on_corpus_configs_that_triton_refuses() -> None:
    found: dict[str, set[str]] = {}
    for path in CONFIGS:
        config = parse_config(path.read_text(encoding="utf-8"), path=path)
        errors = {i.code for i in validate_config(config) if i.is_error}
        if errors:
            found[path.stem] = errors
    assert found == {k: v for k, v in TRITON_REFUSES.items() if (CORPUS / f"{k}.pbtxt").exists()}
