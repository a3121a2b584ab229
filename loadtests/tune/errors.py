"""The tuner's exception tree, rooted in the load-test package's :class:`LoadTestError`.

::

    LoadTestError
    └── TuneError               the tuner cannot run (names the option or step at fault)
        ├── ModelControlError   the server refused to load, read or restore a config
        └── CandidateError      a candidate config failed validation before being tried
"""

from __future__ import annotations

from collections.abc import Sequence

from loadtests.errors import LoadTestError

__all__ = ["CandidateError", "ModelControlError", "TuneError"]


class TuneError(LoadTestError):
    """The tuner cannot run; the message names the option or step at fault."""


class ModelControlError(TuneError):
    """Triton refused to load, describe or restore a model configuration.

    Attributes:
        model: The model concerned.
    """

    def __init__(self, model: str, message: str) -> None:
        self.model = model
        super().__init__(f"{model}: {message}")


class CandidateError(TuneError):
    """A candidate configuration was rejected before it was tried.

    Attributes:
        model: The model concerned.
        problems: One line per validation error.
    """

    def __init__(self, model: str, problems: Sequence[str]) -> None:
        self.model = model
        self.problems = tuple(problems)
        super().__init__(f"{model}: candidate rejected: " + "; ".join(self.problems))
