#!/usr/bin/env bash
# Start the Docker engine when none is reachable (no systemd on this machine kind), and wait
# for it, bounded. Prints the PID it started, or nothing when an engine was already up.
#
#   scripts/dockerd.sh start   # exit 0 when `docker info` answers within 60 s
#   scripts/dockerd.sh stop    # stop the engine this script started (PID file)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE="$ROOT/.build/dockerd"
mkdir -p "$STATE"

case "${1:-start}" in
start)
    if docker info >/dev/null 2>&1; then exit 0; fi
    if ! command -v dockerd >/dev/null 2>&1; then
        echo "dockerd is not installed (apt-get install docker.io containerd runc iptables)" >&2
        exit 1
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "no Docker engine is reachable, and starting one needs root" >&2
        exit 1
    fi
    setsid dockerd >"$STATE/dockerd.log" 2>&1 < /dev/null &
    echo $! >"$STATE/pid"
    for _ in $(seq 60); do
        if docker info >/dev/null 2>&1; then
            echo "dockerd started (pid $(cat "$STATE/pid"))"
            exit 0
        fi
        sleep 1
    done
    echo "dockerd did not answer within 60 s; its log:" >&2
    tail -n 30 "$STATE/dockerd.log" >&2
    exit 1
    ;;
stop)
    if [ -f "$STATE/pid" ]; then
        pid="$(cat "$STATE/pid")"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
        rm -f "$STATE/pid"
    fi
    ;;
*)
    echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
