"""The generated haproxy.cfg: accepted by the real `haproxy -c`, and bad settings refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.lb import (
    BalancerConfig,
    BalancerConfigError,
    BalancerStartError,
    ReplicaAddress,
    check_haproxy_config,
    render_haproxy_config,
)

LOCAL = (ReplicaAddress("replica-1", "127.0.0.1", 18000, 18001),
         ReplicaAddress("replica-2", "127.0.0.1", 18100, 18101))


def _local_config(**overrides: object) -> BalancerConfig:
    settings: dict[str, object] = {"replicas": LOCAL, "http_port": 19000, "grpc_port": 19001,
                                   "stats_port": 19002,
                                   "socket_path": Path("/tmp/haproxy-test/admin.sock")}
    settings.update(overrides)
    return BalancerConfig(**settings)  # type: ignore[arg-type]


def test_haproxy_check_accepts_generated_config_for_local_replicas(haproxy: Path) -> None:
    text = render_haproxy_config(_local_config())

    check_haproxy_config(text, haproxy=haproxy)

    assert "bind 127.0.0.1:19001 proto h2" in text
    assert "server replica-2 127.0.0.1:18101 proto h2 check port 18100 check-proto h1" in text
    assert "retry-on conn-failure empty-response" in text
    assert "option redispatch 1" in text
    assert "option httpchk GET /v2/health/ready" in text
    assert "http-request use-service prometheus-exporter if { path /metrics }" in text


def test_haproxy_check_accepts_generated_config_for_compose_services(haproxy: Path) -> None:
    replicas = (ReplicaAddress("triton", "triton", 8000, 8001),
                ReplicaAddress("triton-2", "triton-2", 8000, 8001))
    config = BalancerConfig(replicas=replicas, http_port=8000, grpc_port=8001, stats_port=8404,
                            bind_address="0.0.0.0", stats_address="0.0.0.0", public_bind=True,
                            nameservers=("127.0.0.11:53",))

    text = render_haproxy_config(config)

    # Service names do not resolve here: HAProxy must still accept the file and start.
    check_haproxy_config(text, haproxy=haproxy)
    assert "resolvers dns" in text and "init-addr last,libc,none" in text


def test_haproxy_check_rejects_a_broken_config_with_its_message(haproxy: Path) -> None:
    text = render_haproxy_config(_local_config()).replace("balance leastconn", "balance nowhere")

    with pytest.raises(BalancerStartError) as caught:
        check_haproxy_config(text, haproxy=haproxy)

    assert "Fatal errors found in configuration" in caught.value.output
    assert "balance" in caught.value.output


def test_rendering_is_deterministic_for_equal_settings() -> None:
    assert render_haproxy_config(_local_config()) == render_haproxy_config(_local_config())


@pytest.mark.parametrize(("overrides", "field"), [
    ({"replicas": (ReplicaAddress("r1\n    stats admin if TRUE", "127.0.0.1", 1, 2),)},
     "replicas[0].name"),
    ({"replicas": (ReplicaAddress("r1", "127.0.0.1 backup", 1, 2),)}, "replicas[0].host"),
    ({"replicas": (*LOCAL, ReplicaAddress("replica-1", "127.0.0.1", 1, 2))}, "replicas[2].name"),
    ({"replicas": (ReplicaAddress("r1", "127.0.0.1", 0, 2),)}, "replicas[0].http_port"),
    ({"replicas": ()}, "replicas"),
    ({"bind_address": "0.0.0.0"}, "bind_address"),
    ({"stats_address": "10.1.2.3"}, "stats_address"),
    ({"grpc_port": 19000}, "stats_port"),
    ({"socket_path": Path("/tmp/a b.sock")}, "socket_path"),
    ({"server_timeout_s": 0}, "server_timeout_s"),
])
def test_config_refuses_bad_setting_naming_the_field(overrides: dict[str, object],
                                                     field: str) -> None:
    with pytest.raises(BalancerConfigError) as caught:
        _local_config(**overrides)

    assert caught.value.field == field


def test_render_sheds_at_the_balancer_when_server_max_requests_is_set(haproxy: Path) -> None:
    text = render_haproxy_config(_local_config(server_max_requests=8, queue_timeout_ms=25))
    assert "    default-server maxconn 8\n" in text
    assert "    timeout queue 25ms\n" in text
    check_haproxy_config(text, haproxy=haproxy)
    assert "maxconn 8" not in render_haproxy_config(_local_config())


def test_config_refuses_server_max_requests_below_one_naming_the_field() -> None:
    with pytest.raises(BalancerConfigError, match="server_max_requests"):
        _local_config(server_max_requests=0)


def test_render_checks_each_model_when_check_models_is_set(haproxy: Path) -> None:
    text = render_haproxy_config(_local_config(check_models=("recommendation", "a.b-c_1")))
    assert text.count("    http-check connect default\n") == 2
    assert "    http-check send meth GET uri /v2/models/recommendation/ready\n" in text
    assert "    http-check send meth GET uri /v2/models/a.b-c_1/ready\n" in text
    assert "option httpchk GET /v2/health/ready" not in text
    check_haproxy_config(text, haproxy=haproxy)
    assert "option httpchk GET /v2/health/ready" in render_haproxy_config(_local_config())


@pytest.mark.parametrize("models", [("bad name",), ("ok", "ok"), ("../etc",)])
def test_config_refuses_check_models_that_are_not_distinct_model_names(
        models: tuple[str, ...]) -> None:
    with pytest.raises(BalancerConfigError) as caught:
        _local_config(check_models=models)

    assert caught.value.field.startswith("check_models")
