"""deploy/compose.replicas.yml: two GPU replicas behind `lb`, locust aimed at the balancer.

The GPU image cannot run on this machine; the offline stack with the same balancer
configuration runs for real in tests/deploy/test_compose_embedded.py.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from serving.compose import ComposeProject
from serving.compose.balancer import COMPOSE_HAPROXY_CFG

from .conftest import REPO_ROOT

OVERRIDE = REPO_ROOT / "deploy" / "compose.replicas.yml"
REPLICAS = ("triton-1", "triton-2")
TEST_ENV = {"TRITON_ADMIN_KEY": "test-admin-key-0123456789",
            "GRAFANA_ADMIN_PASSWORD": "test-grafana-password"}


def _services(path: Path) -> dict[str, Any]:
    services = yaml.safe_load(path.read_text(encoding="utf-8"))["services"]
    assert isinstance(services, dict)
    return services


def test_replicas_run_the_base_triton_service_flag_for_flag_without_publishing_ports() -> None:
    base = _services(REPO_ROOT / "docker-compose.yml")["triton"]
    override = _services(OVERRIDE)

    for name in REPLICAS:
        replica = override[name]
        for key in ("image", "build", "command", "volumes", "shm_size", "ulimits",
                    "healthcheck", "stop_grace_period", "deploy"):
            assert replica[key] == base[key], f"{name}.{key} differs from triton.{key}"
        assert "ports" not in replica
        assert replica["networks"]["default"]["aliases"] == ["triton"]
    assert override["triton"] == {"profiles": ["single"]}


def test_balancer_serves_exactly_the_replica_services_from_the_generated_config() -> None:
    lb = _services(OVERRIDE)["lb"]
    mount = lb["volumes"][0]
    text = COMPOSE_HAPROXY_CFG.read_text(encoding="utf-8")

    assert (REPO_ROOT / mount["source"]).resolve() == COMPOSE_HAPROXY_CFG
    assert mount["read_only"] is True
    for backend in ("triton_http", "triton_grpc"):
        section = text.split(f"\nbackend {backend}\n", 1)[1].split("\nbackend ", 1)[0]
        servers = re.findall(r"^    server (\S+) (\S+):", section, flags=re.MULTILINE)
        assert [name for name, _ in servers] == list(REPLICAS)
        assert [host for _, host in servers] == list(REPLICAS)
    for port in lb["ports"]:
        assert port.startswith("${LB_BIND_ADDRESS:-127.0.0.1}:"), port


def test_docker_compose_merges_the_override_and_aims_locust_at_the_balancer(
        tmp_path: Path) -> None:
    if shutil.which("docker-compose") is None:
        reason = "docker-compose is not installed (apt-get install docker-compose)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    env_file = tmp_path / "test.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in TEST_ENV.items()), encoding="utf-8")
    project = ComposeProject(name="tsreplicas", project_dir=REPO_ROOT, env_file=env_file,
                             files=(REPO_ROOT / "docker-compose.yml", OVERRIDE))

    services = project.config()["services"]

    assert isinstance(services, dict)
    assert {"triton-1", "triton-2", "lb"} <= set(services)
    for name in ("locust-master", "locust-worker"):
        assert "--host=grpc://lb:8001" in services[name]["command"], name
        assert services[name]["depends_on"]["lb"]["condition"] == "service_healthy"
    assert services["triton-1"]["command"] == services["triton-2"]["command"]
