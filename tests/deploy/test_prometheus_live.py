"""Debian's real ``prometheus`` scraping the real embedded Triton 2.51 under load, rules loaded.

One Triton serves ``model_repository/`` with the tritonserver flags of the Kubernetes
Deployment (``deploy/k8s/base/deployment.yaml``: summaries on, admin APIs behind a key);
one Prometheus scrapes it every second and evaluates the committed rule files every
second. Only the alerts' ``for:`` hold times are shortened (to 1 s) in the test copy, so
that "pending" already counts as firing: under normal load not a single alert may even
be pending, and injected failures must make the error-ratio alert fire.

Every Grafana panel query (GPU panels aside: this host has no GPU), every recording
rule and the prometheus-adapter query must return non-empty, finite data.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import tritonclient.http as httpclient
import yaml
from tritonclient.utils import InferenceServerException

from generator.manifests import ManifestSettings, adapter_metrics_query
from scripts.capture_triton_metrics import image_input, noise_png, user_input
from serving import TritonServer, free_ports

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "triton.json"
DEPLOYMENT = ROOT / "deploy" / "k8s" / "base" / "deployment.yaml"
#: Flags the test server sets itself (repository, loopback ports, a short exit timeout).
SERVER_OWNED = ("--model-repository", "--http-port", "--grpc-port", "--metrics-port",
                "--exit-timeout-secs")
GPU_ONLY_METRICS = frozenset({"nv_gpu_utilization", "nv_gpu_memory_used_bytes",
                              "nv_gpu_memory_total_bytes", "nv_gpu_power_usage"})
READY_TIMEOUT_S = 60.0
DATA_TIMEOUT_S = 60.0
ALERT_TIMEOUT_S = 60.0
LOAD_DURATION_S = 120.0  # upper bound; the load stops as soon as the test is done
LOAD_MAX_REQUESTS = 20_000


# ---------------------------------------------------------------------- helpers
def _wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")
        pause.wait(0.5)


@dataclass
class Load:
    """Closed-loop load from a few threads, bounded in time and count; stops by itself."""

    address: str
    bad_inputs: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _worker(self, index: int) -> None:
        client = httpclient.InferenceServerClient(self.address, connection_timeout=10.0,
                                                  network_timeout=10.0)
        image = noise_png(index)
        deadline = time.monotonic() + LOAD_DURATION_S
        try:
            while not self.stop.is_set() and time.monotonic() < deadline:
                with self._lock:
                    if self.sent >= LOAD_MAX_REQUESTS:
                        return
                    self.sent += 1
                    count = self.sent
                try:
                    if self.bad_inputs.is_set() and index == 0:
                        client.infer("image_diagnosis", [image_input(b"not an image")])
                    elif count % 2:
                        client.infer("recommendation", [user_input(count % 500)])
                    else:
                        client.infer("image_diagnosis", [image_input(image)])
                except InferenceServerException as exc:
                    with self._lock:
                        self.failed += 1
                        if not self.bad_inputs.is_set():
                            self.errors.append(str(exc))
        finally:
            client.close()

    @classmethod
    def start(cls, address: str, users: int) -> tuple[Load, list[threading.Thread]]:
        load = cls(address)
        threads = [threading.Thread(target=load._worker, args=(i,), daemon=True)
                   for i in range(users)]
        for thread in threads:
            thread.start()
        return load, threads


class Prometheus:
    """Debian's ``prometheus`` on 127.0.0.1, with temporary storage."""

    def __init__(self, binary: str, config: Path, storage: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = storage.parent / "prometheus.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [binary, f"--config.file={config}", f"--storage.tsdb.path={storage}",
                 f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT,
            )

    def get(self, path: str, **params: str) -> Any:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}" if params else self.url + path
        with urllib.request.urlopen(url, timeout=10.0) as response:
            return json.loads(response.read())

    def ready(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"prometheus exited: {self.log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2.0) as response:
                return int(response.status) == 200
        except (urllib.error.URLError, OSError):
            return False

    def query(self, expr: str) -> list[dict[str, Any]]:
        body = self.get("/api/v1/query", query=expr)
        assert body["status"] == "success", body
        assert body["data"]["resultType"] == "vector", (expr, body["data"]["resultType"])
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def _finite(result: list[dict[str, Any]]) -> bool:
    return bool(result) and all(math.isfinite(float(r["value"][1])) for r in result)


def _deployment_args(admin_key: str) -> list[str]:
    deployment = yaml.safe_load(DEPLOYMENT.read_text(encoding="utf-8"))
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return [a.replace("$(TRITON_ADMIN_KEY)", admin_key) for a in container["args"]
            if not a.startswith(SERVER_OWNED)]


def _test_rules(folder: Path) -> list[Path]:
    """Copies of the committed rule files with every alert's ``for:`` set to 1 s."""
    folder.mkdir()
    copies = []
    for path in sorted(RULES.glob("*.rules.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in data["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    rule["for"] = "1s"
        copy = folder / path.name
        copy.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        copies.append(copy)
    return copies


def _recording_rules() -> list[str]:
    names = []
    for path in sorted(RULES.glob("*.rules.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        names += [r["record"] for g in data["groups"] for r in g["rules"] if "record" in r]
    return sorted(set(names))


def _panel_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [(panel["title"], target["expr"]) for panel in dashboard["panels"]
            for target in panel["targets"]]


def _grafana_to_promql(expr: str) -> str:
    return expr.replace("$__rate_interval", "15s").replace('"$model"', '".*"')


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def stack(
    require_tool: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TritonServer, Prometheus]]:
    """The embedded Triton (Deployment flags) and a Prometheus scraping it with the rules."""
    binary = require_tool("prometheus")
    repository = ROOT / "model_repository"
    if not any(repository.glob("*/config.pbtxt")):
        pytest.skip(f"{repository} is empty: run `python -m generator build specs --out "
                    "model_repository` first")
    work = tmp_path_factory.mktemp("prometheus-live")
    server = TritonServer(repository, extra_args=_deployment_args(secrets.token_hex(16)),
                          restrict_admin_apis=False, ready_timeout_s=180.0)
    with server:
        rules = _test_rules(work / "rules")
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                       "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in rules],
            "scrape_configs": [{
                "job_name": "triton",
                "static_configs": [{"targets": [f"127.0.0.1:{server.metrics_port}"]}],
            }],
        }
        config_path = work / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        (port,) = free_ports(1)
        prometheus = Prometheus(binary, config_path, work / "data", port)
        try:
            _wait_for(prometheus.ready, READY_TIMEOUT_S, "prometheus /-/ready")
            _wait_for(lambda: _finite(prometheus.query('up{job="triton"} == 1')),
                      READY_TIMEOUT_S, "the first successful scrape of Triton")
            yield server, prometheus
        finally:
            prometheus.stop()


@pytest.fixture(scope="module")
def load(stack: tuple[TritonServer, Prometheus]) -> Iterator[Load]:
    """Normal load (two closed-loop users over HTTP) for the whole module, bounded."""
    server, prometheus = stack
    running, threads = Load.start(server.http_address, users=2)
    try:
        names = _recording_rules()
        _wait_for(lambda: all(_finite(prometheus.query(n)) for n in names),
                  DATA_TIMEOUT_S, "data in every recording rule")
        yield running
    finally:
        running.stop.set()
        for thread in threads:
            thread.join(timeout=30)


# ---------------------------------------------------------------------- tests
def test_every_recording_rule_is_non_empty_and_finite_under_load(
    stack: tuple[TritonServer, Prometheus], load: Load,
) -> None:
    _, prometheus = stack
    for name in _recording_rules():
        result = prometheus.query(name)
        assert _finite(result), (name, result)
    models = {r["metric"]["model"] for r in prometheus.query("triton:requests_success:rate2m")}
    assert {"recommendation", "image_diagnosis"} <= models
    assert load.errors == []


def test_every_grafana_panel_query_is_non_empty_and_finite_under_load(
    stack: tuple[TritonServer, Prometheus], load: Load,
) -> None:
    _, prometheus = stack
    skipped = []
    for title, expr in _panel_queries():
        if set(re.findall(r"\bnv_[a-z0-9_]+", expr)) & GPU_ONLY_METRICS:
            skipped.append(title)
            continue
        result = prometheus.query(_grafana_to_promql(expr))
        assert _finite(result), (title, expr, result)
    assert skipped == ["GPU utilisation", "GPU memory used"]
    values = prometheus.get("/api/v1/label/model/values",
                            **{"match[]": "nv_inference_request_success"})
    assert {"recommendation", "image_diagnosis"} <= set(values["data"])


def test_prometheus_adapter_query_gives_finite_queue_time_per_pod(
    stack: tuple[TritonServer, Prometheus], load: Load,
) -> None:
    _, prometheus = stack
    query = adapter_metrics_query(ManifestSettings())
    query = query.replace("<<.GroupBy>>", "instance").replace("<<.LabelMatchers>>",
                                                              'job="triton"')
    result = prometheus.query(query)
    assert _finite(result), result
    assert [r["metric"]["instance"] for r in result] == [
        f"127.0.0.1:{stack[0].metrics_port}"]
    assert float(result[0]["value"][1]) >= 0


def test_no_alert_is_even_pending_under_normal_load(
    stack: tuple[TritonServer, Prometheus], load: Load,
) -> None:
    _, prometheus = stack
    body = prometheus.get("/api/v1/rules", type="alert")
    alerts = [r for g in body["data"]["groups"] for r in g["rules"]]
    assert len(alerts) >= 7
    assert all(r["health"] == "ok" for r in alerts), [r for r in alerts if r["health"] != "ok"]
    assert prometheus.query("ALERTS") == []


def test_error_ratio_alert_fires_when_bad_inputs_fail_requests(
    stack: tuple[TritonServer, Prometheus], load: Load,
) -> None:
    _, prometheus = stack
    assert prometheus.query("ALERTS") == []
    load.bad_inputs.set()
    firing = 'ALERTS{alertname="TritonErrorRatioOverSLO", alertstate="firing"}'
    _wait_for(lambda: bool(prometheus.query(firing)), ALERT_TIMEOUT_S,
              "TritonErrorRatioOverSLO to fire")
    models = {r["metric"]["model"] for r in prometheus.query(firing)}
    assert "image_diagnosis" in models
    assert load.failed > 0
    assert "recommendation" not in models
