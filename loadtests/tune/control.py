"""Model control: read a model's live config, load a candidate, and always roll back.

Configs travel as Triton's own ``ModelConfig`` message (``tritonclient``'s
``model_config_pb2``): read from ``GET /v2/models/NAME/config``, edited as a message
(:func:`apply_candidate`), sent to ``POST /v2/repository/models/NAME/load`` with a
``config`` override. The server must run with ``--model-control-mode=explicit``.

:class:`ConfigGuard` remembers the config a model had before tuning and reloads it when
the block ends, whatever ends it: an error, or Ctrl-C (a second Ctrl-C during the
rollback is held back until the rollback is done).
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from types import FrameType, TracebackType
from typing import Any

from google.protobuf import json_format
from tritonclient.grpc import model_config_pb2 as mc

from generator.spec import InstanceKind, QueuePolicy, TimeoutAction
from loadtests.tune.errors import ModelControlError, TuneError
from loadtests.tune.space import Candidate
from serving.release import ReleaseInputError, RepositoryApi, RepositoryApiError

__all__ = [
    "ConfigGuard",
    "ModelController",
    "apply_candidate",
    "candidate_from_config",
    "describe_config",
]

_READY_POLL_S = 0.1


def candidate_from_config(config: mc.ModelConfig) -> Candidate:
    """Read the tuned knobs out of a config (instance counts of all groups are summed).

    Raises:
        TuneError: The config uses instance kinds the tuner does not set (AUTO, MODEL).
    """
    groups = list(config.instance_group)
    count = sum(max(1, g.count) for g in groups) if groups else 1
    kinds = {g.kind for g in groups} or {mc.ModelInstanceGroup.KIND_CPU}
    if kinds - {mc.ModelInstanceGroup.KIND_CPU, mc.ModelInstanceGroup.KIND_GPU}:
        names = sorted(mc.ModelInstanceGroup.Kind.Name(k) for k in kinds)
        raise TuneError(f"{config.name}.instance_group: kinds {names} cannot be tuned; "
                        "use KIND_CPU or KIND_GPU groups")
    kind = InstanceKind.GPU if mc.ModelInstanceGroup.KIND_GPU in kinds else InstanceKind.CPU
    batching = config.HasField("dynamic_batching")
    return Candidate(
        instance_count=count,
        dynamic_batching=batching,
        max_queue_delay_us=int(config.dynamic_batching.max_queue_delay_microseconds),
        preferred_batch_sizes=tuple(int(s) for s in config.dynamic_batching.preferred_batch_size),
        max_batch_size=int(config.max_batch_size),
        kind=kind,
        queue_policy=_queue_policy(config.dynamic_batching) if batching else None,
    ).canonical()


def _queue_policy(batching: mc.ModelDynamicBatching) -> QueuePolicy | None:
    if not batching.HasField("default_queue_policy"):
        return None
    policy = batching.default_queue_policy
    return QueuePolicy(
        timeout_action=TimeoutAction(mc.ModelQueuePolicy.TimeoutAction.Name(
            policy.timeout_action)),
        default_timeout_microseconds=int(policy.default_timeout_microseconds),
        allow_timeout_override=bool(policy.allow_timeout_override),
        max_queue_size=int(policy.max_queue_size))


def apply_candidate(config: mc.ModelConfig, candidate: Candidate) -> mc.ModelConfig:
    """Return a copy of ``config`` with the candidate's knobs set.

    Instance groups are replaced by one group of the candidate's kind and count; the
    ``default_queue_policy`` is the candidate's (cleared for none); other dynamic-batching
    fields (priority levels and their policies) are kept when batching stays on.
    """
    result = mc.ModelConfig()
    result.CopyFrom(config)
    result.max_batch_size = candidate.max_batch_size
    del result.instance_group[:]
    group = result.instance_group.add()
    group.kind = mc.ModelInstanceGroup.Kind.Value(candidate.kind.value)
    group.count = candidate.instance_count
    if candidate.dynamic_batching:
        batching = result.dynamic_batching
        batching.max_queue_delay_microseconds = candidate.max_queue_delay_us
        del batching.preferred_batch_size[:]
        batching.preferred_batch_size.extend(candidate.preferred_batch_sizes)
        batching.ClearField("default_queue_policy")
        policy = candidate.queue_policy
        if policy is not None:
            queue = batching.default_queue_policy
            queue.timeout_action = mc.ModelQueuePolicy.TimeoutAction.Value(
                policy.timeout_action.value)
            queue.default_timeout_microseconds = policy.default_timeout_microseconds
            queue.allow_timeout_override = policy.allow_timeout_override
            queue.max_queue_size = policy.max_queue_size
    else:
        result.ClearField("dynamic_batching")
    return result


class ModelController:
    """Read and load model configs through :class:`serving.release.RepositoryApi`.

    Args:
        http_url: Triton's HTTP endpoint, ``http://host:port``.
        headers: Headers for the restricted repository API (the admin key).
        timeout_s: Timeout of each call; loading may take this long.

    Raises:
        TuneError: ``http_url`` is not an HTTP endpoint.
    """

    def __init__(self, http_url: str, headers: Mapping[str, str] | None = None,
                 timeout_s: float = 120.0) -> None:
        try:
            self._api = RepositoryApi(http_url, dict(headers or {}), timeout_s)
        except ReleaseInputError as exc:
            raise TuneError(f"stats_url: {exc}") from exc

    def close(self) -> None:
        """Close the HTTP connection."""
        self._api.close()

    def __enter__(self) -> ModelController:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def config(self, model: str) -> mc.ModelConfig:
        """The config the server runs ``model`` with now.

        Raises:
            ModelControlError: The server does not know the model or answers nonsense.
        """
        try:
            raw = self._api.config(model)
        except RepositoryApiError as exc:
            raise ModelControlError(model, f"cannot read the model config: {exc}") from exc
        config = mc.ModelConfig()
        try:
            json_format.ParseDict(raw, config, ignore_unknown_fields=True)
        except json_format.ParseError as exc:
            raise ModelControlError(model, f"the server's config does not parse: {exc}") from exc
        return config

    def load(self, model: str, config: mc.ModelConfig, ready_timeout_s: float = 60.0) -> None:
        """Load ``model`` with ``config`` as an override and wait until it is ready.

        Raises:
            ModelControlError: Triton refused the config (its message is included), the
                server is not in explicit model-control mode, or the model never got ready.
        """
        body = json_format.MessageToDict(config, preserving_proto_field_name=True)
        try:
            self._api.load(model, body)
        except RepositoryApiError as exc:
            text = exc.reason.lower()
            hint = ""
            if "explicit" in text or "not allowed" in text or "polling" in text:
                hint = " (start tritonserver with --model-control-mode=explicit)"
            elif str(exc.status) == "403" or "restricted" in text:
                hint = " (set TRITON_ADMIN_KEY or TRITON_ADMIN_KEY_FILE to the server's key)"
            raise ModelControlError(model, f"load refused: {exc}{hint}") from exc
        deadline = time.monotonic() + ready_timeout_s
        while not self._ready(model):
            if time.monotonic() > deadline:
                raise ModelControlError(model, f"not ready {ready_timeout_s:.0f} s after load")
            time.sleep(_READY_POLL_S)

    def _ready(self, model: str) -> bool:
        try:
            states = self._api.versions(model)
        except RepositoryApiError:
            return False
        return bool(states) and any(v.state == "READY" for v in states) and not any(
            v.state == "LOADING" for v in states)


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[list[int]]:
    """Hold back SIGINT for the block (main thread only); yields the signals caught."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def hold(signum: int, frame: FrameType | None) -> None:
        caught.append(signum)

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield caught
    finally:
        signal.signal(signal.SIGINT, previous)


