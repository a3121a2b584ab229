"""The Argo Rollouts canary overlay, validated offline against the fields Argo requires.

``kubectl kustomize`` builds the overlay (no cluster, no network); the Rollout and
AnalysisTemplates are then checked against the required fields of Argo Rollouts'
v1alpha1 CRDs (Rollout: ``workloadRef`` apiVersion/kind/name or a template, canary
steps of one known kind each; AnalysisTemplate: ``metrics`` with ``name`` and one
provider, the Prometheus provider's ``query``), every ``{{args.X}}`` is declared, every
template a step names exists, and every recording rule a query uses is defined.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

OVERLAY = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "overlays" / "canary"
RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules"
_STEP_KINDS = {"setWeight", "pause", "analysis", "experiment", "setCanaryScale"}
_ARG = re.compile(r"\{\{\s*args\.([A-Za-z0-9_-]+)\s*\}\}")
_RULE = re.compile(r"\btriton:[A-Za-z0-9_:]+")


@pytest.fixture(scope="module")
def built() -> list[dict[str, Any]]:
    """The overlay as ``kubectl kustomize`` builds it."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    result = subprocess.run([kubectl, "kustomize", str(OVERLAY)], capture_output=True,
                            text=True, timeout=60, check=True)
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def _of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def test_canary_overlay_rollout_has_argo_required_fields_and_takes_the_deployment(
        built: list[dict[str, Any]]) -> None:
    (rollout,) = _of_kind(built, "Rollout")
    assert rollout["apiVersion"] == "argoproj.io/v1alpha1"
    spec = rollout["spec"]
    (deployment,) = _of_kind(built, "Deployment")
    ref = spec["workloadRef"]
    assert (ref["apiVersion"], ref["kind"], ref["name"]) == (
        "apps/v1", "Deployment", deployment["metadata"]["name"])
    assert spec["selector"]["matchLabels"].items() <= \
        deployment["spec"]["template"]["metadata"]["labels"].items()
    steps = spec["strategy"]["canary"]["steps"]
    assert all(len(step) == 1 and set(step) <= _STEP_KINDS for step in steps)
    weights = [step["setWeight"] for step in steps if "setWeight" in step]
    assert weights == sorted(weights) and all(0 < w < 100 for w in weights)
    (hpa,) = _of_kind(built, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["kind"] == "Rollout"


def test_canary_overlay_analysis_templates_are_complete_and_use_defined_rules(
        built: list[dict[str, Any]]) -> None:
    (rollout,) = _of_kind(built, "Rollout")
    templates = {t["metadata"]["name"]: t for t in _of_kind(built, "AnalysisTemplate")}
    recorded = {rule["record"] for path in RULES.glob("*.rules.yml")
                for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
                for rule in group["rules"] if "record" in rule}
    analyses = [s["analysis"] for s in rollout["spec"]["strategy"]["canary"]["steps"]
                if "analysis" in s]
    assert analyses
    for analysis in analyses:
        passed = {arg["name"] for arg in analysis.get("args", [])}
        for ref in analysis["templates"]:
            template = templates[ref["templateName"]]
            declared = {arg["name"] for arg in template["spec"].get("args", [])}
            assert {a["name"] for a in template["spec"]["args"] if "value" not in a} <= passed
            assert template["spec"]["metrics"]
            for metric in template["spec"]["metrics"]:
                assert metric["name"] and metric["successCondition"]
                prometheus = metric["provider"]["prometheus"]
                assert prometheus["address"].startswith("http")
                used = set(_ARG.findall(prometheus["query"]))
                assert used and used <= declared
                assert set(_RULE.findall(prometheus["query"])) <= recorded
