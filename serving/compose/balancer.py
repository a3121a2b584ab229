"""The compose stack's ``haproxy.cfg``: the same template as ``serve --replicas``.

Inside the compose network the balancer listens on every address of its container (its
ports are published on loopback only), finds the replicas by service name through
Docker's DNS (``127.0.0.11``), and keeps starting when a replica is not up yet. Its health
check asks for every model of ``model_repository/`` one by one: the release overrides run
the replicas in explicit model-control mode without strict readiness, where
``/v2/health/ready`` would stay 200 after a model was unloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from generator.layout import write_text_atomic
from serving.lb import BalancerConfig, ReplicaAddress, render_haproxy_config
from serving.replicas import served_models

__all__ = ["COMPOSE_HAPROXY_CFG", "compose_balancer_config", "write_compose_haproxy_config"]

COMPOSE_HAPROXY_CFG = Path(__file__).resolve().parents[2] / "deploy" / "haproxy" / "compose.cfg"
"""Where ``deploy/compose.embedded.yml`` mounts the balancer's configuration from."""

_DOCKER_DNS = "127.0.0.11:53"
_REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"


def compose_balancer_config(replicas: Sequence[str],
                            repository: Path = _REPOSITORY) -> BalancerConfig:
    """Balancer settings for compose services named ``replicas`` (Triton's default ports).

    Args:
        replicas: Compose service names of the Triton replicas.
        repository: The repository the replicas serve; each of its models is health-checked.

    Returns:
        The checked configuration.
    """
    return BalancerConfig(
        replicas=tuple(ReplicaAddress(name, name, 8000, 8001) for name in replicas),
        http_port=8000,
        grpc_port=8001,
        stats_port=8404,
        bind_address="0.0.0.0",
        stats_address="0.0.0.0",
        public_bind=True,
        nameservers=(_DOCKER_DNS,),
        check_models=served_models(repository),
    )


def write_compose_haproxy_config(
    replicas: Sequence[str], path: Path = COMPOSE_HAPROXY_CFG, *, check: bool = False
) -> bool:
    """Write (or with ``check``, compare) the compose balancer's configuration.

    Args:
        replicas: Compose service names of the Triton replicas.
        path: The file.
        check: Only tell whether the file is up to date; write nothing.

    Returns:
        True when the file is (now) up to date; with ``check``, False when it drifted.
    """
    text = render_haproxy_config(compose_balancer_config(replicas))
    if check:
        return path.is_file() and path.read_text(encoding="utf-8") == text
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)
    return True
