"""Checks that look at the model folder's files: versions, model files and label files."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from tritonclient.grpc import model_config_pb2 as mc

from generator.layout import is_ensemble, model_filenames
from generator.validation.artifacts import ModelArtifacts
from generator.validation.reporter import Reporter
from generator.validation.sequence_state import check_initial_state_files
from generator.validation.versions import SPECIAL_FOLDERS, check_version_policy, served_versions
from generator.validation.warmup import check_warmup_files

__all__ = ["check_files", "count_label_lines", "model_file_in_version"]


def model_file_in_version(artifacts: ModelArtifacts, version: int, filename: str) -> bool:
    """Whether ``<version>/<filename>`` exists as a file or as a non-empty folder."""
    key = f"{version}/{filename}"
    return key in artifacts.files or any(k.startswith(key + "/") for k in artifacts.files)


def count_label_lines(path: Path) -> int:
    """Number of non-empty lines in a label file."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return sum(1 for line in text.splitlines() if line.strip())


def check_files(artifacts: ModelArtifacts, r: Reporter) -> None:
    """Run every check that needs the model's files.

    Model files are looked for in the versions Triton serves (see
    :func:`~generator.validation.versions.served_versions`).

    Args:
        artifacts: The model and its files, with the backend fields as Triton's
            auto-complete fills them.
        r: Where issues go.
    """
    _check_folders(artifacts, r)
    _check_versions(artifacts, r)
    check_version_policy(artifacts, r)
    _check_labels(artifacts, r)
    check_warmup_files(artifacts, r)
    check_initial_state_files(artifacts, r)


def _check_folders(artifacts: ModelArtifacts, r: Reporter) -> None:
    for folder in artifacts.top_level_folders:
        if folder.isdigit() or folder in SPECIAL_FOLDERS:
            continue
        r.warning(folder, "non-numeric-folder",
                  f"folder {folder!r} is not a version number; Triton ignores it")


def _check_versions(artifacts: ModelArtifacts, r: Reporter) -> None:
    versions = artifacts.version_numbers
    if not versions:
        what = "(an empty '1/' is enough for an ensemble)" if is_ensemble(artifacts.config) else (
            "holding its model file")
        r.error("", "no-version-folder",
                f"the model has no numeric version folder (e.g. '1/') {what}")
        return
    if is_ensemble(artifacts.config):
        return
    filenames = model_filenames(artifacts.config)
    if not filenames:
        return
    for version in served_versions(artifacts.config, versions):
        if not any(model_file_in_version(artifacts, version, name) for name in filenames):
            present = sorted(
                PurePosixPath(k).parts[1] for k in artifacts.files
                if PurePosixPath(k).parts[0] == str(version) and len(PurePosixPath(k).parts) > 1
            )
            listing = ", ".join(repr(p) for p in dict.fromkeys(present)) or "nothing"
            wanted = " or ".join(repr(n) for n in filenames)
            r.error(f"version {version}", "missing-model-file",
                    f"version folder '{version}/' has no model file {wanted}; it holds {listing}")


def _check_labels(artifacts: ModelArtifacts, r: Reporter) -> None:
    config = artifacts.config
    for i, output in enumerate(config.output):
        label_file: str = output.label_filename
        if not label_file:
            continue
        field = f"output[{i}].label_filename"
        pure = PurePosixPath(label_file.replace("\\", "/"))
        if pure.is_absolute() or ".." in pure.parts:
            r.error(field, "label-file-outside-model",
                    f"output {output.name!r} label file {label_file!r} points outside the model "
                    "folder; give a path relative to it")
            continue
        key = pure.as_posix()
        if key not in artifacts.files:
            r.error(field, "label-file-missing",
                    f"output {output.name!r} names label file {label_file!r}, which is not in "
                    "the model folder")
            continue
        _check_label_count(artifacts, output, i, key, r)


def _check_label_count(
    artifacts: ModelArtifacts, output: mc.ModelOutput, index: int, key: str, r: Reporter
) -> None:
    dims = list(output.reshape.shape) if output.HasField("reshape") else list(output.dims)
    if not dims or dims[-1] < 1:
        return
    path = artifacts.files[key]
    try:
        lines = count_label_lines(path)
    except OSError as exc:
        r.error(f"output[{index}].label_filename", "label-file-unreadable",
                f"cannot read label file {key!r}: {exc}", path=path)
        return
    classes = dims[-1]
    if lines != classes:
        r.warning(f"output[{index}].label_filename", "label-count-mismatch",
                  f"label file {key!r} has {lines} non-empty lines but output "
                  f"{output.name!r} has {classes} classes (last dimension); Triton returns "
                  "empty labels for classes without a line", path=path)
