"""Deployment settings of the Kubernetes manifests that do not come from the specs."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ManifestSettings"]


@dataclass(frozen=True)
class ManifestSettings:
    """Values the manifests need besides the specs; the defaults are the committed ones.

    Attributes:
        app: Name of the Deployment, its Services and the ``app.kubernetes.io/name`` label;
            also the Prometheus ``job`` label the rules select.
        namespace: Namespace the overlays deploy into.
        image: Triton image (the compose build: NGC 24.10 = Triton 2.51, plus Pillow).
        http_port: Triton's HTTP port (inference, health and the admin APIs behind the key).
        grpc_port: Triton's gRPC port.
        metrics_port: Triton's Prometheus metrics port.
        exit_timeout_s: ``--exit-timeout-secs``: Triton's wait for in-flight requests.
        prestop_sleep_s: Time for endpoints and balancers to stop sending before SIGTERM.
        admin_secret: Secret holding the admin key (created by the operator, never here).
        admin_secret_key: Key inside that Secret.
        admin_header: HTTP header that carries the admin key.
        model_volume_claim: PersistentVolumeClaim holding the model repository.
        model_volume_size: Requested size of that claim.
        shm_size: Size of the in-memory ``/dev/shm`` the python backend uses.
        min_replicas: HPA lower bound (2 keeps one replica up during a disruption).
        max_replicas_gpu: HPA upper bound in the gpu overlay.
        max_replicas_cpu: HPA upper bound in the cpu overlay.
        queue_time_target_ms: HPA target: mean queue time per request, per pod.
        scrape_interval_s: ServiceMonitor scrape interval.
        adapter_window_scrapes: prometheus-adapter ``rate()`` window, in scrapes.
        monitoring_namespace: Namespace of Prometheus (allowed to scrape the metrics port).
        prometheus_selector: Labels the Prometheus Operator selects ServiceMonitors and
            PrometheusRules by (kube-prometheus-stack's default release label).
    """

    app: str = "triton"
    namespace: str = "triton"
    image: str = "triton-suite/tritonserver:24.10-py3"
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    exit_timeout_s: int = 30
    prestop_sleep_s: int = 15
    admin_secret: str = "triton-admin"
    admin_secret_key: str = "admin-key"
    admin_header: str = "triton-suite-admin-key"
    model_volume_claim: str = "triton-model-repository"
    model_volume_size: str = "20Gi"
    shm_size: str = "1Gi"
    min_replicas: int = 2
    max_replicas_gpu: int = 8
    max_replicas_cpu: int = 6
    queue_time_target_ms: int = 50
    scrape_interval_s: int = 10
    adapter_window_scrapes: int = 6
    monitoring_namespace: str = "monitoring"
    prometheus_selector: dict[str, str] = field(
        default_factory=lambda: {"release": "kube-prometheus-stack"}
    )

    @property
    def termination_grace_period_s(self) -> int:
        """preStop sleep plus Triton's exit timeout plus a margin, before SIGKILL."""
        return self.prestop_sleep_s + self.exit_timeout_s + 15

    @property
    def adapter_window_s(self) -> int:
        """The ``rate()`` window of the adapter rule, in seconds."""
        return self.scrape_interval_s * self.adapter_window_scrapes
