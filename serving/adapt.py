"""Adapt a production model repository to a Triton that runs without a GPU.

Two targets need adapting (see :class:`AdaptTarget`): a full Triton on a CPU-only host
(``deploy/compose.cpu.yml``) and the embedded, python-only, CPU-only Triton shipped in
``nvidia-pytriton`` (:class:`serving.TritonServer`).
"""

from __future__ import annotations

import enum
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from generator.errors import ConfigSyntaxError
from generator.layout import (
    CONFIG_FILENAME,
    ONNX_FILENAME,
    ONNXRUNTIME_PLATFORM,
    PYTHON_BACKEND,
    PYTHON_FILENAME,
    is_onnxruntime,
    is_tensorrt,
    load_config,
    model_name_problem,
    replace_folder,
    version_folders,
    write_text_atomic,
)
from generator.templates import render_template
from generator.validation import complete_from_onnx
from serving.errors import AdaptationError, AdaptDestinationError

__all__ = [
    "MARKER_NAME",
    "AdaptTarget",
    "Substitution",
    "adapt_repository",
    "validate_model_name",
    "write_adapted_repository",
]

ONNX_SOURCE_PARAMETER = "onnx_source"
#: File that :func:`write_adapted_repository` leaves in its output folder.
MARKER_NAME = ".adapted-from"
_TEMPLATE = "onnxruntime_model.py.j2"

_GroupKind = model_config_pb2.ModelInstanceGroup.Kind


class AdaptTarget(enum.Enum):
    """The server a repository is adapted for."""

    FULL = "full"
    """A full Triton with a GPU: the copy is unchanged."""
    CPU = "cpu"
    """A full Triton (all backends) on a CPU-only host."""
    EMBEDDED = "embedded"
    """The python-only, CPU-only embedded Triton from ``nvidia-pytriton``."""


@dataclass(frozen=True)
class Substitution:
    """One change made to a model so a server without a GPU can serve it.

    Attributes:
        model: Model name.
        what: The part of the config that changed, e.g. ``platform`` or
            ``instance_group[0].kind``.
        from_: The original value.
        to: The value served instead.
    """

    model: str
    what: str
    from_: str
    to: str

    def as_dict(self) -> dict[str, str]:
        """Return the record as ``{"model", "what", "from", "to"}``."""
        return {"model": self.model, "what": self.what, "from": self.from_, "to": self.to}

    def __str__(self) -> str:
        return f"{self.model}: {self.what}: {self.from_} -> {self.to}"


def validate_model_name(name: str) -> str:
    """Check ``name`` against the model-name rule of :mod:`generator.layout.names`.

    Args:
        name: Model or folder name.

    Returns:
        The name, unchanged.

    Raises:
        AdaptationError: If the name is empty, holds ``/`` or ``..``, or has a character
            other than ASCII letters, digits, ``_``, ``-`` and ``.``.
    """
    problem = model_name_problem(name)
    if problem:
        raise AdaptationError(name, f"invalid model name: it {problem}")
    return name


def render_onnxruntime_model(model: str, onnx_filename: str) -> str:
    """Render the python-backend ``model.py`` that runs an ONNX file with onnxruntime.

    Args:
        model: Model name (embedded as a JSON string literal).
        onnx_filename: ONNX file name inside the version folder.

    Returns:
        The Python source.
    """
    return render_template(Path(__file__).parent / "templates" / _TEMPLATE,
                           {"model_name": model, "onnx_filename": onnx_filename},
                           field=f"{model}.model.py")


def _link_or_copy(src: str, dst: str) -> str:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return dst


def _read_config(name: str, path: Path) -> model_config_pb2.ModelConfig:
    try:
        return load_config(path)
    except ConfigSyntaxError as error:
        raise AdaptationError(name, str(error)) from error


