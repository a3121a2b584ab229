"""The search space: the serving knobs a trial sets, and the grid they span.

A :class:`Candidate` is one point: instance count and kind, dynamic batching on or off,
``max_queue_delay_microseconds``, preferred batch sizes, the ``max_batch_size`` cap and
the batcher's queue policy (none, or a :class:`generator.spec.QueuePolicy`).
A :class:`SearchSpace` holds the values tried per dimension; :meth:`SearchSpace.grid`
lists every valid, distinct candidate in a stable order. With batching off the batching
knobs do not matter, so those points collapse into one candidate.

:func:`host_space` builds the default space for a model on a host: instance counts from
1 to the host's cores (CPU) or ``2 x`` its GPUs, and never ``KIND_GPU`` without a GPU.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

from generator.spec import InstanceKind, QueuePolicy
from loadtests.tune.errors import TuneError

__all__ = [
    "DEFAULT_QUEUE_DELAYS_US",
    "DIMENSIONS",
    "Candidate",
    "HostInfo",
    "Point",
    "SearchSpace",
    "detect_host",
    "host_space",
    "queue_policy_dict",
    "queue_policy_from_dict",
    "queue_policy_label",
]

DIMENSIONS: tuple[str, ...] = (
    "instance_count",
    "dynamic_batching",
    "max_queue_delay_us",
    "preferred_batch_sizes",
    "max_batch_size",
    "queue_policy",
)
"""The dimensions of a space (:meth:`SearchSpace.points` order)."""

DEFAULT_QUEUE_DELAYS_US: tuple[int, ...] = (0, 500, 2000)
"""Queue delays tried by default, besides the spec's own."""

Point = tuple[int, ...]
"""Indices into each dimension's values, in :data:`DIMENSIONS` order."""


def queue_policy_label(policy: QueuePolicy | None) -> str:
    """A short description, e.g. ``queue max 256, timeout 5000000 us, override``."""
    if policy is None:
        return "no queue policy"
    parts = [f"max {policy.max_queue_size}" if policy.max_queue_size else "unbounded"]
    if policy.default_timeout_microseconds:
        parts.append(f"timeout {policy.default_timeout_microseconds} us "
                     f"{policy.timeout_action.value.lower()}")
    if policy.allow_timeout_override:
        parts.append("override")
    return "queue " + ", ".join(parts)


def queue_policy_dict(policy: QueuePolicy | None) -> dict[str, Any] | None:
    """A JSON-ready dict of ``policy`` (None for none)."""
    if policy is None:
        return None
    return {"max_queue_size": policy.max_queue_size,
            "default_timeout_microseconds": policy.default_timeout_microseconds,
            "allow_timeout_override": policy.allow_timeout_override,
            "timeout_action": policy.timeout_action.value}


def queue_policy_from_dict(data: Mapping[str, Any] | None) -> QueuePolicy | None:
    """Inverse of :func:`queue_policy_dict`.

    Raises:
        TuneError: A value is malformed.
    """
    if data is None:
        return None
    from generator.spec import TimeoutAction

    try:
        return QueuePolicy(
            timeout_action=TimeoutAction(data.get("timeout_action", "REJECT")),
            default_timeout_microseconds=int(data.get("default_timeout_microseconds", 0)),
            allow_timeout_override=bool(data.get("allow_timeout_override", False)),
            max_queue_size=int(data.get("max_queue_size", 0)))
    except (TypeError, ValueError) as exc:
        raise TuneError(f"queue_policy: malformed {dict(data)!r}: {exc}") from exc


