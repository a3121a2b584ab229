"""docker-compose.yml and its CPU override: structure, secure defaults, profiles, images."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Helpers = dict[str, Callable[..., Any]]

TEST_ENV = {"TRITON_ADMIN_KEY": "k" * 24, "GRAFANA_ADMIN_PASSWORD": "p" * 16}
CLI_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(Path.home())}
RESTRICTED = {"model-repository", "shared-memory", "logging", "trace"}


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services = compose["services"]
    assert isinstance(services, dict)
    return services


def test_compose_file_defines_triton_locust_and_monitoring_services_when_parsed(
    compose: dict[str, Any],
) -> None:
    assert set(_services(compose)) == {
        "triton", "locust-master", "locust-worker", "prometheus", "grafana",
    }


def test_compose_profiles_start_only_triton_when_no_profile_is_given(
    compose: dict[str, Any],
) -> None:
    profiles = {name: service.get("profiles", []) for name, service in _services(compose).items()}
    assert profiles == {
        "triton": [],
        "locust-master": ["load"],
        "locust-worker": ["load"],
        "prometheus": ["monitoring"],
        "grafana": ["monitoring"],
    }


def test_compose_ports_bind_to_loopback_when_bind_addresses_are_unset(
    compose: dict[str, Any],
) -> None:
    published = [
        (name, port) for name, service in _services(compose).items()
        for port in service.get("ports", [])
    ]
    assert {name for name, _ in published} == {"triton", "locust-master", "prometheus", "grafana"}
    for name, port in published:
        assert isinstance(port, str) and port.startswith("127.0.0.1:"), (name, port)
    triton_ports = {port.rsplit(":", 1)[1] for port in _services(compose)["triton"]["ports"]}
    assert triton_ports == {"8000", "8001", "8002"}


def test_compose_ports_follow_bind_address_variable_when_user_opts_in(
    compose_raw: dict[str, Any], compose_helpers: Helpers,
) -> None:
    env = {**TEST_ENV, "TRITON_BIND_ADDRESS": "0.0.0.0", "TRITON_HTTP_PORT": "18000"}
    compose = compose_helpers["interpolate"](compose_raw, env)
    ports = compose["services"]["triton"]["ports"]
    assert "0.0.0.0:18000:8000" in ports
    assert all(port.startswith("0.0.0.0:") for port in ports)
    assert compose["services"]["grafana"]["ports"][0].startswith("127.0.0.1:")


def test_compose_refuses_to_render_when_triton_admin_key_is_unset(
    compose_raw: dict[str, Any], compose_helpers: Helpers,
) -> None:
    with pytest.raises(KeyError, match="TRITON_ADMIN_KEY"):
        compose_helpers["interpolate"](compose_raw, {"GRAFANA_ADMIN_PASSWORD": "x"})


def test_triton_service_uses_image_built_from_pinned_triton_24_10(
    compose: dict[str, Any], deploy_root: Path,
) -> None:
    build = _services(compose)["triton"]["build"]
    dockerfile = deploy_root / build["context"] / build["dockerfile"]
    text = dockerfile.read_text(encoding="utf-8")
    assert "ARG TRITON_IMAGE=nvcr.io/nvidia/tritonserver:24.10-py3" in text
    assert re.search(r"^FROM \$\{TRITON_IMAGE\}$", text, re.M)
    assert re.search(r"^USER triton-server$", text, re.M), "server must not run as root"
    requirements = (dockerfile.parent / "requirements.txt").read_text(encoding="utf-8")
    lines = [line for line in requirements.splitlines() if line and not line.startswith("#")]
    assert any(line.startswith("pillow") for line in lines)
    assert any(line.startswith("numpy") and "<2" in line for line in lines)


def test_triton_mounts_repository_model_folder_read_only_at_models(
    compose: dict[str, Any], deploy_root: Path,
) -> None:
    volumes = _services(compose)["triton"]["volumes"]
    mounts = [v for v in volumes if isinstance(v, dict) and v.get("target") == "/models"]
    assert len(mounts) == 1
    mount = mounts[0]
    assert mount["type"] == "bind" and mount["read_only"] is True
    source = (deploy_root / mount["source"]).resolve()
    assert source == (deploy_root / "model_repository").resolve()
    assert list(source.glob("*/config.pbtxt")), f"{source} holds no model configs"


def test_triton_reserves_one_nvidia_gpu_when_deployed(compose: dict[str, Any]) -> None:
    devices = _services(compose)["triton"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]


def test_triton_healthcheck_probes_strict_ready_endpoint(
    compose: dict[str, Any], triton_command: list[str], compose_helpers: Helpers,
) -> None:
    health = _services(compose)["triton"]["healthcheck"]
    test = health["test"]
    assert test[0] == "CMD" and test[1] == "curl" and "-f" in "".join(test[2:4])
    assert test[-1] == "http://127.0.0.1:8000/v2/health/ready"
    assert compose_helpers["flag_values"](triton_command, "--strict-readiness") == ["true"]
    assert compose_helpers["duration_s"](health["start_period"]) >= 60


def test_triton_stop_grace_period_exceeds_exit_timeout(
    compose: dict[str, Any], triton_command: list[str], compose_helpers: Helpers,
) -> None:
    exit_timeout_s = compose_helpers["flag_values"](triton_command, "--exit-timeout-secs")
    assert exit_timeout_s == ["30"]
    grace_s = compose_helpers["duration_s"](_services(compose)["triton"]["stop_grace_period"])
    assert grace_s >= float(exit_timeout_s[0]) + 10


def test_triton_command_sets_secure_defaults(
    triton_command: list[str], compose_helpers: Helpers,
) -> None:
    values = compose_helpers["flag_values"]
    assert triton_command[0] == "tritonserver"
    assert values(triton_command, "--model-repository") == ["/models"]
    assert values(triton_command, "--model-control-mode") == ["none"]
    assert values(triton_command, "--exit-on-error") == ["true"]
    assert values(triton_command, "--allow-sagemaker") == ["false"]
    assert values(triton_command, "--allow-vertex-ai") == ["false"]
    assert values(triton_command, "--metrics-config") == ["summary_latencies=true"]


@pytest.mark.parametrize("flag", ["--http-restricted-api", "--grpc-restricted-protocol"])
def test_triton_command_restricts_admin_apis_behind_header_when_flag_is(
    triton_command: list[str], compose_helpers: Helpers, flag: str,
) -> None:
    values = compose_helpers["flag_values"](triton_command, flag)
    assert len(values) == 1
    apis, header = values[0].split(":", 1)
    key, value = header.split("=", 1)
    assert set(apis.split(",")) == RESTRICTED
    assert key == "triton-suite-admin-key"
    assert value == "test-admin-key-0123456789"


def test_locust_master_and_workers_run_suite_locustfile_against_triton(
    compose: dict[str, Any], compose_helpers: Helpers, deploy_root: Path,
) -> None:
    services = _services(compose)
    values = compose_helpers["flag_values"]
    master = compose_helpers["command_list"](services["locust-master"]["command"])
    worker = compose_helpers["command_list"](services["locust-worker"]["command"])
    assert "--master" in master and "--worker" in worker
    assert values(worker, "--master-host") == ["locust-master"]
    for command in (master, worker):
        assert values(command, "--locustfile") == ["/app/loadtests/locustfile.py"]
        assert values(command, "--host") == ["http://triton:8000"]
    assert (deploy_root / "loadtests" / "locustfile.py").is_file()
    for name in ("locust-master", "locust-worker"):
        # Users wait for readiness themselves, so overrides may replace `triton`.
        assert "triton" not in (services[name].get("depends_on") or {})
        assert services[name]["build"]["dockerfile"] == "deploy/locust/Dockerfile"


def test_locust_worker_can_scale_when_it_has_no_fixed_name_or_host_port(
    compose: dict[str, Any],
) -> None:
    worker = _services(compose)["locust-worker"]
    assert "container_name" not in worker and "ports" not in worker


def test_locust_image_installs_project_from_python_3_11_slim(deploy_root: Path) -> None:
    text = (deploy_root / "deploy" / "locust" / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    assert "pip install /app" in text and re.search(r"^USER locust$", text, re.M)
    assert re.search(r'^ENTRYPOINT \["locust"\]$', text, re.M)
    ignore = (deploy_root / "deploy" / "locust" / "Dockerfile.dockerignore").read_text("utf-8")
    assert ignore.splitlines()[1] == "*" and "!loadtests/" in ignore and "!pyproject.toml" in ignore


def test_monitoring_services_mount_their_config_read_only(
    compose: dict[str, Any], deploy_root: Path,
) -> None:
    expected = {
        "prometheus": {"deploy/prometheus/prometheus.yml", "deploy/prometheus/rules"},
        "grafana": {"deploy/grafana/provisioning", "deploy/grafana/dashboards"},
    }
    for name, sources in expected.items():
        binds = [v for v in _services(compose)[name]["volumes"] if isinstance(v, dict)]
        assert {Path(v["source"]).as_posix().removeprefix("./") for v in binds} == sources
        assert all(v["read_only"] is True for v in binds)
        assert all((deploy_root / v["source"]).exists() for v in binds)


def test_grafana_admin_password_comes_from_environment_when_rendered(
    compose: dict[str, Any], compose_raw: dict[str, Any], compose_helpers: Helpers,
) -> None:
    env = _services(compose)["grafana"]["environment"]
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == "test-grafana-password"
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    with pytest.raises(KeyError, match="GRAFANA_ADMIN_PASSWORD"):
        compose_helpers["interpolate"](compose_raw, {"TRITON_ADMIN_KEY": "x"})


def test_cpu_override_drops_gpu_reservation_and_serves_cpu_repository(
    deploy_root: Path, compose_helpers: Helpers,
) -> None:
    override = compose_helpers["load_compose"](deploy_root / "deploy" / "compose.cpu.yml")
    triton = compose_helpers["interpolate"](override, {})["services"]["triton"]
    assert triton["deploy"].tag == "!reset"
    assert triton["volumes"].tag == "!override"
    (mount,) = triton["volumes"].value
    assert mount == {
        "type": "bind", "source": "./model_repository_cpu", "target": "/models",
        "read_only": True,
    }


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker is not None:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy is not None else None


@pytest.fixture(scope="module")
def compose_cli() -> list[str]:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    return cli


def test_compose_cli_accepts_file_when_required_secrets_are_set(
    compose_cli: list[str], deploy_root: Path,
) -> None:
    result = subprocess.run(
        [*compose_cli, "--profile", "load", "--profile", "monitoring", "config", "--services"],
        cwd=deploy_root, env={**CLI_ENV, **TEST_ENV},
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == {
        "triton", "locust-master", "locust-worker", "prometheus", "grafana",
    }


def test_compose_cli_refuses_file_when_triton_admin_key_is_missing(
    compose_cli: list[str], deploy_root: Path,
) -> None:
    result = subprocess.run(
        [*compose_cli, "config", "-q"], cwd=deploy_root,
        env={**CLI_ENV, "GRAFANA_ADMIN_PASSWORD": "x"},
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode != 0
    assert "TRITON_ADMIN_KEY" in result.stderr