class ConfigGuard:
    """Reload a model's pre-tuning config when the block ends, however it ends.

    Usage::

        with ConfigGuard(controller, "recommendation") as original:
            controller.load("recommendation", apply_candidate(original, candidate))

    Attributes:
        model: The model guarded.
        original: The config read on entry.
        restored: True once the original config was reloaded and read back unchanged.
    """

    def __init__(self, controller: ModelController, model: str,
                 ready_timeout_s: float = 60.0) -> None:
        self.model = model
        self.restored = False
        self._controller = controller
        self._ready_timeout_s = ready_timeout_s
        self.original = controller.config(model)

    def __enter__(self) -> mc.ModelConfig:
        return self.original

    def restore(self) -> None:
        """Reload the original config and check the server reports it back.

        Raises:
            ModelControlError: The reload failed or the config read back differs.
        """
        self._controller.load(self.model, self.original, self._ready_timeout_s)
        if self._controller.config(self.model) != self.original:
            raise ModelControlError(self.model, "config read back after the rollback differs "
                                    "from the one before tuning")
        self.restored = True

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        with _sigint_deferred() as caught:
            try:
                self.restore()
            except ModelControlError as error:
                if exc is None:
                    raise
                print(f"error: rollback failed: {error}", file=sys.stderr)
        if caught and exc is None:
            raise KeyboardInterrupt


def describe_config(config: mc.ModelConfig) -> dict[str, Any]:
    """The config as a JSON-ready dict (proto field names)."""
    loaded: dict[str, Any] = json.loads(
        json_format.MessageToJson(config, preserving_proto_field_name=True))
    return loaded
