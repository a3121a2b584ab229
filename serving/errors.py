"""Errors raised by the serving subpackage."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from generator.errors import GeneratorError

__all__ = ["AdaptDestinationError", "AdaptationError", "ServerStartError", "TritonNotFoundError"]


class TritonNotFoundError(GeneratorError):
    """No ``tritonserver`` binary (or its embedded support files) could be found."""


class AdaptationError(GeneratorError):
    """A model repository could not be adapted for a server without a GPU.

    Attributes:
        model: Name of the model at fault.
    """

    def __init__(self, model: str, message: str) -> None:
        self.model = model
        self.message = message
        super().__init__(f"model {model!r}: {message}")


class AdaptDestinationError(GeneratorError):
    """The destination of an adapted repository cannot be written or replaced safely.

    Attributes:
        path: The destination folder.
    """

    def __init__(self, path: Path, message: str) -> None:
        self.path = path
        super().__init__(message)


class ServerStartError(GeneratorError):
    """Triton did not become ready.

    Attributes:
        model_errors: Model name -> Triton's own reason for failing to load it.
        log_path: The server log, if it still exists.
        log_tail: The last lines of the server log.
    """

    def __init__(
        self,
        message: str,
        *,
        model_errors: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        log_tail: str = "",
    ) -> None:
        self.model_errors: dict[str, str] = dict(model_errors or {})
        self.log_path = log_path
        self.log_tail = log_tail
        details = "".join(f"\n  {name}: {reason}" for name, reason in self.model_errors.items())
        super().__init__(message + details)
