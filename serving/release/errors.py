"""The release controller's errors, one tree under :class:`ReleaseError`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from serving.errors import ServingError

if TYPE_CHECKING:
    from serving.release.controller import ReleaseResult

__all__ = [
    "AdminKeyError",
    "GoldenFileError",
    "ReleaseError",
    "ReleaseInputError",
    "RepositoryApiError",
    "RolloutRefusedError",
]


class ReleaseError(ServingError):
    """Root of every error the release controller raises (a :class:`ServingError`)."""


class ReleaseInputError(ReleaseError):
    """A bad argument, found before anything is sent to the server.

    Attributes:
        field: The argument at fault, such as ``model`` or ``to_version``.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class AdminKeyError(ReleaseInputError):
    """The admin key is missing or unreadable (it never comes from the command line)."""


class GoldenFileError(ReleaseInputError):
    """A golden file is missing or malformed; ``field`` names the file and the field."""


class RepositoryApiError(ReleaseError):
    """The server refused or failed a repository or inference call.

    Attributes:
        status: The HTTP status (``"400"``) or gRPC code (``"StatusCode.UNAVAILABLE"``);
            empty when the server could not be reached or the error is the controller's.
        reason: The server's own message.
    """

    def __init__(self, action: str, status: str, reason: str) -> None:
        self.action = action
        self.status = status
        self.reason = reason
        where = f"status {status}" if status else "no status"
        super().__init__(f"{action} failed ({where}): {reason}")


class RolloutRefusedError(ReleaseError):
    """A rollout or rollback did not complete; the serving version was restored.

    Attributes:
        step: The step that failed (``load``, ``ready``, ``smoke``, ``switch``, ``unload``).
        reason: Why it failed.
        restored_version: The version serving unpinned traffic afterwards (None when
            restoring it failed too).
        result: Every step taken, including the restore.
    """

    def __init__(self, step: str, reason: str, restored_version: int | None,
                 result: ReleaseResult | None = None) -> None:
        self.result = result
        self.step = step
        self.reason = reason
        self.restored_version = restored_version
        after = (f"rolled back: version {restored_version} serves"
                 if restored_version is not None else "ROLLBACK FAILED: check the server")
        super().__init__(f"{step} failed: {reason}; {after}")