@dataclass(frozen=True)
class Candidate:
    """One configuration a trial loads.

    Attributes:
        instance_count: Instances of the model (per GPU for ``KIND_GPU``).
        dynamic_batching: Whether the dynamic batcher is on.
        max_queue_delay_us: How long the batcher may hold a request, microseconds.
        preferred_batch_sizes: Batch sizes the batcher aims for; empty for none.
        max_batch_size: The model's ``max_batch_size``.
        kind: Where the instances run (``KIND_CPU`` or ``KIND_GPU``).
        queue_policy: The batcher's ``default_queue_policy``; None for none (Triton
            2.51 stalls the batcher 500 ms with most policies: docs/stall.md).
    """

    instance_count: int
    dynamic_batching: bool
    max_queue_delay_us: int
    preferred_batch_sizes: tuple[int, ...]
    max_batch_size: int
    kind: InstanceKind = InstanceKind.CPU
    queue_policy: QueuePolicy | None = None

    def __post_init__(self) -> None:
        if self.instance_count < 1:
            raise TuneError(f"instance_count: must be >= 1, got {self.instance_count}")
        if self.max_queue_delay_us < 0:
            raise TuneError(f"max_queue_delay_us: must be >= 0, got {self.max_queue_delay_us}")
        if self.max_batch_size < 0:
            raise TuneError(f"max_batch_size: must be >= 0, got {self.max_batch_size}")
        if any(size < 1 for size in self.preferred_batch_sizes):
            raise TuneError(f"preferred_batch_sizes: sizes must be >= 1, got "
                            f"{list(self.preferred_batch_sizes)}")
        if self.kind not in (InstanceKind.CPU, InstanceKind.GPU):
            raise TuneError(f"kind: must be KIND_CPU or KIND_GPU, got {self.kind.value}")

    def canonical(self) -> Candidate:
        """Return the same configuration with knobs that have no effect zeroed.

        Without dynamic batching, queue delay, preferred sizes and the queue policy (which
        lives in ``dynamic_batching``) do not exist.
        """
        if self.dynamic_batching:
            return self
        return Candidate(self.instance_count, False, 0, (), self.max_batch_size, self.kind)

    @property
    def label(self) -> str:
        """A short description, e.g. ``2 x CPU, batching 500 us [16, 32], max 64``."""
        where = f"{self.instance_count} x {self.kind.value.removeprefix('KIND_')}"
        if not self.dynamic_batching:
            return f"{where}, no batching, max {self.max_batch_size}"
        preferred = f" {list(self.preferred_batch_sizes)}" if self.preferred_batch_sizes else ""
        policy = "" if self.queue_policy is None else f", {queue_policy_label(self.queue_policy)}"
        return (f"{where}, batching {self.max_queue_delay_us} us{preferred}, "
                f"max {self.max_batch_size}{policy}")

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "instance_count": self.instance_count,
            "kind": self.kind.value,
            "dynamic_batching": self.dynamic_batching,
            "max_queue_delay_us": self.max_queue_delay_us,
            "preferred_batch_sizes": list(self.preferred_batch_sizes),
            "max_batch_size": self.max_batch_size,
            "queue_policy": queue_policy_dict(self.queue_policy),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Candidate:
        """Inverse of :meth:`as_dict`.

        Raises:
            TuneError: A key is missing or a value is out of range.
        """
        try:
            return cls(
                instance_count=int(data["instance_count"]),
                dynamic_batching=bool(data["dynamic_batching"]),
                max_queue_delay_us=int(data["max_queue_delay_us"]),
                preferred_batch_sizes=tuple(int(s) for s in data["preferred_batch_sizes"]),
                max_batch_size=int(data["max_batch_size"]),
                kind=InstanceKind(data.get("kind", InstanceKind.CPU.value)),
                queue_policy=queue_policy_from_dict(data.get("queue_policy")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TuneError(f"candidate: malformed {dict(data)!r}: {exc}") from exc


@dataclass(frozen=True)
class HostInfo:
    """What the serving host offers.

    Attributes:
        cpu_cores: Cores available to the server.
        gpus: GPUs available to the server (0 on a CPU-only host).
    """

    cpu_cores: int
    gpus: int = 0

    @property
    def kind(self) -> InstanceKind:
        """``KIND_GPU`` when the host has a GPU, else ``KIND_CPU``."""
        return InstanceKind.GPU if self.gpus > 0 else InstanceKind.CPU

    @property
    def max_instances(self) -> int:
        """The largest instance count worth trying: the cores, or two per GPU."""
        return 2 * self.gpus if self.gpus > 0 else max(1, self.cpu_cores)


def detect_host(dev: Path = Path("/dev")) -> HostInfo:
    """Describe this machine: usable cores and NVIDIA GPUs (``/dev/nvidiaN`` devices)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    gpus = sum(1 for p in dev.glob("nvidia[0-9]*") if p.name[len("nvidia"):].isdigit())
    return HostInfo(cpu_cores=max(1, cores), gpus=gpus)


def _sorted_unique(values: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(sorted(dict.fromkeys(values)))


@dataclass(frozen=True)
class SearchSpace:
    """The values tried per dimension (each sorted, without duplicates).

    Attributes:
        instance_counts: Instance counts.
        dynamic_batching: ``(False,)``, ``(True,)`` or ``(False, True)``.
        max_queue_delays_us: Queue delays in microseconds.
        preferred_batch_sizes: Preferred-size sets; ``()`` stands for none.
        max_batch_sizes: ``max_batch_size`` caps.
        kind: Where instances run; the same for every candidate.
        queue_policies: Queue policies (None for none), kept in the order given.
    """

    instance_counts: tuple[int, ...]
    dynamic_batching: tuple[bool, ...]
    max_queue_delays_us: tuple[int, ...]
    preferred_batch_sizes: tuple[tuple[int, ...], ...]
    max_batch_sizes: tuple[int, ...]
    kind: InstanceKind = InstanceKind.CPU
    queue_policies: tuple[QueuePolicy | None, ...] = (None,)
    _values: tuple[tuple[Any, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        values = (
            _sorted_unique(self.instance_counts),
            _sorted_unique(self.dynamic_batching),
            _sorted_unique(self.max_queue_delays_us),
            _sorted_unique([tuple(sorted(set(s))) for s in self.preferred_batch_sizes]),
            _sorted_unique(self.max_batch_sizes),
            tuple(dict.fromkeys(self.queue_policies)),
        )
        for name, options in zip(DIMENSIONS, values, strict=True):
            if not options:
                raise TuneError(f"{name}: the search space needs at least one value")
        if values[0][0] < 1:
            raise TuneError(f"instance_count: values must be >= 1, got {list(values[0])}")
        if values[2][0] < 0:
            raise TuneError(f"max_queue_delay_us: values must be >= 0, got {list(values[2])}")
        if values[4][0] < 1 and True in values[1]:
            raise TuneError("max_batch_size: dynamic batching needs max_batch_size >= 1")
        object.__setattr__(self, "_values", values)

    def values(self, dimension: str) -> tuple[Any, ...]:
        """The sorted values of one dimension (see :data:`DIMENSIONS`)."""
        return self._values[DIMENSIONS.index(dimension)]

    @property
    def shape(self) -> tuple[int, ...]:
        """Number of values per dimension."""
        return tuple(len(v) for v in self._values)

    @property
    def searched(self) -> tuple[str, ...]:
        """The dimensions with more than one value (a model without batching has none of
        the batching ones)."""
        return tuple(d for d, v in zip(DIMENSIONS, self._values, strict=True) if len(v) > 1)

    def candidate(self, point: Point) -> Candidate | None:
        """The canonical candidate at ``point``, or None when the combination is invalid.

        Invalid: a preferred batch size above the ``max_batch_size`` cap, or batching on
        with ``max_batch_size`` 0. With batching off the largest cap is used: the cap then
        only limits how many rows one request may carry.
        """
        count, batching, delay, preferred, cap, policy = (
            options[i] for options, i in zip(self._values, point, strict=True)
        )
        if not batching:
            # Without batching the cap only limits the rows one request may carry.
            cap = self._values[4][-1]
        elif cap < 1 or any(size > cap for size in preferred):
            return None
        return Candidate(count, batching, delay, preferred, cap, self.kind,
                         policy).canonical()

    def points(self) -> Iterator[Point]:
        """Every point of the grid, in lexicographic order."""
        return product(*(range(n) for n in self.shape))

    def grid(self) -> list[Candidate]:
        """Every valid, distinct candidate, in a stable order."""
        seen: dict[Candidate, None] = {}
        for point in self.points():
            candidate = self.candidate(point)
            if candidate is not None:
                seen.setdefault(candidate, None)
        return list(seen)

    def nearest_point(self, candidate: Candidate) -> Point:
        """The grid point closest to ``candidate``, dimension by dimension."""
        wanted: tuple[Any, ...] = (
            candidate.instance_count, candidate.dynamic_batching, candidate.max_queue_delay_us,
            tuple(sorted(candidate.preferred_batch_sizes)), candidate.max_batch_size,
            candidate.queue_policy,
        )
        point = []
        for options, value in zip(self._values, wanted, strict=True):
            if value in options:
                point.append(options.index(value))
            elif value is None or isinstance(value, QueuePolicy):
                # A policy not in the grid: the first one (the same kind) or none.
                kinds = [isinstance(o, QueuePolicy) == (value is not None) for o in options]
                point.append(kinds.index(True) if True in kinds else 0)
            elif isinstance(value, tuple):
                point.append(min(range(len(options)),
                                 key=lambda i: (len(set(options[i]) ^ set(value)), i)))
            else:
                point.append(min(range(len(options)), key=lambda i: (abs(options[i] - value), i)))
        return tuple(point)

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict of the values per dimension."""
        return {
            "instance_counts": list(self.values("instance_count")),
            "kind": self.kind.value,
            "dynamic_batching": list(self.values("dynamic_batching")),
            "max_queue_delays_us": list(self.values("max_queue_delay_us")),
            "preferred_batch_sizes": [list(s) for s in self.values("preferred_batch_sizes")],
            "max_batch_sizes": list(self.values("max_batch_size")),
            "queue_policies": [queue_policy_dict(p) for p in self.values("queue_policy")],
            "grid_size": len(self.grid()),
            "searched": list(self.searched),
        }


def host_space(
    spec: Candidate,
    host: HostInfo,
    *,
    instance_counts: Sequence[int] | None = None,
    dynamic_batching: Sequence[bool] | None = None,
    max_queue_delays_us: Sequence[int] | None = None,
    preferred_batch_sizes: Sequence[Sequence[int]] | None = None,
    max_batch_sizes: Sequence[int] | None = None,
    min_max_batch_size: int = 1,
    queue_policies: Sequence[QueuePolicy | None] | None = None,
) -> SearchSpace:
    """The default search space for a model on a host; every argument narrows one dimension.

    Defaults: instance counts ``1..host.max_instances``; batching off and on (on only
    when the model batches); queue delays :data:`DEFAULT_QUEUE_DELAYS_US` plus the spec's;
    preferred sizes none or the spec's set; ``max_batch_size`` the spec's value and a
    quarter of it; queue policy none, and the spec's own when it has one (so that the
    trade of dropping it is measured). The kind follows the host, so a CPU-only host never
    gets ``KIND_GPU``.

    Args:
        spec: The hand-written configuration (the baseline).
        host: The serving host.
        instance_counts: Narrow the instance counts.
        dynamic_batching: Narrow batching to off and/or on.
        max_queue_delays_us: Narrow the queue delays.
        preferred_batch_sizes: Narrow the preferred-size sets (``[]`` for none).
        max_batch_sizes: Narrow the ``max_batch_size`` caps.
        min_max_batch_size: The lowest cap the model allows (e.g. its largest warm-up
            batch); default caps below it are left out.
        queue_policies: Narrow the queue policies (None for none).

    Raises:
        TuneError: A narrowed value is impossible on this host or for this model.
    """
    counts = tuple(instance_counts or range(1, host.max_instances + 1))
    if max(counts) > host.max_instances:
        raise TuneError(f"instance_counts: {max(counts)} exceeds what this host offers "
                        f"({host.max_instances}: {host.cpu_cores} cores, {host.gpus} GPUs)")
    batches = spec.max_batch_size > 0
    batching = tuple(dynamic_batching) if dynamic_batching is not None else (
        (False, True) if batches else (False,))
    if True in batching and not batches:
        raise TuneError("dynamic_batching: the model has max_batch_size 0, so it cannot batch")
    delays = tuple(max_queue_delays_us if max_queue_delays_us is not None
                   else (*DEFAULT_QUEUE_DELAYS_US, spec.max_queue_delay_us))
    preferred = tuple(tuple(s) for s in preferred_batch_sizes) if preferred_batch_sizes \
        is not None else ((), spec.preferred_batch_sizes)
    floor = max(1, min_max_batch_size)
    caps = tuple(max_batch_sizes) if max_batch_sizes is not None else (
        tuple(c for c in (spec.max_batch_size, spec.max_batch_size // 4) if c >= floor)
        or (spec.max_batch_size,) if batches else (0,))
    if batches and any(cap < floor for cap in caps):
        raise TuneError(f"max_batch_sizes: caps must be >= {floor} (the model's largest "
                        f"warm-up batch, or 1), got {list(caps)}")
    if any(cap > spec.max_batch_size for cap in caps):
        raise TuneError(f"max_batch_sizes: caps must be at most the spec's max_batch_size "
                        f"{spec.max_batch_size}, got {list(caps)}")
    policies = tuple(queue_policies) if queue_policies is not None else (
        (None,) if spec.queue_policy is None else (None, spec.queue_policy))
    if not policies:
        raise TuneError("queue_policies: the search space needs at least one value")
    return SearchSpace(counts, batching, delays, preferred, caps, host.kind, policies)
