"""A gevent process (a locust worker) that used the gRPC client exits by itself.

tritonclient closes its gRPC client again when it is collected, and grpc's gevent
integration counts every close: the second one, run from a finaliser at interpreter exit,
deadlocked 11 of 25 such processes here (see ``clients/_transport/grpc.py``). The client
now closes once; each child below opens four clients, calls, closes them and exits.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

_CHILD = textwrap.dedent("""
    import sys
    from gevent import monkey
    monkey.patch_all()
    import grpc.experimental.gevent as grpc_gevent
    grpc_gevent.init_gevent()
    import gevent
    from clients import RecommendationClient, RetryPolicy

    KEEP = []  # collected only at interpreter exit, like locust's users

    def user():
        client = RecommendationClient(sys.argv[1], retry=RetryPolicy.disabled())
        KEEP.append(client)
        try:
            for user_id in range(20):
                client.recommend(user_id, k=3)
        finally:
            client.close()

    gevent.joinall([gevent.spawn(user) for _ in range(4)], raise_error=True)
    print("calls done", flush=True)
""")

_RUNS = 12
_EXIT_BOUND_S = 30.0


def test_grpc_client_under_gevent_lets_every_process_exit_after_close(server: Any) -> None:
    hung = 0
    for _ in range(_RUNS):
        try:
            result = subprocess.run([sys.executable, "-c", _CHILD, server.grpc_url],
                                    capture_output=True, text=True, timeout=_EXIT_BOUND_S,
                                    check=False)
        except subprocess.TimeoutExpired:
            hung += 1
            continue
        assert result.returncode == 0, result.stderr[-2000:]
        assert "calls done" in result.stdout
    assert hung == 0, f"{hung} of {_RUNS} gevent processes did not exit after closing"
