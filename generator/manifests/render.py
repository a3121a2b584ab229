"""Render the manifests and the generated rule file from jinja2 templates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import jinja2
import yaml

from generator.loader import LoadedSpec
from generator.manifests.facts import Slo, gpus_needed, model_facts
from generator.manifests.rules import GENERATED_RULES_FILE, RULE_FILE_GLOB, load_rule_groups
from generator.manifests.settings import ManifestSettings

__all__ = [
    "ManifestPlan",
    "adapter_metrics_query",
    "adapter_rule",
    "plan_manifests",
    "tritonserver_args",
]

TEMPLATES = Path(__file__).with_name("templates")
TARGETS = ("gpu", "cpu")
_RESOURCES = {
    "gpu": {"cpu": "4", "memory": "8Gi", "memory_limit": "16Gi"},
    "cpu": {"cpu": "2", "memory": "4Gi", "memory_limit": "8Gi"},
}
_BASE_FILES = (
    "kustomization.yaml",
    "serviceaccount.yaml",
    "model-repository-pvc.yaml",
    "deployment.yaml",
    "services.yaml",
    "hpa.yaml",
    "pdb.yaml",
    "networkpolicy.yaml",
    "servicemonitor.yaml",
    "prometheusrule.yaml",
)
CANARY_STEPS = (10, 25, 50)
"""Traffic steps of the Argo Rollouts canary overlay (100 % is the promotion)."""
CANARY_MAX_LATENCY_RATIO = 1.5
"""Highest canary / baseline server time per request (``serving.release canary``'s default)."""
CANARY_PROMETHEUS_URL = "http://prometheus-operated.monitoring.svc:9090"
"""Where the AnalysisTemplates query Prometheus (the Prometheus Operator's service)."""
_OVERLAY_FILES = (
    "kustomization.yaml",
    "namespace.yaml",
    "deployment-resources.yaml",
    "hpa-max-replicas.yaml",
)


class _Dumper(yaml.SafeDumper):
    """Safe YAML with multi-line strings (PromQL) as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _toyaml(value: Any) -> str:
    text: str = yaml.dump(value, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                          allow_unicode=False, width=100)
    return text.rstrip("\n")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["toyaml"] = _toyaml
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": True}
    return env


def tritonserver_args(settings: ManifestSettings) -> list[str]:
    """The ``tritonserver`` arguments of the Deployment (the compose command's flags).

    ``$(TRITON_ADMIN_KEY)`` is expanded by the kubelet from the Secret-backed variable.
    """
    restricted = f"{settings.admin_header}=$(TRITON_ADMIN_KEY)"
    return [
        "--model-repository=/models",
        "--model-control-mode=none",
        "--strict-readiness=true",
        "--exit-on-error=true",
        f"--exit-timeout-secs={settings.exit_timeout_s}",
        f"--http-port={settings.http_port}",
        f"--grpc-port={settings.grpc_port}",
        f"--metrics-port={settings.metrics_port}",
        "--allow-sagemaker=false",
        "--allow-vertex-ai=false",
        f"--http-restricted-api=model-repository,shared-memory,logging,trace:{restricted}",
        f"--grpc-restricted-protocol=model-repository,shared-memory,logging,trace:{restricted}",
        "--allow-metrics=true",
        "--allow-gpu-metrics=true",
        "--allow-cpu-metrics=true",
        "--metrics-interval-ms=2000",
        "--metrics-config=summary_latencies=true",
        "--log-format=ISO8601",
    ]


def adapter_metrics_query(settings: ManifestSettings) -> str:
    """prometheus-adapter's query: mean queue time per request in ms, per ``<<.GroupBy>>``."""
    window = f"{settings.adapter_window_s}s"
    success = (
        f"sum by (<<.GroupBy>>) "
        f"(rate(nv_inference_request_success{{<<.LabelMatchers>>}}[{window}]))"
    )
    queue = (
        f"sum by (<<.GroupBy>>) "
        f"(rate(nv_inference_queue_duration_us{{<<.LabelMatchers>>}}[{window}]))"
    )
    return f"{queue} / 1000\n  / ({success} > 0)\nor\n{success} * 0\n"


def adapter_rule(settings: ManifestSettings) -> dict[str, Any]:
    """prometheus-adapter's rule for ``triton_queue_time_per_request_ms`` (pods)."""
    return {
        "seriesQuery": 'nv_inference_queue_duration_us{namespace!="",pod!=""}',
        "resources": {"overrides": {"namespace": {"resource": "namespace"},
                                    "pod": {"resource": "pod"}}},
        "name": {"matches": "^nv_inference_queue_duration_us$",
                 "as": "triton_queue_time_per_request_ms"},
        "metricsQuery": adapter_metrics_query(settings),
    }


class ManifestPlan:
    """Everything ``python -m generator k8s`` writes, as text.

    Attributes:
        files: Path relative to the manifests folder (``base/deployment.yaml``) -> text.
        rules_file: Name of the generated rule file in the rules folder.
        rules_text: Its text.
    """

    def __init__(self, files: dict[str, str], rules_text: str) -> None:
        self.files = files
        self.rules_file = GENERATED_RULES_FILE
        self.rules_text = rules_text


def plan_manifests(
    specs: Sequence[LoadedSpec],
    rules_dir: Path,
    slos: Mapping[str, Slo],
    *,
    targets_source: str = "loadtests/targets.toml",
    settings: ManifestSettings | None = None,
) -> ManifestPlan:
    """Render every manifest and the generated rule file, in memory (deterministic).

    Args:
        specs: The model specs (as loaded by :func:`generator.load_specs`).
        rules_dir: Folder of the hand-written ``*.rules.yml`` files.
        slos: Latency and error goals per model, with a ``default`` entry
            (``loadtests/targets.toml``).
        targets_source: How the header of the generated rule file names the targets.
        settings: Deployment settings; the defaults when None.

    Raises:
        ManifestError: A rule file is not usable.
    """
    s = settings or ManifestSettings()
    env = _environment()
    models = model_facts(specs, slos)
    origins = sorted({loaded.origin for loaded in specs})
    rules_text = env.get_template("triton-models.rules.yml.j2").render(
        models=[asdict(m) for m in models], origins=origins, targets_source=targets_source
    )
    generated = yaml.safe_load(rules_text)["groups"]
    rule_dir = Path(rules_dir)
    sources = sorted(
        p.name for p in rule_dir.glob(RULE_FILE_GLOB) if p.name != GENERATED_RULES_FILE
    )
    common: dict[str, Any] = {
        "s": s,
        "models": [asdict(m) for m in models],
        "origins": origins,
        "args": tritonserver_args(s),
        "groups": load_rule_groups(rule_dir) + generated,
        "rule_sources": [*sources, GENERATED_RULES_FILE],
        "max_replicas": s.max_replicas_cpu,
        "adapter_rule": adapter_rule(s),
    }
    files: dict[str, str] = {}
    for name in _BASE_FILES:
        files[f"base/{name}"] = env.get_template(f"base-{name}.j2").render(common)
    gpus = max(1, gpus_needed(specs))
    for target in TARGETS:
        variables = dict(common, target=target, gpus=gpus, resources=_RESOURCES[target],
                         max_replicas=s.max_replicas_gpu if target == "gpu" else s.max_replicas_cpu)
        for name in _OVERLAY_FILES:
            files[f"overlays/{target}/{name}"] = env.get_template(
                f"overlay-{name}.j2").render(variables)
    canary = dict(common, canary_steps=CANARY_STEPS, max_latency_ratio=CANARY_MAX_LATENCY_RATIO,
                  prometheus_url=CANARY_PROMETHEUS_URL)
    files["overlays/canary/kustomization.yaml"] = env.get_template(
        "canary-kustomization.yaml.j2").render(canary)
    files["overlays/canary/rollout.yaml"] = env.get_template(
        "canary-rollout.yaml.j2").render(canary)
    for model in common["models"]:
        files[f"overlays/canary/analysis-{model['name']}.yaml"] = env.get_template(
            "canary-analysis.yaml.j2").render(dict(canary, m=model))
    files["prometheus-adapter/values.yaml"] = env.get_template(
        "prometheus-adapter-values.yaml.j2").render(common)
    return ManifestPlan(files, rules_text)