def _engine(config: model_config_pb2.ModelConfig) -> str:
    if config.platform and config.backend:
        return f"platform {config.platform!r}, backend {config.backend!r}"
    if config.platform:
        return f"platform {config.platform!r}"
    return f"backend {config.backend!r}"


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _tensorrt_sources(name: str, src_dir: Path, config: model_config_pb2.ModelConfig,
                      versions: list[Path]) -> dict[str, Path]:
    """Return version folder name -> ONNX file standing in for that version's plan."""
    if ONNX_SOURCE_PARAMETER in config.parameters:
        relative = config.parameters[ONNX_SOURCE_PARAMETER].string_value
        source = src_dir / relative
        if not relative or Path(relative).is_absolute() or not _inside(source, src_dir):
            raise AdaptationError(
                name, f"parameter {ONNX_SOURCE_PARAMETER!r} must be a path inside the model "
                f"folder, got {relative!r}"
            )
        if not source.is_file():
            raise AdaptationError(
                name, f"parameter {ONNX_SOURCE_PARAMETER!r} points to {relative!r}, "
                "which does not exist"
            )
        return {v.name: source for v in versions}
    sources: dict[str, Path] = {}
    for version in versions:
        candidate = version / ONNX_FILENAME
        if not candidate.is_file():
            raise AdaptationError(
                name, "TensorRT plans cannot run without a GPU and no ONNX "
                f"source was found: add parameter {ONNX_SOURCE_PARAMETER!r} or put "
                f"{ONNX_FILENAME!r} next to the plan in version folder {version.name!r}"
            )
        sources[version.name] = candidate
    return sources


def _to_cpu(name: str, config: model_config_pb2.ModelConfig) -> list[Substitution]:
    changes: list[Substitution] = []
    for index, group in enumerate(config.instance_group):
        gpu_like = group.kind == _GroupKind.KIND_GPU or (
            group.kind == _GroupKind.KIND_AUTO and len(group.gpus) > 0
        )
        if not gpu_like:
            continue
        before = _GroupKind.Name(group.kind)
        if group.gpus:
            before += f" gpus={list(group.gpus)}"
        group.kind = _GroupKind.KIND_CPU
        del group.gpus[:]
        changes.append(Substitution(name, f"instance_group[{index}].kind", before, "KIND_CPU"))
    accelerators = config.optimization.execution_accelerators
    if accelerators.gpu_execution_accelerator:
        for accelerator in accelerators.gpu_execution_accelerator:
            changes.append(Substitution(
                name, "optimization.execution_accelerators.gpu_execution_accelerator",
                accelerator.name or "unnamed", "dropped",
            ))
        del accelerators.gpu_execution_accelerator[:]
        _clear_empty_optimization(config)
    return changes


def _clear_empty_optimization(config: model_config_pb2.ModelConfig) -> None:
    """Leave out ``optimization { execution_accelerators { } }`` emptied by a drop."""
    if not config.optimization.execution_accelerators.ListFields():
        config.optimization.ClearField("execution_accelerators")
    if not config.optimization.ListFields():
        config.ClearField("optimization")


def _link_onnx_sources(name: str, src_dir: Path, dst_dir: Path,
                       config: model_config_pb2.ModelConfig) -> str:
    """Put each plan's ONNX source at ``<version>/model.onnx`` in ``dst_dir``.

    Returns:
        The sources, relative to the model folder, for the substitution record.
    """
    sources = _tensorrt_sources(name, src_dir, config, version_folders(src_dir))
    for version_name, source in sources.items():
        target = dst_dir / version_name / ONNX_FILENAME
        if target.exists():
            if target.samefile(source):
                continue
            target.unlink()  # a copy of the source folder's file: never write through it
        _link_or_copy(str(source), str(target))
    return ", ".join(sorted({str(s.relative_to(src_dir)) for s in sources.values()}))


def _drop_profiles(name: str, config: model_config_pb2.ModelConfig) -> list[Substitution]:
    """Clear TensorRT optimisation profiles, which Triton rejects on other platforms."""
    changes = []
    for index, group in enumerate(config.instance_group):
        if group.profile:
            changes.append(Substitution(name, f"instance_group[{index}].profile",
                                        f"{list(group.profile)}", "dropped"))
            del group.profile[:]
    return changes


def _plan_to_onnxruntime(name: str, src_dir: Path, dst_dir: Path,
                         config: model_config_pb2.ModelConfig) -> list[Substitution]:
    """Serve a TensorRT model's ONNX source with Triton's own onnxruntime backend."""
    described = _link_onnx_sources(name, src_dir, dst_dir, config)
    before = _engine(config)
    config.platform = ONNXRUNTIME_PLATFORM
    config.backend = ""
    config.default_model_filename = ""
    return [Substitution(
        name, "platform", before, f"platform {ONNXRUNTIME_PLATFORM!r} (ONNX source {described})",
    ), *_drop_profiles(name, config)]


