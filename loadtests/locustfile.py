"""Locust entry point for Triton load tests.

Run it directly, e.g.::

    locust -f loadtests/locustfile.py --host grpc://127.0.0.1:8001 --model recommendation \
        --scenario ramp -u 8 -r 2 -t 60s --headless --stats-url http://127.0.0.1:8000

or through ``python -m loadtests run``. Distributed mode works the usual way
(``--master`` / ``--worker``): options are locust custom arguments.
"""

from __future__ import annotations

# gRPC must cooperate with gevent before any channel exists.
import grpc.experimental.gevent as grpc_gevent

grpc_gevent.init_gevent()

from locust import events  # noqa: E402

from loadtests.plugin import register  # noqa: E402
from loadtests.shapes import ScenarioShape  # noqa: E402
from loadtests.users import ModelUser  # noqa: E402

register(events)

__all__ = ["ModelUser", "ScenarioShape"]
