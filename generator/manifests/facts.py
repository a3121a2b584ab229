"""What the manifests and the generated rules need to know about each model of the specs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from generator.loader import LoadedSpec
from generator.manifests.errors import ManifestError
from generator.spec import InstanceKind, ModelSpec

__all__ = ["DEFAULT_SLO_KEY", "ModelFacts", "Slo", "gpus_needed", "model_facts"]

#: The entry of the SLO table that models without their own entry use.
DEFAULT_SLO_KEY = "default"


class Slo(Protocol):
    """A model's service-level goals (``loadtests.targets.Targets`` is one)."""

    @property
    def p99_ms(self) -> float:
        """Highest acceptable p99 latency in milliseconds."""

    @property
    def max_error_ratio(self) -> float:
        """Highest acceptable failed/total request ratio."""


@dataclass(frozen=True)
class ModelFacts:
    """One served model, as the monitoring rules see it.

    Attributes:
        name: Model name (the ``model`` label of Triton's metrics).
        max_queue_size: Largest ``max_queue_size`` of its queue policies; 0 when unbounded.
        slo_latency_p99_us: Server-side p99 latency goal (the client p99 target).
        slo_max_error_ratio: Highest acceptable failed/total request ratio.
    """

    name: str
    max_queue_size: int
    slo_latency_p99_us: int
    slo_max_error_ratio: float


def _max_queue_size(spec: ModelSpec) -> int:
    batching = spec.dynamic_batching
    if batching is None:
        return 0
    policies = [batching.default_queue_policy, *batching.priority_queue_policy.values()]
    sizes = [p.max_queue_size for p in policies if p is not None]
    if not sizes or 0 in sizes:
        return 0
    return max(sizes)


def model_facts(specs: Sequence[LoadedSpec], slos: Mapping[str, Slo]) -> list[ModelFacts]:
    """Return the facts of every model, sorted by name (deterministic output).

    Args:
        specs: The model specs.
        slos: Goals per model name, with a ``default`` entry for the others.

    Raises:
        ManifestError: A model has no goals and there is no ``default`` entry.
    """
    facts = []
    for loaded in specs:
        goal = slos.get(loaded.spec.name, slos.get(DEFAULT_SLO_KEY))
        if goal is None:
            raise ManifestError(f"targets.{loaded.spec.name}",
                                "no latency/error goals for this model and no [default]")
        facts.append(
            ModelFacts(
                name=loaded.spec.name,
                max_queue_size=_max_queue_size(loaded.spec),
                slo_latency_p99_us=round(goal.p99_ms * 1000),
                slo_max_error_ratio=goal.max_error_ratio,
            )
        )
    return sorted(facts, key=lambda f: f.name)


def gpus_needed(specs: Sequence[LoadedSpec]) -> int:
    """GPUs one replica needs: the highest GPU index named by a KIND_GPU group, plus one."""
    needed = 0
    for loaded in specs:
        for group in loaded.spec.instance_groups:
            if group.kind is InstanceKind.GPU:
                needed = max(needed, 1, *(index + 1 for index in group.gpus))
    return needed