def _complete_from_onnx(name: str, dst_dir: Path, onnx_filename: str,
                        config: model_config_pb2.ModelConfig) -> list[Substitution]:
    """Fill inputs and outputs from the ONNX file, as Triton's onnxruntime backend would.

    The python backend does not auto-complete, so the generated ``model.py`` needs them
    written out.
    """
    versions = [v for v in version_folders(dst_dir) if (v / onnx_filename).is_file()]
    if not versions:
        raise AdaptationError(name, f"no version folder holds {onnx_filename!r} to read "
                              "inputs and outputs from")
    completed, issues = complete_from_onnx(config, versions[-1] / onnx_filename)
    errors = [str(issue) for issue in issues if issue.is_error]
    if errors:
        raise AdaptationError(name, "; ".join(errors))
    added = [f"input {t.name!r}" for t in completed.input[len(config.input):]]
    added += [f"output {t.name!r}" for t in completed.output[len(config.output):]]
    config.CopyFrom(completed)
    return [Substitution(name, "input/output", "left to auto-complete",
                         f"filled from {onnx_filename}: {', '.join(added)}")]


def _to_python_onnxruntime(name: str, src_dir: Path, dst_dir: Path,
                           config: model_config_pb2.ModelConfig) -> list[Substitution]:
    """Serve an ONNX or TensorRT model with a generated python-backend ``model.py``."""
    changes: list[Substitution] = []
    if is_tensorrt(config):
        described = _link_onnx_sources(name, src_dir, dst_dir, config)
        changes += _drop_profiles(name, config)
        onnx_filename = ONNX_FILENAME
        changes.append(Substitution(
            name, "platform", _engine(config),
            f"backend 'python' (onnxruntime CPU on ONNX source {described})",
        ))
    else:
        onnx_filename = config.default_model_filename or ONNX_FILENAME
        if Path(onnx_filename).name != onnx_filename:
            raise AdaptationError(
                name, f"default_model_filename must be a file name, got {onnx_filename!r}"
            )
        changes.append(Substitution(
            name, "platform", _engine(config),
            f"backend 'python' (onnxruntime CPU on {onnx_filename})",
        ))
    cpu_accelerators = config.optimization.execution_accelerators.cpu_execution_accelerator
    if cpu_accelerators:
        for accelerator in cpu_accelerators:
            changes.append(Substitution(
                name, "optimization.execution_accelerators.cpu_execution_accelerator",
                accelerator.name or "unnamed", "dropped",
            ))
        del cpu_accelerators[:]
        _clear_empty_optimization(config)
    if not config.input or not config.output:
        changes += _complete_from_onnx(name, dst_dir, onnx_filename, config)
    config.platform = ""
    config.backend = PYTHON_BACKEND
    config.default_model_filename = ""
    model_py = render_onnxruntime_model(name, onnx_filename)
    for version in version_folders(src_dir):
        write_text_atomic(dst_dir / version.name / PYTHON_FILENAME, model_py)
    return changes


def _adapt_model(name: str, src_dir: Path, dst_dir: Path, config: model_config_pb2.ModelConfig,
                 target: AdaptTarget) -> list[Substitution]:
    changes = _to_cpu(name, config)
    if target is AdaptTarget.EMBEDDED:
        if is_onnxruntime(config) or is_tensorrt(config):
            changes += _to_python_onnxruntime(name, src_dir, dst_dir, config)
    elif is_tensorrt(config):
        changes += _plan_to_onnxruntime(name, src_dir, dst_dir, config)
    return changes


