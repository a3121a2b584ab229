"""``ModelSpec``: one model of the repository, its ``config.pbtxt`` and its files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from generator.errors import SpecError
from generator.layout import CONFIG_FILENAME, model_name_problem
from generator.spec.base import SpecBase
from generator.spec.instances import InstanceGroup
from generator.spec.optimization import Optimization
from generator.spec.policies import (
    ModelMetrics,
    ModelOperations,
    RepositoryAgents,
    ResponseCache,
    TransactionPolicy,
    VersionPolicy,
    Warmup,
)
from generator.spec.scheduling import DynamicBatching, EnsembleScheduling, SequenceBatching
from generator.spec.tensors import BatchInput, BatchOutput, Input, Output

__all__ = ["FileSource", "Labels", "ModelSpec", "Template", "Text"]

@dataclass(frozen=True)
class Labels:
    """A label file written from a list of class names, one per line.

    Attributes:
        names: Class names in output order.
    """

    names: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(self.names))
        for i, name in enumerate(self.names):
            if not isinstance(name, str) or "\n" in name or "\r" in name:
                raise SpecError(f"Labels.names[{i}]", f"must be a one-line string, got {name!r}")


@dataclass(frozen=True)
class Text:
    """A file written from literal text.

    Attributes:
        content: The file's text.
    """

    content: str


@dataclass(frozen=True)
class Template:
    """A file rendered from a jinja2 template.

    Values reach the template as they are; templates must pass them through
    the ``tojson`` filter (or ``pyrepr``, which the generator provides) before
    placing them in code.

    Attributes:
        path: The template file.
        variables: Values available to the template.
    """

    path: Path
    variables: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        object.__setattr__(self, "variables", dict(self.variables))


FileSource = Path | Labels | Text | Template
"""Where a file of the model folder comes from: a file to copy, labels, text or a template."""


def _default_versions() -> dict[int, dict[str, FileSource]]:
    return {1: {}}


@dataclass(frozen=True)
class ModelSpec(SpecBase):
    """One model: every field of Triton's ``ModelConfig``, plus its files.

    The configuration fields mirror ``inference.ModelConfig`` one to one
    (repeated fields take plural names: ``inputs``, ``outputs``,
    ``batch_inputs``, ``batch_outputs``, ``instance_groups``). The presets in
    :mod:`generator.presets` fill the common cases in a few lines.

    Attributes:
        name: Model name; also the folder name.
        platform: Platform, such as ``onnxruntime_onnx`` or ``tensorrt_plan``.
        backend: Backend, such as ``onnxruntime``, ``python`` or any custom name.
        runtime: Backend runtime library or Python-based backend entry point.
        version_policy: Which versions Triton serves.
        max_batch_size: Largest batch; 0 means the model does not batch.
        inputs: Input tensors.
        outputs: Output tensors.
        batch_inputs: Inputs computed from the formed batch.
        batch_outputs: Outputs scattered back to requests.
        optimization: Optimisation policy.
        dynamic_batching: Dynamic batcher (exclusive with the other schedulers).
        sequence_batching: Sequence batcher.
        ensemble_scheduling: Ensemble steps.
        instance_groups: Instance groups.
        default_model_filename: Model file name inside each version folder.
        cc_model_filenames: Compute capability -> model file name.
        metric_tags: Extra metric labels.
        parameters: Backend parameters (name -> string value).
        model_warmup: Warm-up requests.
        model_operations: Custom operation libraries.
        model_transaction_policy: Transaction policy (decoupled models).
        model_repository_agents: Repository agents.
        response_cache: Response cache switch.
        model_metrics: Per-model metric options.
        versions: Version number -> files of that version folder (file name ->
            source). Not part of ``config.pbtxt``.
        files: Files at the top of the model folder, such as label files
            (file name -> source). Not part of ``config.pbtxt``.
    """

    PROTO = "inference.ModelConfig"
    RENAMES = {
        "inputs": "input",
        "outputs": "output",
        "batch_inputs": "batch_input",
        "batch_outputs": "batch_output",
        "instance_groups": "instance_group",
    }
    EXTRA_FIELDS = frozenset({"versions", "files"})
    ONEOFS = (("dynamic_batching", "sequence_batching", "ensemble_scheduling"),)

    name: str = ""
    platform: str = ""
    backend: str = ""
    runtime: str = ""
    version_policy: VersionPolicy | None = None
    max_batch_size: int = 0
    inputs: tuple[Input, ...] = ()
    outputs: tuple[Output, ...] = ()
    batch_inputs: tuple[BatchInput, ...] = ()
    batch_outputs: tuple[BatchOutput, ...] = ()
    optimization: Optimization | None = None
    dynamic_batching: DynamicBatching | None = None
    sequence_batching: SequenceBatching | None = None
    ensemble_scheduling: EnsembleScheduling | None = None
    instance_groups: tuple[InstanceGroup, ...] = ()
    default_model_filename: str = ""
    cc_model_filenames: Mapping[str, str] = field(default_factory=dict)
    metric_tags: Mapping[str, str] = field(default_factory=dict)
    parameters: Mapping[str, str] = field(default_factory=dict)
    model_warmup: tuple[Warmup, ...] = ()
    model_operations: ModelOperations | None = None
    model_transaction_policy: TransactionPolicy | None = None
    model_repository_agents: RepositoryAgents | None = None
    response_cache: ResponseCache | None = None
    model_metrics: ModelMetrics | None = None
    versions: Mapping[int, Mapping[str, FileSource]] = field(default_factory=_default_versions)
    files: Mapping[str, FileSource] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        problem = model_name_problem(self.name) if self.name else None
        if problem:
            raise SpecError(f"{self.name}.name", f"model name {self.name!r} {problem}")
        label = self.name or "<unnamed>"
        for version, files in self.versions.items():
            if isinstance(version, bool) or not isinstance(version, int) or version < 1:
                raise SpecError(f"{label}.versions", f"version {version!r} must be an int >= 1")
            for filename in files:
                _check_relative(filename, f"{label}.versions[{version}][{filename!r}]")
        for filename in self.files:
            _check_relative(filename, f"{label}.files[{filename!r}]")
            if filename.split("/")[0].isdigit():
                raise SpecError(
                    f"{label}.files[{filename!r}]",
                    "top-level files may not sit in a numeric folder; use versions instead",
                )


def _check_relative(filename: object, path: str) -> None:
    if not isinstance(filename, str) or not filename:
        raise SpecError(path, f"file name must be a non-empty string, got {filename!r}")
    parts = filename.split("/")
    if filename.startswith("/") or "\\" in filename or any(p in ("", ".", "..") for p in parts):
        raise SpecError(
            path, f"file name {filename!r} must be a plain relative path inside the model folder"
        )
    if filename == CONFIG_FILENAME:
        raise SpecError(
            path, f"{CONFIG_FILENAME} is generated from the spec; it cannot be given as a file"
        )
