"""Instance groups, as ``ValidateInstanceGroup`` (``model_config_utils.cc``) checks them.

Host-dependent rules (which GPU ids exist) become warnings that say so.
"""

from __future__ import annotations

import re

from tritonclient.grpc import model_config_pb2 as mc

from generator.layout import is_ensemble, is_tensorrt
from generator.validation.reporter import Reporter

__all__ = ["check_instance_groups"]

_Group = mc.ModelInstanceGroup
_INTEGER_PREFIX = re.compile(r"\s*([+-]?\d+)")


def _kind(kind: int) -> str:
    return str(_Group.Kind.Name(kind))


def check_instance_groups(config: mc.ModelConfig, r: Reporter) -> None:
    """Check every instance group of ``config``.

    Args:
        config: The config.
        r: Where issues go.
    """
    groups = list(config.instance_group)
    if is_ensemble(config):
        if groups:
            r.error("instance_group", "ensemble-instance-group",
                    "instance_group must not be set for an ensemble (it runs no instances itself)")
        return
    tensorrt = is_tensorrt(config)
    for i, group in enumerate(groups):
        label = f"instance group {group.name!r}" if group.name else f"instance group {i}"
        prefix = f"instance_group[{i}]"
        if group.count < 0:
            r.error(f"{prefix}.count", "negative-instance-count",
                    f"{label} has count {group.count}; it must be >= 0")
        if group.kind in (_Group.KIND_CPU, _Group.KIND_MODEL) and len(group.gpus) > 0:
            r.error(f"{prefix}.gpus", "gpus-on-non-gpu-group",
                    f"{label} has kind {_kind(group.kind)} but lists gpus {list(group.gpus)}")
        else:
            _check_gpu_ids(group, prefix, label, r)
        if tensorrt and group.kind == _Group.KIND_CPU:
            r.error(f"{prefix}.kind", "tensorrt-on-cpu",
                    f"{label} has kind KIND_CPU but a TensorRT plan runs only on GPU instances")
        if len(group.profile) > 0 and not tensorrt:
            r.error(f"{prefix}.profile", "profile-not-tensorrt",
                    f"{label} sets profile {list(group.profile)}, which only TensorRT models "
                    "support")
        elif tensorrt:
            _check_profiles(group, prefix, label, r)


def _check_gpu_ids(group: mc.ModelInstanceGroup, prefix: str, label: str, r: Reporter) -> None:
    for k, gpu in enumerate(group.gpus):
        if gpu < 0:
            r.error(f"{prefix}.gpus[{k}]", "negative-gpu-id",
                    f"{label} lists gpu id {gpu}; ids are >= 0")
        elif gpu > 0:
            r.warning(f"{prefix}.gpus[{k}]", "gpu-id-host-dependent",
                      f"{label} lists gpu id {gpu}: the serving host needs at least {gpu + 1} "
                      "GPUs or Triton refuses the model (host-dependent)")


def _check_profiles(group: mc.ModelInstanceGroup, prefix: str, label: str, r: Reporter) -> None:
    for k, profile in enumerate(group.profile):
        match = _INTEGER_PREFIX.match(profile)
        if match is None or int(match.group(1)) < 0:
            r.error(f"{prefix}.profile[{k}]", "instance-profile-invalid",
                    f"{label} profile {profile!r} must be a non-negative integer, the index of "
                    "a TensorRT optimisation profile")
