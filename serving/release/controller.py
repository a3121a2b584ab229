"""The release decision core: which version serves, and how to change it safely.

Triton routes a request without a version to the highest READY version of the
model. The controller changes that set with ``version_policy`` overrides on a server
in explicit model-control mode:

1. ``load``: load the target beside the serving version (policy ``[serving, target]``);
2. ``ready``: wait until the target is READY (Triton ran its warm-up before that);
3. ``smoke``: run the target's golden cases pinned to it and compare;
4. ``switch``: narrow the policy to ``[target]``: unpinned traffic goes to the target;
5. ``unload``: confirm the old version is unloaded.

A failure in any step restores the serving version (policy ``[serving]``) and raises
:class:`~serving.release.errors.RolloutRefusedError`. Time comes from an injected
:class:`Clock`, so every wait is bounded and replayable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy.typing as npt

from generator.layout.names import model_name_problem
from serving.release.api import VersionState
from serving.release.errors import (
    ReleaseError,
    ReleaseInputError,
    RepositoryApiError,
    RolloutRefusedError,
)
from serving.release.golden import GoldenCase, GoldenSet, compare_outputs, golden_path, load_golden

__all__ = [
    "Clock",
    "ReleaseController",
    "ReleaseResult",
    "ServerApi",
    "StepRecord",
    "SystemClock",
    "serving_version",
]

_POLL_S = 0.1
_GONE_STATES = frozenset({"UNAVAILABLE", ""})


class Clock(Protocol):
    """Monotonic time and sleeping (injected; tests and drills may pass their own)."""

    def monotonic(self) -> float:
        """Seconds on a monotonic clock."""

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """``time.sleep(seconds)``."""
        time.sleep(seconds)


class ServerApi(Protocol):
    """What the controller needs from a server (see :class:`~serving.release.api.RepositoryApi`)."""

    def versions(self, model: str) -> list[VersionState]:
        """The model's rows in the repository index."""

    def config(self, model: str) -> dict[str, Any]:
        """The model's current configuration."""

    def load(self, model: str, config: Mapping[str, Any]) -> None:
        """Load the model with a configuration override."""

    def is_ready(self, model: str, version: int) -> bool:
        """Whether a version is READY."""

    def server_ready(self) -> bool:
        """Whether the server as a whole reports ready."""

    def infer(self, model: str, version: int, case: GoldenCase) -> dict[str, npt.NDArray[Any]]:
        """Run a golden case pinned to a version."""


@dataclass(frozen=True)
class StepRecord:
    """One step of a release, as it happened.

    Attributes:
        name: ``load``, ``ready``, ``smoke``, ``switch``, ``unload`` or ``restore``.
        started_s: Start, on the controller's clock.
        duration_s: How long it took.
        ok: Whether it succeeded.
        detail: What happened (or why it failed).
    """

    name: str
    started_s: float
    duration_s: float
    ok: bool
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"name": self.name, "started_s": self.started_s,
                "duration_s": self.duration_s, "ok": self.ok, "detail": self.detail}


@dataclass
class ReleaseResult:
    """The outcome of a rollout or rollback.

    Attributes:
        model: Model name.
        from_version: The version serving unpinned traffic before.
        to_version: The target version.
        steps: The steps, in order (a refused release ends with ``restore``).
        ok: Whether the target now serves.
        serving_version: The version serving unpinned traffic afterwards.
        started_s: Start, on the controller's clock.
        duration_s: Whole duration.
    """

    model: str
    from_version: int
    to_version: int
    steps: list[StepRecord] = field(default_factory=list)
    ok: bool = False
    serving_version: int | None = None
    started_s: float = 0.0
    duration_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"model": self.model, "from_version": self.from_version,
                "to_version": self.to_version, "ok": self.ok,
                "serving_version": self.serving_version, "started_s": self.started_s,
                "duration_s": self.duration_s, "steps": [s.as_dict() for s in self.steps]}


def serving_version(rows: Sequence[VersionState]) -> int | None:
    """The version an unpinned request goes to: the highest READY one (None if none)."""
    ready = [row.version for row in rows if row.state == "READY"]
    return max(ready) if ready else None


class _StepFailed(ReleaseError):
    def __init__(self, step: str, reason: str) -> None:
        self.step = step
        self.reason = reason
        super().__init__(f"{step}: {reason}")


def _check_model(model: str) -> str:
    problem = model_name_problem(model) if isinstance(model, str) else "is not a string"
    if problem is not None:
        raise ReleaseInputError("model", f"invalid model name {model!r}: it {problem}")
    return model


def _check_version(version: object, field_name: str) -> int:
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ReleaseInputError(field_name, f"must be a version number >= 1, got {version!r}")
    return version


