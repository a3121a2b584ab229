"""Entry points: validate one model, a set of models, or a repository folder on disk."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from tritonclient.grpc import model_config_pb2 as mc

from generator.errors import ConfigSyntaxError, OnnxModelError
from generator.layout import is_ensemble, is_onnxruntime, model_filenames
from generator.validation.artifacts import CONFIG_FILENAME, ModelArtifacts, load_model_dir
from generator.validation.backend_resolution import check_backend, check_runtime
from generator.validation.config_checks import check_config
from generator.validation.ensemble import check_ensemble, ensemble_model_cycles
from generator.validation.file_checks import check_files
from generator.validation.issues import Issue, Severity
from generator.validation.onnx_check import onnx_issues
from generator.validation.parameters import check_parameters
from generator.validation.reporter import Reporter
from generator.validation.versions import served_versions

__all__ = ["validate_config", "validate_model", "validate_models", "validate_repository"]


def validate_config(config: mc.ModelConfig, *, directory_name: str = "") -> list[Issue]:
    """Check a config on its own: schema-level semantics, no files, no other models.

    What ``render`` runs. Rules that need the model folder (version folders, model and
    label files, a backend guessed from files or from the folder name, ONNX
    cross-checks) and rules across models (ensemble step models) are left out, so a
    config with nothing on disk yet is judged only by what it says.

    Args:
        config: The config.
        directory_name: The model folder's name when known (``""`` otherwise).

    Returns:
        Every issue found, in a stable order.
    """
    artifacts = ModelArtifacts(config=config, directory_name=directory_name)
    r = Reporter(artifacts.name)
    check_config(config, directory_name, r)
    check_backend(artifacts, r, with_files=False)
    check_runtime(artifacts, r, with_files=False)
    check_parameters(artifacts, r, with_files=False)
    if is_ensemble(config):
        check_ensemble(config, r)
    return r.issues


def validate_model(
    artifacts: ModelArtifacts,
    *,
    repository: Mapping[str, mc.ModelConfig] | None = None,
    served: Mapping[str, Sequence[int]] | None = None,
) -> list[Issue]:
    """Check one model: its config, its files and, for ONNX Runtime models, its ONNX file.

    The backend is resolved as Triton's auto-complete does (from ``platform``,
    ``backend``, the first sub-folder's files or the folder name), and the ONNX
    cross-check runs whenever the result is ONNX Runtime, written or inferred.

    Args:
        artifacts: The model's config and files.
        repository: Model name -> config of every model in the repository; when given,
            ensemble steps are checked against the step models.
        served: Model name -> versions each model serves; when given, steps that pin a
            ``model_version`` are checked against it.

    Returns:
        Every issue found, in a stable order (empty when the model is fine).
    """
    r = Reporter(artifacts.name, artifacts.config_path)
    config = artifacts.config
    check_config(config, artifacts.directory_name, r)
    resolution = check_backend(artifacts, r)
    check_runtime(artifacts, r)
    check_parameters(artifacts, r)
    resolved = artifacts
    if not resolution.source.startswith("the folder name"):
        resolved = replace(artifacts, config=resolution.apply(config))
    check_files(resolved, r)
    if is_ensemble(config):
        check_ensemble(config, r, repository, served)
    if is_onnxruntime(resolved.config):
        _check_onnx_files(resolved, r)
    return r.issues


def _check_onnx_files(artifacts: ModelArtifacts, r: Reporter) -> None:
    seen: set[Issue] = set()
    for version in artifacts.version_numbers:
        for filename in model_filenames(artifacts.config):
            path = artifacts.files.get(f"{version}/{filename}")
            if path is None or not path.is_file():
                continue
            try:
                _, found = onnx_issues(artifacts.config, path, artifacts.name)
            except OnnxModelError as exc:
                r.error(f"version {version}", "onnx-unreadable", str(exc), path=path)
                continue
            for issue in found:
                if issue not in seen:
                    seen.add(issue)
                    r.issues.append(issue)


def validate_models(models: Sequence[ModelArtifacts]) -> list[Issue]:
    """Check several models that will live in one repository.

    Runs :func:`validate_model` on each (with the others as the repository, so
    ensembles are checked against their step models), then the checks across models:
    duplicate names and ensembles that contain themselves.

    Args:
        models: The repository's models.

    Returns:
        Every issue found.
    """
    issues: list[Issue] = []
    repository: dict[str, mc.ModelConfig] = {}
    counts = Counter(m.name for m in models)
    for model in models:
        repository.setdefault(model.name, model.config)
    for name, count in sorted(counts.items()):
        if count > 1:
            issues.append(Issue(Severity.ERROR, name, "name", f"{count} models are named {name!r}",
                                "duplicate-model-name"))
    served = {m.name: served_versions(m.config, m.version_numbers) for m in models}
    for model in models:
        issues.extend(validate_model(model, repository=repository, served=served))
    for cycle in ensemble_model_cycles(repository):
        issues.append(Issue(
            Severity.ERROR, cycle[0], "ensemble_scheduling",
            "ensembles contain each other in a cycle: " + " -> ".join(repr(n) for n in cycle),
            "ensemble-model-cycle",
        ))
    return issues


def validate_repository(repo_dir: Path) -> list[Issue]:
    """Check a model repository folder on disk.

    Every sub-folder is a model. A config that does not parse becomes an ``ERROR``
    issue (code ``config-syntax``) with its file and line instead of an exception;
    non-hidden files at the top level and folders without ``config.pbtxt`` are flagged.

    Args:
        repo_dir: The repository root.

    Returns:
        Every issue found.
    """
    repo_dir = Path(repo_dir)
    if not repo_dir.is_dir():
        return [Issue(Severity.ERROR, "", "", f"model repository {str(repo_dir)!r} is not a "
                      "folder", "repository-missing", path=repo_dir)]
    issues: list[Issue] = []
    loaded: list[ModelArtifacts] = []
    for child in sorted(repo_dir.iterdir()):
        if not child.is_dir():
            if child.name.startswith("."):
                continue  # tool metadata such as the generator's manifest
            issues.append(Issue(Severity.WARNING, "", "", f"file {child.name!r} at the top of "
                                "the repository is not a model folder; Triton ignores it",
                                "stray-file", path=child))
            continue
        if not (child / CONFIG_FILENAME).is_file():
            issues.append(Issue(Severity.WARNING, child.name, "", f"folder {child.name!r} has "
                                f"no {CONFIG_FILENAME}; Triton loads it only if auto-complete "
                                "can derive a config from the model file", "missing-config",
                                path=child))
            continue
        try:
            loaded.append(load_model_dir(child))
        except ConfigSyntaxError as exc:
            where = f" (column {exc.column})" if exc.column is not None else ""
            issues.append(Issue(Severity.ERROR, child.name, "", f"{exc.message}{where}",
                                "config-syntax", path=exc.path, line=exc.line))
    issues.extend(validate_models(loaded))
    return issues
