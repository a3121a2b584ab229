"""The runtime's exception tree.

Every error the :mod:`serving` package raises on purpose derives from
:class:`ServingError`, so a caller (a CLI, the load-test runner, a test) catches the
whole family in one place::

    ServingError
    ├── TritonNotFoundError      no tritonserver binary, or the embedded one is incomplete
    ├── AdaptationError          a model cannot be adapted (unsafe name, unreadable config,
    │                            no ONNX source for a TensorRT plan, ...)
    ├── AdaptDestinationError    the adapted copy's folder cannot be written or replaced
    └── ServerStartError         Triton did not become ready (carries each model's reason)

Errors of the generator's core that surface while serving (a ``config.pbtxt`` that does
not parse) are translated into these where they cross into :mod:`serving`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "AdaptDestinationError",
    "AdaptationError",
    "ServerStartError",
    "ServingError",
    "TritonNotFoundError",
]


class ServingError(Exception):
    """Base class of every error the runtime raises on purpose."""


class TritonNotFoundError(ServingError):
    """No ``tritonserver`` binary (or its embedded support files) could be found."""


class AdaptationError(ServingError):
    """A model repository could not be adapted for a server without a GPU.

    Attributes:
        model: Name of the model at fault.
        message: What is wrong with it.
    """

    def __init__(self, model: str, message: str) -> None:
        self.model = model
        self.message = message
        super().__init__(f"model {model!r}: {message}")


class AdaptDestinationError(ServingError):
    """The destination of an adapted repository cannot be written or replaced safely.

    Attributes:
        path: The destination folder.
    """

    def __init__(self, path: Path, message: str) -> None:
        self.path = path
        super().__init__(message)


class ServerStartError(ServingError):
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