def adapt_repository(src: Path, dst: Path, *, target: AdaptTarget) -> list[Substitution]:
    """Copy a model repository to ``dst``, adapted to the server that will serve it.

    ``AdaptTarget.FULL``: the copy is unchanged.

    ``AdaptTarget.CPU`` (a full Triton, all backends, on a host without a GPU): GPU
    instance groups (``KIND_GPU``, or ``KIND_AUTO`` with ``gpus``) become ``KIND_CPU``
    without ``gpus``; GPU execution accelerators are dropped; ``tensorrt_plan`` models
    become ``platform: "onnxruntime_onnx"`` models on their ONNX source (parameter
    ``onnx_source``, else ``model.onnx`` next to the plan), placed as ``model.onnx`` in
    each version folder. ONNX models keep Triton's onnxruntime backend.

    ``AdaptTarget.EMBEDDED`` (the python-only, CPU-only Triton from ``nvidia-pytriton``):
    the same instance-group and accelerator changes, and ONNX models (and TensorRT plans,
    on their ONNX source) become python-backend models whose generated ``model.py`` runs
    the ONNX file with onnxruntime on CPU.

    Names, inputs, outputs, batching, instance counts, python models and ensembles are
    unchanged. Configs are edited as ``ModelConfig`` messages and written with
    ``text_format``; the source repository is never modified (unchanged files are hard
    links to it when possible, changed configs are new files).

    Args:
        src: The production model repository.
        dst: Destination folder; must not exist or be empty.
        target: The server the copy is for.

    Returns:
        Every substitution made, in model-name order.

    Raises:
        AdaptationError: A model has a name Triton refuses, a ``config.pbtxt`` that does
            not parse (the message names the file and line), or cannot be adapted (e.g. a
            TensorRT plan without an ONNX source).
        FileExistsError: ``dst`` exists and is not empty.
    """
    src, dst, target = Path(src), Path(dst), AdaptTarget(target)
    if not src.is_dir():
        raise FileNotFoundError(f"model repository {src} is not a folder")
    if dst.exists() and any(dst.iterdir()):
        raise FileExistsError(f"destination {dst} is not empty")
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src, dst, copy_function=_link_or_copy, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", MARKER_NAME))
    substitutions: list[Substitution] = []
    if target is AdaptTarget.FULL:
        return substitutions
    for model_dir in sorted(p for p in src.iterdir() if (p / CONFIG_FILENAME).is_file()):
        name = validate_model_name(model_dir.name)
        config = _read_config(name, model_dir / CONFIG_FILENAME)
        if config.name and config.name != name:
            validate_model_name(config.name)
        changes = _adapt_model(name, model_dir, dst / name, config, target)
        if changes:
            config_path = dst / name / CONFIG_FILENAME
            config_path.unlink()  # a hard link to the source: never write through it
            write_text_atomic(config_path, text_format.MessageToString(config))
            substitutions += changes
    return substitutions


def _marker_text(src: Path, target: AdaptTarget) -> str:
    return json.dumps({"source": str(src), "target": target.value}, indent=2) + "\n"


def _check_destination(src: Path, dst: Path) -> None:
    if dst == src or src in dst.parents or dst in src.parents:
        raise AdaptDestinationError(
            dst, f"destination {dst} must not be, contain or lie inside the source {src}"
        )
    if not dst.exists() and not dst.is_symlink():
        return
    if dst.is_symlink() or not dst.is_dir():
        raise AdaptDestinationError(
            dst, f"destination {dst} exists and is not a folder written by `adapt`; "
            "refusing to replace it"
        )
    if (dst / MARKER_NAME).is_file() or not any(dst.iterdir()):
        return
    raise AdaptDestinationError(
        dst, f"destination {dst} exists and was not written by `adapt` (no {MARKER_NAME} "
        "file in it); refusing to replace it: remove it or choose another folder"
    )


def write_adapted_repository(src: Path, dst: Path, *,
                             target: AdaptTarget) -> list[Substitution]:
    """Write an adapted copy of ``src`` to ``dst`` as a whole, replacing an earlier one.

    The copy is made by :func:`adapt_repository` in a temporary sibling folder of
    ``dst``, which also receives a ``.adapted-from`` file (JSON: source path and target),
    and is then renamed to ``dst``. A failed run leaves ``dst`` as it was.

    Args:
        src: The production model repository.
        dst: Destination folder. If it exists it must be empty or hold a
            ``.adapted-from`` file (an earlier run's output), and is replaced.
        target: The server the copy is for.

    Returns:
        Every substitution made, in model-name order.

    Raises:
        AdaptDestinationError: ``dst`` exists and was not written by this function, or
            ``dst`` and ``src`` overlap.
        AdaptationError: A model cannot be adapted, or its ``config.pbtxt`` does not
            parse (the message names the file and line).
    """
    target = AdaptTarget(target)
    src = Path(src).resolve()
    dst = Path(os.path.abspath(dst))
    if not src.is_dir():
        raise FileNotFoundError(f"model repository {src} is not a folder")
    _check_destination(src, dst.parent.resolve() / dst.name)
    with replace_folder(dst) as staging:
        substitutions = adapt_repository(src, staging, target=target)
        write_text_atomic(staging / MARKER_NAME, _marker_text(src, target))
    return substitutions
