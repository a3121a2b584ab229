"""``python -m serving.compose smoke|haproxy-config``: the compose stack's tools.

``smoke`` runs the stack on a real Docker engine (:mod:`serving.compose.smoke`);
``haproxy-config [--check]`` writes ``deploy/haproxy/compose.cfg`` from the balancer's
template (or exits 1 when the committed file drifted).
"""

import sys

from serving.compose.balancer import COMPOSE_HAPROXY_CFG, write_compose_haproxy_config
from serving.compose.smoke import REPLICAS, main

_USAGE = "usage: python -m serving.compose smoke [--no-build] [--keep] [--project NAME]\n" \
         "       python -m serving.compose haproxy-config [--check]"

if len(sys.argv) > 1 and sys.argv[1] == "smoke":
    sys.exit(main(sys.argv[2:]))
if len(sys.argv) > 1 and sys.argv[1] == "haproxy-config" and sys.argv[2:] in ([], ["--check"]):
    check = sys.argv[2:] == ["--check"]
    fresh = write_compose_haproxy_config(REPLICAS, check=check)
    if not fresh:
        print(f"{COMPOSE_HAPROXY_CFG} is out of date: run python -m serving.compose "
              "haproxy-config", file=sys.stderr)
    sys.exit(0 if fresh else 1)
print(_USAGE, file=sys.stderr)
sys.exit(2)
