"""A model as it is (or will be) on disk: its config plus the files of its folder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tritonclient.grpc import model_config_pb2 as mc

from generator.layout import CONFIG_FILENAME, is_version_folder_name, load_config

__all__ = ["CONFIG_FILENAME", "ModelArtifacts", "load_model_dir"]

@dataclass(frozen=True)
class ModelArtifacts:
    """One model folder.

    Attributes:
        config: The model's configuration.
        directory_name: The model folder's name (Triton's model name).
        files: Path relative to the model folder (POSIX form, e.g. ``1/model.onnx``,
            ``labels.txt``) mapped to where the bytes are now.
        versions: Version folders that exist even if empty; merged with the numeric
            top-level folders implied by ``files``.
        config_path: Where the config was read from, when it came from disk.
    """

    config: mc.ModelConfig
    directory_name: str
    files: Mapping[str, Path] = field(default_factory=dict)
    versions: tuple[int, ...] = ()
    config_path: Path | None = None

    @property
    def name(self) -> str:
        """The model name Triton uses: the folder name, else the config's ``name``."""
        configured: str = self.config.name
        return self.directory_name or configured

    @property
    def version_numbers(self) -> tuple[int, ...]:
        """Sorted version folders, from ``versions`` and ``files`` together.

        A folder counts when Triton takes it as a version: all digits, no leading zero.
        """
        found = set(self.versions)
        for key in self.files:
            parts = PurePosixPath(key).parts
            if len(parts) > 1 and is_version_folder_name(parts[0]):
                found.add(int(parts[0]))
        return tuple(sorted(found))

    @property
    def top_level_folders(self) -> tuple[str, ...]:
        """Names of the top-level folders implied by ``files`` (numeric or not)."""
        names = {
            PurePosixPath(key).parts[0]
            for key in self.files
            if len(PurePosixPath(key).parts) > 1
        }
        names.update(str(v) for v in self.versions)
        return tuple(sorted(names))


def load_model_dir(model_dir: Path) -> ModelArtifacts:
    """Read a model folder from disk.

    Args:
        model_dir: A folder holding ``config.pbtxt`` and version folders.

    Returns:
        The folder's config, every file under it (except ``config.pbtxt``) and its
        numeric version folders, empty ones included.

    Raises:
        ConfigSyntaxError: ``config.pbtxt`` is missing, unreadable or does not parse.
    """
    model_dir = Path(model_dir)
    config_path = model_dir / CONFIG_FILENAME
    config = load_config(config_path)
    files: dict[str, Path] = {}
    for item in sorted(model_dir.rglob("*")):
        if item.is_file() and item != config_path:
            files[item.relative_to(model_dir).as_posix()] = item
    versions = tuple(
        sorted(
            int(child.name)
            for child in model_dir.iterdir()
            if child.is_dir() and is_version_folder_name(child.name)
        )
    )
    return ModelArtifacts(
        config=config,
        directory_name=model_dir.name,
        files=files,
        versions=versions,
        config_path=config_path,
    )
