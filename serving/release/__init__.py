"""Release controller: roll model versions out and back on a running Triton.

For a server in explicit model-control mode (``python -m generator serve REPO
--model-control explicit``, or ``deploy/compose.release.yml``)::

    python -m serving.release status recommendation
    python -m serving.release rollout recommendation --to-version 2
    python -m serving.release rollback recommendation [--to-version 1]

:class:`ReleaseController` is the decision core (injected clock, bounded waits);
:class:`RepositoryApi` is its I/O; golden files (:mod:`serving.release.golden`) carry
the inputs and expected outputs of the smoke check. See ``docs/releases.md``.
"""

from serving.release.api import RepositoryApi, VersionState
from serving.release.controller import (
    Clock,
    ReleaseController,
    ReleaseResult,
    ServerApi,
    StepRecord,
    SystemClock,
    serving_version,
)
from serving.release.errors import (
    AdminKeyError,
    GoldenFileError,
    ReleaseError,
    ReleaseInputError,
    RepositoryApiError,
    RolloutRefusedError,
)
from serving.release.golden import (
    GOLDEN_FILENAME,
    GoldenCase,
    GoldenSet,
    GoldenTensor,
    compare_outputs,
    golden_path,
    load_golden,
    parse_golden,
    write_golden,
)
from serving.release.keys import ADMIN_HEADER_ENV, ADMIN_KEY_ENV, ADMIN_KEY_FILE_ENV, admin_headers

__all__ = [
    "ADMIN_HEADER_ENV",
    "ADMIN_KEY_ENV",
    "ADMIN_KEY_FILE_ENV",
    "GOLDEN_FILENAME",
    "AdminKeyError",
    "Clock",
    "GoldenCase",
    "GoldenFileError",
    "GoldenSet",
    "GoldenTensor",
    "ReleaseController",
    "ReleaseError",
    "ReleaseInputError",
    "ReleaseResult",
    "RepositoryApi",
    "RepositoryApiError",
    "RolloutRefusedError",
    "ServerApi",
    "StepRecord",
    "SystemClock",
    "VersionState",
    "admin_headers",
    "compare_outputs",
    "golden_path",
    "load_golden",
    "parse_golden",
    "serving_version",
    "write_golden",
]
