"""The offline compose stack: its override files, and the whole stack on a real Docker engine.

The static tests read the YAML; ``test_compose_smoke_*`` runs ``python -m serving.compose
smoke`` (images built offline, two CPU Triton replicas, HAProxy, Prometheus, distributed
locust, a rollout and rollback, a stopped replica, ``down -v``). Without a reachable Docker
engine it skips, except under ``CI=true`` where ``.ci/run`` starts one and a missing
engine is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from serving.compose import ComposeProject
from serving.compose.balancer import COMPOSE_HAPROXY_CFG, write_compose_haproxy_config
from serving.compose.smoke import REPLICAS
from serving.lb import check_haproxy_config, find_haproxy

from .conftest import REPO_ROOT, TEST_ENV

DEPLOY = REPO_ROOT / "deploy"


def _services(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    services = loaded["services"]
    assert isinstance(services, dict)
    return services


def _docker_engine_reachable() -> bool:
    if shutil.which("docker") is None:
        return False
    done = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False)
    return done.returncode == 0


def test_embedded_replicas_run_exactly_the_base_triton_command_when_parsed() -> None:
    base = _services(REPO_ROOT / "docker-compose.yml")["triton"]["command"]
    embedded = _services(DEPLOY / "compose.embedded.yml")
    for replica in REPLICAS:
        assert embedded[replica]["command"] == base, replica


def test_embedded_release_command_changes_only_the_model_control_mode_when_parsed() -> None:
    base = _services(REPO_ROOT / "docker-compose.yml")["triton"]["command"]
    # Explicit mode, every model loaded at start, and no strict readiness: a refused
    # rollout would leave strict readiness false for good (docs/releases.md).
    changed = {"--model-control-mode=none": "--model-control-mode=explicit",
               "--strict-readiness=true": "--strict-readiness=false"}
    expected = [changed.get(flag, flag) for flag in base]
    expected.insert(expected.index("--model-control-mode=explicit") + 1, "--load-model=*")
    release = _services(DEPLOY / "compose.embedded-release.yml")
    for replica in REPLICAS:
        assert release[replica]["command"] == expected, replica
    assert _services(DEPLOY / "compose.release.yml")["triton"]["command"] == expected


def test_embedded_override_keeps_gpu_triton_out_of_the_default_start_when_parsed() -> None:
    embedded = _services(DEPLOY / "compose.embedded.yml")
    assert embedded["triton"] == {"profiles": ["gpu"]}
    base = _services(REPO_ROOT / "docker-compose.yml")
    for name, service in base.items():
        assert "triton" not in (service.get("depends_on") or {}), (
            f"{name} depends on `triton`, which the offline override does not start")


def test_embedded_services_publish_only_on_loopback_when_bind_addresses_are_unset() -> None:
    for name, service in _services(DEPLOY / "compose.embedded.yml").items():
        for port in service.get("ports", []):
            host = port.split("}:", 1)[0] if port.startswith("${") else port.split(":", 1)[0]
            assert "127.0.0.1" in host, f"{name}: {port}"


def test_embedded_balancer_config_passes_haproxy_check_when_haproxy_is_installed(
    require_tool: Any,
) -> None:
    require_tool("haproxy")
    check_haproxy_config(COMPOSE_HAPROXY_CFG.read_text(encoding="utf-8"), haproxy=find_haproxy())


def test_embedded_balancer_config_matches_its_template_when_committed() -> None:
    assert write_compose_haproxy_config(REPLICAS, check=True), (
        "deploy/haproxy/compose.cfg drifted: run python -m serving.compose haproxy-config")


def test_docker_compose_accepts_base_embedded_and_release_files_when_secrets_are_set(
    require_tool: Any, tmp_path: Path,
) -> None:
    require_tool("docker-compose")
    env_file = tmp_path / "test.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in TEST_ENV.items()), encoding="utf-8")
    project = ComposeProject(
        name="tsconfig", project_dir=REPO_ROOT, env_file=env_file,
        files=(REPO_ROOT / "docker-compose.yml", DEPLOY / "compose.embedded.yml",
               DEPLOY / "compose.embedded-release.yml"),
    )
    merged = project.config()
    services = merged["services"]
    assert isinstance(services, dict)
    assert services["triton-1"]["image"] == "triton-suite/triton-cpu:2.51"
    assert "--model-control-mode=explicit" in services["triton-2"]["command"]
    assert "deploy" not in services["triton-1"], "a CPU replica must not reserve a GPU"


@pytest.mark.timeout(2400)
def test_compose_smoke_passes_every_step_and_leaves_nothing_when_engine_is_reachable() -> None:
    if not _docker_engine_reachable():
        reason = "no Docker engine is reachable (scripts/dockerd.sh start starts one as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    project = f"tsmoke{os.getpid()}"
    done = subprocess.run(
        [sys.executable, "-m", "serving.compose", "smoke", "--project", project],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=2300, check=False,
        stdin=subprocess.DEVNULL,
    )
    output = done.stdout + done.stderr
    print(output)
    assert done.returncode == 0, output[-6000:]
    verdicts = [line for line in output.splitlines() if line.startswith("[smoke] ")]
    assert not [line for line in verdicts if "FAIL" in line], verdicts
    for step in ("typed clients through the balancer", "distributed locust",
                 "prometheus: targets up", "rollout and rollback",
                 "stop one replica, traffic continues", "down -v, nothing left"):
        assert any(step in line and line.startswith("[smoke] ok") for line in verdicts), step
