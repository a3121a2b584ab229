"""The dynamic-batcher stall a queue policy causes in Triton 2.51 (core r24.10).

Any of ``default_timeout_microseconds``, ``allow_timeout_override``, ``max_queue_size``
(in ``default_queue_policy``) or ``priority_levels`` turns request prefetching off
(``PriorityQueue::PriorityQueue``, ``src/scheduler_utils.cc``). The batcher then waits on
its own condition variable for an idle instance, up to ``default_wait_microseconds = 500
* 1000`` (``DynamicBatchScheduler::BatcherThread``), but an instance that becomes idle
does not notify it (``InstanceQueue::IncrementConsumerCount``, ``src/instance_queue.cc``):
only a newly enqueued request does. Closed-loop callers that are all waiting enqueue
nothing, so every caller waits out the 500 ms. Measured in
``scripts/repro_queue_policy_stall.py``, see docs/stall.md. ``timeout_action`` alone
keeps prefetching and is harmless.
"""

from __future__ import annotations

from tritonclient.grpc import model_config_pb2 as mc

from generator.layout import is_ensemble
from generator.validation.reporter import Reporter

__all__ = ["STALL_CODE", "check_batcher_stall", "stall_triggers"]

STALL_CODE = "queue-policy-stalls-batcher"


def stall_triggers(batching: mc.ModelDynamicBatching) -> list[tuple[str, str]]:
    """The settings of ``batching`` that turn Triton's batch prefetching off.

    Args:
        batching: A ``dynamic_batching`` message.

    Returns:
        ``(field path, setting as written)`` pairs, in config order; empty when harmless.
    """
    policy = batching.default_queue_policy
    prefix = "dynamic_batching.default_queue_policy"
    triggers: list[tuple[str, str]] = []
    if policy.default_timeout_microseconds != 0:
        triggers.append((f"{prefix}.default_timeout_microseconds",
                         f"default_timeout_microseconds {policy.default_timeout_microseconds}"))
    if policy.allow_timeout_override:
        triggers.append((f"{prefix}.allow_timeout_override", "allow_timeout_override"))
    if policy.max_queue_size != 0:
        triggers.append((f"{prefix}.max_queue_size", f"max_queue_size {policy.max_queue_size}"))
    if batching.priority_levels != 0:
        triggers.append(("dynamic_batching.priority_levels",
                         f"priority_levels {batching.priority_levels}"))
    return triggers


def check_batcher_stall(config: mc.ModelConfig, r: Reporter) -> None:
    """Warn when the dynamic batching of ``config`` sets what stalls Triton's batcher.

    Args:
        config: The config.
        r: Where issues go.
    """
    if (not config.HasField("dynamic_batching") or is_ensemble(config)
            or config.max_batch_size <= 0):
        return
    triggers = stall_triggers(config.dynamic_batching)
    if not triggers:
        return
    settings = ", ".join(setting for _, setting in triggers)
    r.warning(
        triggers[0][0],
        STALL_CODE,
        f"{settings} turns Triton 2.51's batch prefetching off, and its dynamic batcher then "
        "sleeps up to 500 ms waiting for an idle instance: with 8 closed-loop callers on a "
        "python-backend model every call waited ~510 ms a few times a second, p99 rose to "
        "~500 ms and throughput fell up to 10x (docs/stall.md). Shed load at the balancer "
        "(HAProxy maxconn + timeout queue) or with client deadlines instead, and drop these "
        "settings (timeout_action alone is harmless)",
    )
