"""Which versions of a model Triton serves, from its folders and its version policy.

Mirrors ``VersionsToLoad`` (``model_repository_manager/model_lifecycle.cc``): every
sub-folder whose name parses as an integer is a version, except names with a leading
zero and the ``warmup``, ``initial_state`` and ``configs`` folders; the policy then
picks ``latest`` N (``latest 1`` when no policy is written), ``all`` or ``specific``
versions that exist. An empty pick fails the load: "at least one version must be
available under the version policy".
"""

from __future__ import annotations

from collections.abc import Iterable

from tritonclient.grpc import model_config_pb2 as mc

from generator.validation.artifacts import ModelArtifacts
from generator.validation.reporter import Reporter

__all__ = [
    "SPECIAL_FOLDERS",
    "check_version_policy",
    "policy_text",
    "served_versions",
]

#: Folders of a model folder that Triton never takes as versions.
SPECIAL_FOLDERS = frozenset({"warmup", "initial_state", "configs"})

def served_versions(config: mc.ModelConfig, existing: Iterable[int]) -> list[int]:
    """The versions Triton loads, newest first.

    Args:
        config: The model's config (its ``version_policy``).
        existing: Version numbers that have a folder.
    """
    present = sorted(set(existing), reverse=True)
    policy = config.version_policy
    if policy.HasField("specific"):
        wanted = set(int(v) for v in policy.specific.versions)
        return [v for v in present if v in wanted]
    if policy.HasField("all"):
        return present
    count = int(policy.latest.num_versions) if policy.HasField("latest") else 1
    return present[:count]


def policy_text(config: mc.ModelConfig) -> str:
    """The version policy in words, e.g. ``latest 1 (the default)``."""
    policy = config.version_policy
    if policy.HasField("specific"):
        return f"specific {list(policy.specific.versions)}"
    if policy.HasField("all"):
        return "all"
    if policy.HasField("latest"):
        return f"latest {policy.latest.num_versions}"
    return "latest 1 (the default)"


def check_version_policy(artifacts: ModelArtifacts, r: Reporter) -> None:
    """Flag version folders Triton skips and policies that leave nothing to load.

    Args:
        artifacts: The model folder.
        r: Where issues go.
    """
    config = artifacts.config
    for folder in artifacts.top_level_folders:
        if folder.isdigit() and len(folder) > 1 and folder.startswith("0"):
            r.warning(folder, "version-folder-leading-zero",
                      f"folder {folder!r} has a leading zero; Triton ignores it as a version "
                      f"(name it {folder.lstrip('0') or '0'!r})")
    available = artifacts.version_numbers
    if config.version_policy.HasField("specific"):
        wanted = list(config.version_policy.specific.versions)
        for index, v in enumerate(wanted):
            if v not in available:
                r.warning(f"version_policy.specific.versions[{index}]", "missing-policy-version",
                          f"version_policy names version {v} but there is no folder '{v}/'; "
                          f"versions present: {sorted(available)}")
    if not available:
        return
    if not served_versions(config, available):
        r.error("version_policy", "no-loadable-version",
                f"version policy {policy_text(config)} selects none of the versions present "
                f"{sorted(available)}, so no version can load")
