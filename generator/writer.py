"""Plan, validate and write a model repository from specs.

Writing is all-or-nothing: the whole repository is planned and validated in
memory (generated text is staged in a private temporary folder), then
written to a temporary sibling of the output folder which replaces it by
rename. Files the generator did not write, recorded in a manifest, are
carried over untouched and never deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tritonclient.grpc import model_config_pb2 as mc

from generator.convert import spec_to_config
from generator.errors import DriftError, RepositoryWriteError, SpecError
from generator.layout import CONFIG_FILENAME, ONNX_FILENAME, is_onnxruntime, replace_folder
from generator.loader import LoadedSpec
from generator.render import render_config
from generator.spec import Labels, ModelSpec, Template, Text
from generator.spec.model import FileSource
from generator.templates import render_template
from generator.validation import (
    Issue,
    ModelArtifacts,
    complete_from_onnx,
    raise_for_errors,
    validate_models,
)

__all__ = [
    "MANIFEST_NAME",
    "BuildResult",
    "PlannedModel",
    "build_repository",
    "check_repository",
    "plan_repository",
    "tree_drift",
    "write_tree",
]

MANIFEST_NAME = ".generator-manifest.json"
KEEP_FILE = ".gitkeep"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class PlannedModel:
    """One model, planned: its final config and every file of its folder.

    Attributes:
        spec: The spec it came from.
        origin: The spec file.
        config: The final ``ModelConfig``, auto-completed from the model file.
        files: Path inside the repository -> bytes to write, or a file to copy.
        issues: Warnings and errors found for this model.
    """

    spec: ModelSpec
    origin: str
    config: mc.ModelConfig
    files: dict[str, bytes | Path] = field(default_factory=dict)
    issues: tuple[Issue, ...] = ()


@dataclass(frozen=True)
class BuildResult:
    """What :func:`build_repository` did.

    Attributes:
        out: The repository folder.
        models: The planned models.
        issues: Every issue found (errors stop the build before this exists).
        written: Paths written, relative to ``out``.
        removed: Previously generated paths that no spec produces any more.
    """

    out: Path
    models: tuple[PlannedModel, ...]
    issues: tuple[Issue, ...]
    written: tuple[str, ...]
    removed: tuple[str, ...]


def _digest_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _digest(content: bytes | Path) -> str:
    if isinstance(content, Path):
        return _digest_file(content)
    return hashlib.sha256(content).hexdigest()


def _source_files(
    relpath: str, source: FileSource, field_path: str, staging: Path
) -> Iterator[tuple[str, bytes | Path, Path]]:
    """Yield (repository path, content, file on disk holding that content)."""
    if isinstance(source, Path):
        if source.is_dir():
            for sub in sorted(p for p in source.rglob("*") if p.is_file()):
                yield f"{relpath}/{sub.relative_to(source).as_posix()}", sub, sub
            return
        if not source.is_file():
            raise SpecError(field_path, f"file {source} does not exist")
        yield relpath, source, source
        return
    if isinstance(source, Labels):
        text = "".join(f"{name}\n" for name in source.names)
    elif isinstance(source, Text):
        text = source.content
    elif isinstance(source, Template):
        text = render_template(source.path, source.variables, field=field_path)
    else:
        raise SpecError(field_path, f"unsupported file source {type(source).__name__}")
    data = text.encode("utf-8")
    staged = staging / relpath
    staged.parent.mkdir(parents=True, exist_ok=True)
    staged.write_bytes(data)
    yield relpath, data, staged


def _plan_model(loaded: LoadedSpec, staging: Path) -> tuple[PlannedModel, ModelArtifacts]:
    spec = loaded.spec
    name = spec.name
    config = spec_to_config(spec)
    files: dict[str, bytes | Path] = {}
    on_disk: dict[str, Path] = {}
    for version in sorted(spec.versions):
        for filename, source in spec.versions[version].items():
            rel = f"{version}/{filename}"
            for sub_rel, content, disk in _source_files(
                rel, source, f"{name}.versions[{version}][{filename!r}]", staging / name
            ):
                files[f"{name}/{sub_rel}"] = content
                on_disk[sub_rel] = disk
    for filename, source in spec.files.items():
        for sub_rel, content, disk in _source_files(
            filename, source, f"{name}.files[{filename!r}]", staging / name
        ):
            files[f"{name}/{sub_rel}"] = content
            on_disk[sub_rel] = disk
    issues: list[Issue] = []
    if is_onnxruntime(config):
        model_file = config.default_model_filename or ONNX_FILENAME
        candidates = [
            on_disk[f"{v}/{model_file}"]
            for v in sorted(spec.versions, reverse=True)
            if f"{v}/{model_file}" in on_disk
        ]
        if candidates:
            config, onnx_issues = complete_from_onnx(config, candidates[0])
            issues.extend(onnx_issues)
    for version in spec.versions:
        if not any(rel.startswith(f"{name}/{version}/") for rel in files):
            # Git keeps no empty folders, and Triton needs the version folder.
            files[f"{name}/{version}/{KEEP_FILE}"] = b""
    files[f"{name}/{CONFIG_FILENAME}"] = render_config(
        config, origin=f"{loaded.origin} (model {name!r})"
    ).encode("utf-8")
    artifacts = ModelArtifacts(
        config=config, directory_name=name, files=on_disk, versions=tuple(sorted(spec.versions))
    )
    planned = PlannedModel(
        spec=spec, origin=loaded.origin, config=config, files=files, issues=tuple(issues)
    )
    return planned, artifacts


@contextmanager
def _staging() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="generator-stage-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def plan_repository(
    specs: Sequence[LoadedSpec], staging: Path, progress: Progress | None = None
) -> tuple[list[PlannedModel], list[Issue]]:
    """Plan every model and validate the whole repository, touching no output.

    Returns:
        The planned models and every issue found (errors and warnings).
    """
    planned: list[PlannedModel] = []
    artifacts: list[ModelArtifacts] = []
    for loaded in specs:
        model, art = _plan_model(loaded, staging)
        planned.append(model)
        artifacts.append(art)
        if progress:
            progress(f"planned {model.spec.name} from {loaded.origin} ({len(model.files)} files)")
    issues = [i for m in planned for i in m.issues]
    issues.extend(validate_models(artifacts))
    return planned, _dedupe(issues)


def _dedupe(issues: Sequence[Issue]) -> list[Issue]:
    seen: set[str] = set()
    out = []
    for issue in issues:
        key = str(issue)
        if key not in seen:
            seen.add(key)
            out.append(issue)
    return out


def _manifest(planned: Sequence[PlannedModel]) -> dict[str, str]:
    return {rel: _digest(content) for m in planned for rel, content in sorted(m.files.items())}


def _manifest_bytes(entries: dict[str, str], command: str = "python -m generator build") -> bytes:
    doc = {"generator": command, "files": dict(sorted(entries.items()))}
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _read_manifest(out: Path) -> dict[str, str]:
    path = out / MANIFEST_NAME
    if not path.is_file():
        return {}
    try:
        files = json.loads(path.read_text("utf-8"))["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise RepositoryWriteError(
            f"{path}: unreadable manifest ({exc}); remove it to rebuild"
        ) from exc
    return {str(k): str(v) for k, v in files.items()}


def _existing_files(out: Path) -> set[str]:
    if not out.is_dir():
        return set()
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() or p.is_symlink()}


def check_repository(
    specs: Sequence[LoadedSpec],
    out: Path,
    progress: Progress | None = None,
    *,
    strict: bool = False,
) -> BuildResult:
    """Compare the repository on disk with what ``specs`` produce, writing nothing.

    Raises:
        ValidationFailed: The specs have errors (or, with ``strict``, warnings).
        DriftError: The repository differs; the error lists each path.
    """
    out = Path(out)
    with _staging() as staging:
        planned, issues = plan_repository(specs, staging, progress)
        raise_for_errors(issues, strict=strict)
        files = {rel: content for m in planned for rel, content in m.files.items()}
        differences = tree_drift(out, files, "python -m generator build")
        if differences:
            raise DriftError(differences)
    return BuildResult(out, tuple(planned), tuple(issues), (), ())


def build_repository(
    specs: Sequence[LoadedSpec],
    out: Path,
    progress: Progress | None = None,
    *,
    strict: bool = False,
) -> BuildResult:
    """Validate ``specs`` and write the repository to ``out``.

    Nothing is written when validation fails: ``out`` stays exactly as it was.
    With ``strict``, warnings fail the build the same way.

    Raises:
        ValidationFailed: The specs have errors (or, with ``strict``, warnings).
        SpecError: A spec is malformed or names a missing file.
        RepositoryWriteError: ``out`` holds a file the generator did not
            write where it would write one, or the disk write failed.
    """
    out = Path(out)
    with _staging() as staging:
        planned, issues = plan_repository(specs, staging, progress)
        raise_for_errors(issues, strict=strict)
        manifest = _manifest(planned)
        old = _read_manifest(out)
        existing = _existing_files(out)
        foreign = sorted(rel for rel in manifest if rel in existing and rel not in old)
        if foreign:
            listing = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
            raise RepositoryWriteError(
                f"{out}: refusing to overwrite files the generator did not write: {listing}"
            )
        if out.exists() and not out.is_dir():
            raise RepositoryWriteError(f"{out} exists and is not a folder")
        removed = tuple(sorted(set(old) - set(manifest)))
        _swap_in(out, planned, manifest, old)
        written = tuple(sorted(manifest))
        if progress:
            progress(f"wrote {len(written)} files for {len(planned)} models to {out}")
    return BuildResult(out, tuple(planned), tuple(issues), written, removed)


def _swap_in(
    out: Path, planned: Sequence[PlannedModel], manifest: dict[str, str], old: dict[str, str]
) -> None:
    try:
        with replace_folder(out) as tmp:
            try:
                _fill(tmp, out, planned, manifest, old)
            except OSError as exc:
                raise RepositoryWriteError(f"writing {out} failed: {exc}") from exc
    except OSError as exc:
        raise RepositoryWriteError(f"replacing {out} failed: {exc}") from exc


def _fill(
    tmp: Path,
    out: Path,
    planned: Sequence[PlannedModel],
    manifest: dict[str, str],
    old: dict[str, str],
) -> None:
    """Write the new repository into ``tmp``: carried-over files, then generated ones."""
    if out.is_dir():
        _carry_over(out, tmp, skip=set(old) | {MANIFEST_NAME})
    for model in planned:
        for rel, content in model.files.items():
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, Path):
                shutil.copyfile(content, target)
            else:
                target.write_bytes(content)
    (tmp / MANIFEST_NAME).write_bytes(_manifest_bytes(manifest))


def _carry_over(src: Path, dst: Path, skip: set[str]) -> None:
    """Copy every file of ``src`` not listed in ``skip`` into ``dst``; keep empty folders."""
    for dirpath, dirnames, filenames in os.walk(src):
        rel_dir = Path(dirpath).relative_to(src)
        for filename in filenames:
            rel = (rel_dir / filename).as_posix()
            if rel in skip:
                continue
            target = dst / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(dirpath) / filename, target, follow_symlinks=False)
        for dirname in dirnames:
            sub = rel_dir / dirname
            if not any(k.startswith(f"{sub.as_posix()}/") for k in skip):
                (dst / sub).mkdir(parents=True, exist_ok=True)


def tree_drift(out: Path, files: Mapping[str, bytes | Path], command: str) -> list[str]:
    """What differs between a generated folder on disk and ``files`` (``--check``).

    Args:
        out: The folder.
        files: Path inside it -> the bytes the generator would write (or a file to copy).
        command: The generating command, as recorded in the manifest.

    Returns:
        One ``missing:``, ``changed:`` or ``stale:`` line per differing path; empty when
        the folder is up to date.
    """
    out = Path(out)
    manifest = {rel: _digest(content) for rel, content in sorted(files.items())}
    differences = []
    for rel, digest in manifest.items():
        target = out / rel
        if not target.is_file():
            differences.append(f"missing: {rel}")
        elif _digest_file(target) != digest:
            differences.append(f"changed: {rel}")
    old = _read_manifest(out)
    differences += [
        f"stale: {rel}" for rel in sorted(set(old) - set(manifest)) if (out / rel).exists()
    ]
    manifest_path = out / MANIFEST_NAME
    if not differences and (not manifest_path.is_file()
                            or manifest_path.read_bytes() != _manifest_bytes(manifest, command)):
        differences.append(f"changed: {MANIFEST_NAME}")
    return differences


def write_tree(
    out: Path, files: Mapping[str, bytes], command: str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Replace the generated files of a folder with ``files``, all or nothing.

    As :func:`build_repository` does: the new folder is staged beside ``out`` and
    renamed into place; files the manifest does not list are carried over, and one in
    the way of a generated file is refused.

    Args:
        out: The folder.
        files: Path inside it -> bytes.
        command: The generating command, recorded in the manifest.

    Returns:
        ``(written, removed)``: paths written, and previously generated paths no
        longer produced.

    Raises:
        RepositoryWriteError: A foreign file is in the way, or the write failed.
    """
    out = Path(out)
    manifest = {rel: _digest(content) for rel, content in sorted(files.items())}
    old = _read_manifest(out)
    foreign = sorted(rel for rel in manifest if rel in _existing_files(out) and rel not in old)
    if foreign:
        raise RepositoryWriteError(
            f"{out}: refusing to overwrite files the generator did not write: "
            + ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        )
    if out.exists() and not out.is_dir():
        raise RepositoryWriteError(f"{out} exists and is not a folder")
    try:
        with replace_folder(out) as tmp:
            if out.is_dir():
                _carry_over(out, tmp, skip=set(old) | {MANIFEST_NAME})
            for rel, content in files.items():
                target = tmp / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
            (tmp / MANIFEST_NAME).write_bytes(_manifest_bytes(manifest, command))
    except OSError as exc:
        raise RepositoryWriteError(f"writing {out} failed: {exc}") from exc
    return tuple(sorted(manifest)), tuple(sorted(set(old) - set(manifest)))
