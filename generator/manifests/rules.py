"""The Prometheus rule files: read the hand-written ones, name the generated one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from generator.manifests.errors import ManifestError

__all__ = ["GENERATED_RULES_FILE", "RULE_FILE_GLOB", "load_rule_groups"]

#: The rule file ``python -m generator k8s`` writes from the specs, beside the others.
GENERATED_RULES_FILE = "triton-models.rules.yml"
RULE_FILE_GLOB = "*.rules.yml"


def _check_group(group: Any, where: str) -> dict[str, Any]:
    if not isinstance(group, dict):
        raise ManifestError(where, "a rule group must be a mapping")
    if not isinstance(group.get("name"), str) or not group["name"]:
        raise ManifestError(f"{where}.name", "a rule group needs a non-empty name")
    rules = group.get("rules")
    if not isinstance(rules, list) or not rules:
        raise ManifestError(f"{where}.rules", "a rule group needs a non-empty list of rules")
    for index, rule in enumerate(rules):
        at = f"{where}.rules[{index}]"
        if not isinstance(rule, dict) or not isinstance(rule.get("expr"), str):
            raise ManifestError(f"{at}.expr", "every rule needs an expr string")
        if ("record" in rule) == ("alert" in rule):
            raise ManifestError(at, "a rule has exactly one of record and alert")
    return group


def load_rule_groups(rules_dir: Path) -> list[dict[str, Any]]:
    """Return the groups of every hand-written rule file in ``rules_dir``, by file name.

    The generated file (:data:`GENERATED_RULES_FILE`) is left out: it is computed from the
    specs, never read back.

    Raises:
        ManifestError: The folder holds no rule file, or one is not a valid rule file.
    """
    files = sorted(
        p for p in Path(rules_dir).glob(RULE_FILE_GLOB) if p.name != GENERATED_RULES_FILE
    )
    if not files:
        raise ManifestError(str(rules_dir), f"no {RULE_FILE_GLOB} rule files")
    groups: list[dict[str, Any]] = []
    for path in files:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ManifestError(path.name, f"cannot read rule file: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
            raise ManifestError(f"{path.name}:groups", "a rule file is a mapping with groups")
        groups += [
            _check_group(group, f"{path.name}:groups[{index}]")
            for index, group in enumerate(data["groups"])
        ]
    names = [g["name"] for g in groups]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ManifestError(str(rules_dir), f"rule group names used twice: {duplicates}")
    return groups
