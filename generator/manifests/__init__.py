"""Kubernetes manifests and per-model Prometheus rules, generated from the model specs.

``python -m generator k8s specs --out deploy/k8s --rules deploy/prometheus/rules`` renders
a kustomize base and ``gpu``/``cpu`` overlays, prometheus-adapter values, and the rule file
``triton-models.rules.yml``; ``--check`` reports drift instead of writing.
"""

from generator.manifests.cli import add_k8s_parser, run_k8s
from generator.manifests.errors import ManifestError
from generator.manifests.facts import ModelFacts, gpus_needed, model_facts
from generator.manifests.render import (
    ManifestPlan,
    adapter_metrics_query,
    plan_manifests,
    tritonserver_args,
)
from generator.manifests.rules import GENERATED_RULES_FILE, load_rule_groups
from generator.manifests.settings import ManifestSettings
from generator.manifests.writer import check_manifests, drift, write_manifests

__all__ = [
    "GENERATED_RULES_FILE",
    "ManifestError",
    "ManifestPlan",
    "ManifestSettings",
    "ModelFacts",
    "adapter_metrics_query",
    "add_k8s_parser",
    "check_manifests",
    "drift",
    "gpus_needed",
    "load_rule_groups",
    "model_facts",
    "plan_manifests",
    "run_k8s",
    "tritonserver_args",
    "write_manifests",
]
