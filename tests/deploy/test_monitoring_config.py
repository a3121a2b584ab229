"""Prometheus and Grafana provisioning files: they parse and point at each other."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

REQUIRED_PANELS = {
    "Request rate (successful)",
    "Failures by reason",
    "End-to-end latency p50 / p95 / p99",
    "Queue time vs compute time (mean per request)",
    "Mean batch size",
    "GPU utilisation",
}


def _yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


def _dashboard(deploy_root: Path) -> dict[str, Any]:
    path = deploy_root / "deploy" / "grafana" / "dashboards" / "triton.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_prometheus_finds_every_triton_replica_by_dns_on_compose_network(
    deploy_root: Path,
) -> None:
    config = _yaml(deploy_root / "deploy" / "prometheus" / "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    triton = jobs["triton"]
    assert triton.get("metrics_path", "/metrics") == "/metrics"
    lookups = [(name, sd["type"], sd["port"])
               for sd in triton["dns_sd_configs"] for name in sd["names"]]
    assert lookups == [("triton", "A", 8002)]
    lb = [(name, sd["port"]) for sd in jobs["haproxy"]["dns_sd_configs"] for name in sd["names"]]
    assert lb == [("lb", 8404)]


def test_grafana_datasource_points_at_prometheus_service_with_fixed_uid(
    deploy_root: Path,
) -> None:
    folder = deploy_root / "deploy" / "grafana" / "provisioning" / "datasources"
    sources = [s for path in sorted(folder.glob("*.yml")) for s in _yaml(path)["datasources"]]
    assert len(sources) == 1
    source = sources[0]
    assert (source["type"], source["uid"], source["url"]) == (
        "prometheus", "prometheus", "http://prometheus:9090",
    )
    assert source["isDefault"] is True


def test_grafana_dashboard_provider_reads_folder_that_compose_mounts(
    deploy_root: Path, compose: dict[str, Any],
) -> None:
    folder = deploy_root / "deploy" / "grafana" / "provisioning" / "dashboards"
    providers = [p for path in sorted(folder.glob("*.yml")) for p in _yaml(path)["providers"]]
    assert len(providers) == 1
    mounts = {
        Path(v["source"]).as_posix().removeprefix("./"): v["target"]
        for v in compose["services"]["grafana"]["volumes"] if isinstance(v, dict)
    }
    assert providers[0]["options"]["path"] == mounts["deploy/grafana/dashboards"]
    assert mounts["deploy/grafana/provisioning"] == "/etc/grafana/provisioning"


def test_grafana_dashboard_has_required_panels_on_provisioned_datasource(
    deploy_root: Path,
) -> None:
    dashboard = _dashboard(deploy_root)
    panels = dashboard["panels"]
    assert {panel["title"] for panel in panels} >= REQUIRED_PANELS
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        assert panel["datasource"]["uid"] == "prometheus", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "prometheus"
            assert re.search(r"\bnv_[a-z0-9_]+", target["expr"]), target["expr"]


def test_grafana_dashboard_latency_panel_reads_summary_quantiles_50_95_99(
    deploy_root: Path,
) -> None:
    (panel,) = [
        p for p in _dashboard(deploy_root)["panels"]
        if p["title"] == "End-to-end latency p50 / p95 / p99"
    ]
    quantiles = {
        match for target in panel["targets"]
        for match in re.findall(r'quantile="([0-9.]+)"', target["expr"])
    }
    assert quantiles == {"0.5", "0.95", "0.99"}
    assert all("nv_inference_request_summary_us" in t["expr"] for t in panel["targets"])
    assert panel["fieldConfig"]["defaults"]["unit"] == "ms"


def test_grafana_dashboard_panels_do_not_overlap_on_the_grid(deploy_root: Path) -> None:
    cells: set[tuple[int, int]] = set()
    for panel in _dashboard(deploy_root)["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        area = {
            (x, y) for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & area, panel["title"]
        cells |= area


def test_compose_prometheus_loads_the_shared_rule_folder_read_only(
    deploy_root: Path, compose: dict[str, Any],
) -> None:
    config = _yaml(deploy_root / "deploy" / "prometheus" / "prometheus.yml")
    (pattern,) = config["rule_files"]
    mounts = {
        Path(v["source"]).as_posix().removeprefix("./"): v
        for v in compose["services"]["prometheus"]["volumes"] if isinstance(v, dict)
    }
    rules = mounts["deploy/prometheus/rules"]
    assert rules["read_only"] is True
    assert Path(pattern).parent.as_posix() == rules["target"]
    matched = sorted((deploy_root / "deploy" / "prometheus" / "rules").glob(Path(pattern).name))
    assert [p.name for p in matched] == [
        "triton-alerts.rules.yml", "triton-models.rules.yml", "triton-recording.rules.yml"]
