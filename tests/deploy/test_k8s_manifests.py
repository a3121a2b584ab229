"""deploy/k8s: generated from the specs without drift, built by kustomize, valid for two
Kubernetes versions, and holding what a production rollout needs (probes, draining,
security, autoscaling on queue time, disruption budget, network policy, monitoring).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from kubernetes_validate import utils as kv

from generator import load_specs
from generator.cli import main as generator_main
from generator.errors import DriftError
from generator.manifests import (
    GENERATED_RULES_FILE,
    ManifestError,
    ManifestSettings,
    check_manifests,
    drift,
    plan_manifests,
    write_manifests,
)
from loadtests.targets import load_targets

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
RULES = ROOT / "deploy" / "prometheus" / "rules"
OVERLAYS = ("gpu", "cpu")
#: The oldest release docs/kubernetes.md supports, the oldest of the three minor releases
#: upstream supports (newest - 2), and the newest schema kubernetes-validate bundles.
_BUNDLED = sorted(set(kv.all_versions()), key=lambda v: tuple(map(int, v.split("."))))
KUBERNETES_VERSIONS = ("1.29.0", _BUNDLED[-3], _BUNDLED[-1])
CUSTOM_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor"),
                ("monitoring.coreos.com/v1", "PrometheusRule")}
DURATION = (r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?"
            r"(([0-9]+)ms)?)$")
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA = {"type": "object", "required": ["name"],
             "properties": {"name": {"type": "string", "minLength": 1}}}
#: The parts of the Prometheus Operator v1 CRD schemas (monitoring.coreos.com) these
#: manifests use: required fields, types and duration patterns; unknown fields refused.
CRD_SCHEMAS: dict[str, dict[str, Any]] = {
    "PrometheusRule": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"groups": {"type": "array", "items": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "interval": {"type": "string", "pattern": DURATION},
                        "rules": {"type": "array", "items": {
                            "type": "object",
                            "required": ["expr"],
                            "additionalProperties": False,
                            "oneOf": [{"required": ["record"]}, {"required": ["alert"]}],
                            "properties": {
                                "record": {"type": "string"},
                                "alert": {"type": "string"},
                                "expr": {"type": "string"},
                                "for": {"type": "string", "pattern": DURATION},
                                "labels": _STRING_MAP,
                                "annotations": _STRING_MAP,
                            },
                        }},
                    },
                }}},
            },
        },
    },
    "ServiceMonitor": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["selector", "endpoints"],
                "additionalProperties": False,
                "properties": {
                    "jobLabel": {"type": "string"},
                    "selector": {"type": "object", "additionalProperties": False,
                                 "properties": {"matchLabels": _STRING_MAP}},
                    "endpoints": {"type": "array", "minItems": 1, "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "interval": {"type": "string", "pattern": DURATION},
                            "scrapeTimeout": {"type": "string", "pattern": DURATION},
                        },
                    }},
                },
            },
        },
    },
}


def _build(kubectl: str, overlay: str) -> list[dict[str, Any]]:
    result = subprocess.run([kubectl, "kustomize", str(K8S / "overlays" / overlay)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def built(require_tool: Callable[[str], str]) -> dict[str, list[dict[str, Any]]]:
    """``kubectl kustomize`` output of each overlay."""
    kubectl = require_tool("kubectl")
    return {overlay: _build(kubectl, overlay) for overlay in OVERLAYS}


def _one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, f"{kind} {name}: {len(found)} objects"
    return found[0]


def _container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = _one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def _plan() -> Any:
    return plan_manifests(load_specs(ROOT / "specs"), RULES, load_targets(None))


# ------------------------------------------------------------------ generation and drift
def test_committed_k8s_manifests_and_model_rules_match_what_the_specs_generate() -> None:
    differences = drift(_plan(), K8S, RULES)
    assert differences == [], (
        "run `python -m generator k8s specs --out deploy/k8s --rules deploy/prometheus/rules`")


def test_generator_k8s_check_reports_a_hand_edit_and_a_stray_file_as_drift(
    tmp_path: Path,
) -> None:
    out, rules = tmp_path / "k8s", tmp_path / "rules"
    shutil.copytree(RULES, rules)
    plan = _plan()
    write_manifests(plan, out, rules)
    check_manifests(plan, out, rules)
    (out / "base" / "hpa.yaml").write_text("edited\n", encoding="utf-8")
    (out / "base" / "extra.yaml").write_text("{}\n", encoding="utf-8")
    (rules / GENERATED_RULES_FILE).unlink()
    with pytest.raises(DriftError) as caught:
        check_manifests(plan, out, rules)
    assert caught.value.differences == (
        f"{out}/base/hpa.yaml: differs",
        f"{out}/base/extra.yaml: not generated (remove it)",
        f"{rules}/{GENERATED_RULES_FILE}: missing",
    )


def test_generator_k8s_cli_writes_then_check_passes_and_exits_1_after_an_edit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    out, rules = tmp_path / "k8s", tmp_path / "rules"
    shutil.copytree(RULES, rules)
    command = ["k8s", str(ROOT / "specs"), "--out", str(out), "--rules", str(rules)]
    assert generator_main(command) == 0
    assert generator_main([*command, "--check"]) == 0
    (out / "overlays" / "gpu" / "deployment-resources.yaml").write_text("x: 1\n", "utf-8")
    capsys.readouterr()
    assert generator_main([*command, "--check"]) == 1
    error = capsys.readouterr().err
    assert f"{out}/overlays/gpu/deployment-resources.yaml: differs" in error
    assert "python -m generator k8s" in error


def test_generator_k8s_output_is_deterministic_across_two_renders() -> None:
    first, second = _plan(), _plan()
    assert first.files == second.files
    assert first.rules_text == second.rules_text


def test_generator_k8s_refuses_a_rule_without_expr_naming_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "bad.rules.yml").write_text(
        "groups:\n  - name: g\n    rules:\n      - record: a:b\n", encoding="utf-8")
    with pytest.raises(ManifestError, match=r"bad\.rules\.yml:groups\[0\]\.rules\[0\]\.expr"):
        plan_manifests(load_specs(ROOT / "specs"), tmp_path, load_targets(None))


def test_generated_model_rules_follow_specs_max_queue_size_and_targets() -> None:
    specs = load_specs(ROOT / "specs")
    groups = yaml.safe_load(_plan().rules_text)["groups"]
    rules = groups[0]["rules"]
    expected = {r["labels"]["model"] for r in rules if r["record"] == "triton:model_expected"}
    assert expected == {loaded.spec.name for loaded in specs}
    slo = {r["labels"]["model"]: r["expr"] for r in rules
           if r["record"] == "triton:slo_latency_p99_us"}
    p99_ms = load_targets(None)["recommendation"].p99_ms
    assert slo["recommendation"] == f"vector({round(p99_ms * 1000)})"
    queue = {r["labels"]["model"]: r["expr"] for r in rules
             if r["record"] == "triton:model_max_queue_size"}
    for loaded in specs:
        batching = loaded.spec.dynamic_batching
        policy = batching.default_queue_policy if batching else None
        if policy is not None and policy.max_queue_size > 0:
            assert queue[loaded.spec.name] == f"vector({policy.max_queue_size})"
        else:
            assert loaded.spec.name not in queue


# ------------------------------------------------------------------ offline validation
@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_of_overlay_validates_strictly_against_kubernetes_version(
    built: dict[str, list[dict[str, Any]]], overlay: str, version: str,
) -> None:
    checked = 0
    for obj in built[overlay]:
        if (obj["apiVersion"], obj["kind"]) in CUSTOM_KINDS:
            continue
        try:
            kv.validate(obj, version, strict=True)
        except kv.SchemaNotFoundError as exc:  # a warning in the CLI; a failure here
            pytest.fail(f"no schema: {exc.message}")
        except kv.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} {path}: {exc.message}")
        checked += 1
    assert checked >= 9


def test_validation_fails_for_a_kind_without_schema_when_strict() -> None:
    obj = {"apiVersion": "autoscaling/v2beta2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "x"}, "spec": {}}
    with pytest.raises(kv.SchemaNotFoundError):
        kv.validate(obj, KUBERNETES_VERSIONS[-1], strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_of_overlay_match_prometheus_operator_crd_fields(
    built: dict[str, list[dict[str, Any]]], overlay: str,
) -> None:
    custom = [o for o in built[overlay] if (o["apiVersion"], o["kind"]) in CUSTOM_KINDS]
    assert sorted(o["kind"] for o in custom) == ["PrometheusRule", "ServiceMonitor"]
    for obj in custom:
        jsonschema.validate(obj, CRD_SCHEMAS[obj["kind"]])


def test_crd_schema_refuses_a_rule_with_both_record_and_alert() -> None:
    rule = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": "x"},
            "spec": {"groups": [{"name": "g", "rules": [
                {"record": "a", "alert": "b", "expr": "up"}]}]}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(rule, CRD_SCHEMAS["PrometheusRule"])


# ------------------------------------------------------------------ what the objects say
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployment_probes_triton_health_and_drains_before_sigterm(
    built: dict[str, list[dict[str, Any]]], overlay: str,
) -> None:
    deployment = _one(built[overlay], "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = _container(built[overlay])
    assert container["startupProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    (exit_timeout,) = [int(a.split("=")[1]) for a in container["args"]
                       if a.startswith("--exit-timeout-secs=")]
    sleep_s = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert sleep_s > 0
    assert pod["terminationGracePeriodSeconds"] > sleep_s + exit_timeout
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert "--strict-readiness=true" in container["args"]
    assert "--model-control-mode=none" in container["args"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployment_runs_non_root_read_only_with_admin_key_only_from_secret(
    built: dict[str, list[dict[str, Any]]], overlay: str,
) -> None:
    pod = _one(built[overlay], "Deployment")["spec"]["template"]["spec"]
    container = _container(built[overlay])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    (key,) = [e for e in container["env"] if e["name"] == "TRITON_ADMIN_KEY"]
    assert key["valueFrom"]["secretKeyRef"] == {"name": "triton-admin", "key": "admin-key"}
    restricted = [a for a in container["args"] if "restricted" in a]
    assert len(restricted) == 2
    assert all(a.endswith("=$(TRITON_ADMIN_KEY)") for a in restricted)
    assert not [o for o in built[overlay] if o["kind"] == "Secret"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/models"]["readOnly"] is True
    volumes = {v["name"]: v for v in pod["volumes"]}
    claim = volumes[mounts["/models"]["name"]]["persistentVolumeClaim"]
    assert _one(built[overlay], "PersistentVolumeClaim", claim["claimName"])
    assert volumes[mounts["/dev/shm"]["name"]]["emptyDir"]["medium"] == "Memory"


def test_deployment_runs_the_compose_tritonserver_flags(triton_command: list[str]) -> None:
    plan = _plan()
    deployment = yaml.safe_load(plan.files["base/deployment.yaml"])
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    compose = [a for a in triton_command[1:] if "restricted" not in a]
    assert [a for a in args if "restricted" not in a] == compose
    assert [a.split(":")[0] for a in args if "restricted" in a] == [
        a.split(":")[0] for a in triton_command[1:] if "restricted" in a]


def test_gpu_overlay_requests_the_gpus_of_the_specs_and_cpu_overlay_none(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    gpu = _container(built["gpu"])["resources"]
    assert gpu["limits"]["nvidia.com/gpu"] == "1"
    assert gpu["requests"]["nvidia.com/gpu"] == "1"
    cpu = _container(built["cpu"])["resources"]
    assert "nvidia.com/gpu" not in json.dumps(cpu)
    assert cpu["requests"]["cpu"] and cpu["limits"]["memory"]
    for overlay in OVERLAYS:
        namespace = _one(built[overlay], "Namespace")
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        assert {o["metadata"].get("namespace") for o in built[overlay]
                if o["kind"] != "Namespace"} == {namespace["metadata"]["name"]}


def test_services_are_headless_for_inference_and_separate_for_metrics(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    objects = built["gpu"]
    headless = _one(objects, "Service", "triton")["spec"]
    assert headless["clusterIP"] == "None"
    assert {p["name"] for p in headless["ports"]} == {"http", "grpc"}
    metrics = _one(objects, "Service", "triton-metrics")
    assert [p["name"] for p in metrics["spec"]["ports"]] == ["metrics"]
    monitor = _one(objects, "ServiceMonitor")["spec"]
    assert monitor["selector"]["matchLabels"].items() <= metrics["metadata"]["labels"].items()
    assert [e["port"] for e in monitor["endpoints"]] == ["metrics"]
    # The rules select job="triton": the ServiceMonitor takes the job from this label.
    assert metrics["metadata"]["labels"][monitor["jobLabel"]] == "triton"


def test_prometheus_rule_holds_exactly_the_groups_of_the_rule_files(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    expected: list[dict[str, Any]] = []
    for path in sorted(RULES.glob("*.rules.yml")):
        if path.name != GENERATED_RULES_FILE:
            expected += yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
    expected += yaml.safe_load((RULES / GENERATED_RULES_FILE).read_text(encoding="utf-8"))[
        "groups"]
    assert _one(built["gpu"], "PrometheusRule")["spec"]["groups"] == expected


def test_hpa_scales_on_queue_time_up_fast_and_down_with_stabilisation(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    hpa = _one(built["gpu"], "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    spec = hpa["spec"]
    assert spec["minReplicas"] >= 2
    (metric,) = spec["metrics"]
    assert metric["pods"]["metric"]["name"] == "triton_queue_time_per_request_ms"
    up, down = spec["behavior"]["scaleUp"], spec["behavior"]["scaleDown"]
    assert up["stabilizationWindowSeconds"] == 0
    assert down["stabilizationWindowSeconds"] >= 300
    assert max(p["value"] for p in up["policies"] if p["type"] == "Pods") > max(
        p["value"] for p in down["policies"] if p["type"] == "Pods")
    assert _one(built["cpu"], "HorizontalPodAutoscaler")["spec"]["maxReplicas"] == (
        ManifestSettings().max_replicas_cpu)


def test_adapter_rule_rates_counters_over_several_scrapes_without_bias() -> None:
    values = yaml.safe_load((K8S / "prometheus-adapter" / "values.yaml").read_text("utf-8"))
    (rule,) = values["rules"]["custom"]
    assert rule["name"]["as"] == "triton_queue_time_per_request_ms"
    query = rule["metricsQuery"]
    assert "delta(" not in query
    assert not re.search(r"\b1\s*\+", query), "no 1+ bias in the adapter query"
    windows = set(re.findall(r"\[(\d+)s\]", query))
    settings = ManifestSettings()
    assert windows == {str(settings.adapter_window_s)}
    assert settings.adapter_window_s >= 4 * settings.scrape_interval_s
    assert query.count("rate(") == 3


def test_pdb_and_network_policy_keep_a_replica_up_and_metrics_inside(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    objects = built["gpu"]
    assert _one(objects, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    policy = _one(objects, "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress"]
    by_port = {p["port"]: rule for rule in policy["ingress"] for p in rule["ports"]}
    assert "from" not in by_port["http"] and "from" not in by_port["grpc"]
    sources = by_port["metrics"]["from"]
    assert {"podSelector": {}} in sources  # this namespace
    assert all("ipBlock" not in s for s in sources)
    outside = [s for s in sources if "namespaceSelector" in s]
    assert all(s["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}
               for s in outside)
