"""Errors of the manifest generator."""

from __future__ import annotations

from generator.errors import GeneratorError

__all__ = ["ManifestError"]


class ManifestError(GeneratorError):
    """A rule file or a setting cannot become a manifest.

    Attributes:
        field: The file and field at fault, e.g. ``triton-alerts.rules.yml:groups[0].name``.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")