class ReleaseController:
    """Rolls model versions out and back on a server in explicit model-control mode.

    Args:
        api: The server (usually a :class:`~serving.release.api.RepositoryApi`).
        repository: Local copy of the model repository; the golden file of version ``V``
            of ``MODEL`` is ``repository/MODEL/V/golden.json``.
        clock: Time source for timeouts and step durations.
        ready_timeout_s: Bound on waiting for a loaded version to become READY.
        unload_timeout_s: Bound on waiting for an old version to be unloaded.
        on_step: Called with each step as it completes (progress output).
    """

    def __init__(
        self,
        api: ServerApi,
        repository: Path,
        *,
        clock: Clock | None = None,
        ready_timeout_s: float = 120.0,
        unload_timeout_s: float = 60.0,
        on_step: Callable[[StepRecord], None] | None = None,
    ) -> None:
        self.api = api
        self.repository = Path(repository)
        self.clock: Clock = clock or SystemClock()
        self.ready_timeout_s = ready_timeout_s
        self.unload_timeout_s = unload_timeout_s
        self._on_step = on_step

    # ------------------------------------------------------------------ queries
    def status(self, model: str) -> tuple[list[VersionState], int | None]:
        """The model's versions and the one serving unpinned traffic."""
        rows = self.api.versions(_check_model(model))
        return rows, serving_version(rows)

    def previous_version(self, model: str, current: int) -> int:
        """The highest version below ``current`` with a folder in the local repository.

        Raises:
            ReleaseInputError: No such version exists.
        """
        folder = self.repository / _check_model(model)
        earlier = sorted(
            int(p.name) for p in folder.iterdir()
            if p.is_dir() and p.name.isdigit() and int(p.name) < current
        ) if folder.is_dir() else []
        if not earlier:
            raise ReleaseInputError(
                "to_version", f"{model!r} has no version below {current} in {folder}; "
                "give --to-version"
            )
        return earlier[-1]

    # ------------------------------------------------------------------ commands
    def rollout(self, model: str, to_version: int) -> ReleaseResult:
        """Make ``to_version`` the only served version, verified by its golden cases.

        Returns:
            The result (``ok`` True); a no-op when it is already the only served version.

        Raises:
            ReleaseInputError: Bad model name or version, or no usable golden file
                (nothing was sent to the server).
            RepositoryApiError: The server could not be read before any change.
            RolloutRefusedError: A step failed; the serving version was restored
                (``restored_version`` is None if that failed too). ``result`` holds the steps.
        """
        model = _check_model(model)
        target = _check_version(to_version, "to_version")
        golden = self._golden(model, target)
        rows = self.api.versions(model)
        current = serving_version(rows)
        if current is None:
            raise RepositoryApiError(
                f"status of {model!r}", "", "no READY version serves it: load it first"
            )
        base_config = self.api.config(model)
        result = ReleaseResult(model, current, target, started_s=self.clock.monotonic())
        loaded = {row.version for row in rows if row.state == "READY"}
        if loaded == {target}:
            result.ok, result.serving_version = True, target
            self._record(result, "switch", result.started_s, True,
                         f"version {target} already serves alone; nothing to do")
            return self._finish(result)
        try:
            self._run_steps(result, base_config, golden, current, target)
        except _StepFailed as failure:
            restored = self._restore(result, base_config, current, target)
            result.serving_version = restored
            self._finish(result)
            raise RolloutRefusedError(failure.step, failure.reason, restored, result) from None
        result.ok, result.serving_version = True, target
        return self._finish(result)

    def rollback(self, model: str, to_version: int | None = None) -> ReleaseResult:
        """Return to ``to_version``, or to the previous version (see :meth:`previous_version`).

        The same steps and guarantees as :meth:`rollout`.
        """
        model = _check_model(model)
        if to_version is None:
            _, current = self.status(model)
            if current is None:
                raise RepositoryApiError(f"status of {model!r}", "", "no READY version serves it")
            to_version = self.previous_version(model, current)
        return self.rollout(model, to_version)

    # ------------------------------------------------------------------ building blocks
    def golden(self, model: str, version: int) -> GoldenSet:
        """The golden cases of ``model`` version ``version`` from the local repository.

        Raises:
            GoldenFileError: Missing or malformed; ReleaseInputError: for another version.
        """
        return self._golden(_check_model(model), _check_version(version, "version"))

    def load_versions(self, model: str, base: Mapping[str, Any], versions: Sequence[int]) -> str:
        """Load ``model`` with ``version_policy specific versions`` over ``base``."""
        return self._load(model, base, sorted(set(versions)))

    def wait_ready(self, model: str, version: int) -> str:
        """Wait (bounded) until a version is READY; raises ReleaseError otherwise."""
        return self._wait_ready(model, version)

    def smoke(self, model: str, version: int, golden: GoldenSet) -> str:
        """Run the golden cases pinned to ``version``; raises ReleaseError on a difference."""
        return self._smoke(model, version, golden)

    def wait_unloaded(self, model: str, version: int) -> str:
        """Wait (bounded) until a version is unloaded; raises ReleaseError otherwise."""
        return self._wait_gone(model, version)

    # ------------------------------------------------------------------ steps
    def _golden(self, model: str, version: int) -> GoldenSet:
        golden = load_golden(golden_path(self.repository, model, version))
        if golden.model != model or golden.version != version:
            raise ReleaseInputError(
                "golden", f"{golden_path(self.repository, model, version)} is for "
                f"{golden.model!r} version {golden.version}, not {model!r} version {version}"
            )
        return golden

    def _run_steps(self, result: ReleaseResult, base: Mapping[str, Any], golden: GoldenSet,
                   current: int, target: int) -> None:
        model = result.model
        self._step(result, "load", lambda: self._load(model, base, sorted({current, target})))
        self._step(result, "ready", lambda: self._wait_ready(model, target))
        self._step(result, "smoke", lambda: self._smoke(model, target, golden))
        self._step(result, "switch", lambda: self._switch(model, base, current, target))
        if current != target:
            self._step(result, "unload", lambda: self._wait_gone(model, current))

    def _step(self, result: ReleaseResult, name: str, action: Callable[[], str]) -> None:
        started = self.clock.monotonic()
        try:
            detail = action()
        except RepositoryApiError as error:
            self._record(result, name, started, False, str(error))
            raise _StepFailed(name, str(error)) from error
        except _StepFailed as failure:
            self._record(result, name, started, False, failure.reason)
            raise
        self._record(result, name, started, True, detail)

    def _record(self, result: ReleaseResult, name: str, started: float, ok: bool,
                detail: str) -> None:
        step = StepRecord(name, started, self.clock.monotonic() - started, ok, detail)
        result.steps.append(step)
        if self._on_step is not None:
            self._on_step(step)

    def _finish(self, result: ReleaseResult) -> ReleaseResult:
        result.duration_s = self.clock.monotonic() - result.started_s
        return result

    def _load(self, model: str, base: Mapping[str, Any], versions: Sequence[int]) -> str:
        config = dict(base)
        config["version_policy"] = {"specific": {"versions": list(versions)}}
        self.api.load(model, config)
        return f"loaded with version_policy specific {list(versions)}"

    def _wait_ready(self, model: str, version: int) -> str:
        deadline = self.clock.monotonic() + self.ready_timeout_s
        while not self.api.is_ready(model, version):
            row = next((r for r in self.api.versions(model) if r.version == version), None)
            if row is None:
                raise _StepFailed("ready", f"version {version} is not in the repository index: "
                                  "its folder is missing or holds no loadable model")
            if row.state not in ("LOADING", "READY"):
                raise _StepFailed("ready", f"version {version} is {row.state}: "
                                  f"{row.reason or 'no reason given'}")
            if self.clock.monotonic() >= deadline:
                raise _StepFailed("ready", f"version {version} not READY after "
                                  f"{self.ready_timeout_s:.0f} s (state {row.state})")
            self.clock.sleep(_POLL_S)
        return f"version {version} READY"

    def _smoke(self, model: str, version: int, golden: GoldenSet) -> str:
        problems: list[str] = []
        for case in golden.cases:
            problems += compare_outputs(golden, case, self.api.infer(model, version, case))
        if problems:
            raise _StepFailed("smoke", "; ".join(problems[:5]))
        return f"{len(golden.cases)} golden case(s) match"

    def _switch(self, model: str, base: Mapping[str, Any], current: int, target: int) -> str:
        self._load(model, base, [target])
        if not self.api.is_ready(model, target):
            raise _StepFailed("switch", f"version {target} is not READY after the switch")
        return f"unpinned traffic goes to version {target} (version_policy specific [{target}])"

    def _wait_gone(self, model: str, version: int) -> str:
        deadline = self.clock.monotonic() + self.unload_timeout_s
        while True:
            row = next((r for r in self.api.versions(model) if r.version == version), None)
            if row is None or row.state in _GONE_STATES:
                return f"version {version} unloaded"
            if self.clock.monotonic() >= deadline:
                raise _StepFailed("unload", f"version {version} still {row.state} after "
                                  f"{self.unload_timeout_s:.0f} s")
            self.clock.sleep(_POLL_S)

    def _restore(self, result: ReleaseResult, base: Mapping[str, Any], current: int,
                 target: int) -> int | None:
        started = self.clock.monotonic()
        try:
            self._load(result.model, base, [current])
            self._wait_ready(result.model, current)
            if current != target:
                self._wait_gone(result.model, target)
        except (RepositoryApiError, _StepFailed) as error:
            self._record(result, "restore", started, False, str(error))
            return None
        detail = f"version {current} serves alone again"
        if not self.api.server_ready():
            detail += (f"; note: /v2/health/ready now says not ready because version {target} "
                       "failed to load (Triton's --strict-readiness); model readiness is fine "
                       "(docs/releases.md)")
        self._record(result, "restore", started, True, detail)
        return current
