"""Checks that look at the model folder's files: versions, model files and label files."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from tritonclient.grpc import model_config_pb2 as mc

from generator.layout import is_ensemble, model_filenames
from generator.validation.artifacts import ModelArtifacts
from generator.validation.reporter import Reporter

__all__ = ["check_files", "count_label_lines", "model_file_in_version"]

#: Top-level folders Triton uses for other purposes than versions.
_NON_VERSION_FOLDERS = frozenset({"configs"})

#: Files whose presence in a version folder lets Triton guess the backend.
_AUTOFILL_FILES = ("model.py", "model.onnx", "model.plan", "model.pt", "model.savedmodel",
                   "model.graphdef", "model.xml")


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

    Args:
        artifacts: The model and its files.
        r: Where issues go.
    """
    _check_backend_known(artifacts, r)
    _check_folders(artifacts, r)
    _check_versions(artifacts, r)
    _check_version_policy(artifacts, r)
    _check_labels(artifacts, r)


def _check_backend_known(artifacts: ModelArtifacts, r: Reporter) -> None:
    config = artifacts.config
    if config.platform or config.backend or is_ensemble(config):
        return
    for version in artifacts.version_numbers:
        for filename in _AUTOFILL_FILES:
            if model_file_in_version(artifacts, version, filename):
                r.warning("backend", "backend-auto-detected",
                          f"neither platform nor backend is set; Triton will guess the backend "
                          f"from {version}/{filename} (auto-complete must be enabled)")
                return
    r.error("backend", "missing-backend",
            "neither platform nor backend is set and no known model file is present; "
            "Triton cannot tell which backend to use")


def _check_folders(artifacts: ModelArtifacts, r: Reporter) -> None:
    for folder in artifacts.top_level_folders:
        if folder.isdigit() or folder in _NON_VERSION_FOLDERS:
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
    for version in versions:
        if not any(model_file_in_version(artifacts, version, name) for name in filenames):
            present = sorted(
                PurePosixPath(k).parts[1] for k in artifacts.files
                if PurePosixPath(k).parts[0] == str(version) and len(PurePosixPath(k).parts) > 1
            )
            listing = ", ".join(repr(p) for p in dict.fromkeys(present)) or "nothing"
            wanted = " or ".join(repr(n) for n in filenames)
            r.error(f"version {version}", "missing-model-file",
                    f"version folder '{version}/' has no model file {wanted}; it holds {listing}")


def _check_version_policy(artifacts: ModelArtifacts, r: Reporter) -> None:
    config = artifacts.config
    if not config.version_policy.HasField("specific"):
        return
    available = set(artifacts.version_numbers)
    wanted = list(config.version_policy.specific.versions)
    missing = [v for v in wanted if v not in available]
    for v in missing:
        index = wanted.index(v)
        r.warning(f"version_policy.specific.versions[{index}]", "missing-policy-version",
                  f"version_policy names version {v} but there is no folder '{v}/'; "
                  f"versions present: {sorted(available)}")
    if wanted and len(missing) == len(wanted) and available and not is_ensemble(config):
        r.error("version_policy.specific.versions", "no-loadable-version",
                f"none of the versions {wanted} named by version_policy exists, so no version "
                "can load")


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
