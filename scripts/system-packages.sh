#!/usr/bin/env bash
# Install the Debian packages the tests and drills need (haproxy, prometheus/promtool,
# the Docker engine and docker-compose, debootstrap). Idempotent: installs only what is
# missing. Without root or apt it prints how to install them and exits 0, so the tests
# that need them skip with that reason (under CI=true they fail instead).
set -euo pipefail

declare -A NEED=(
    [haproxy]=haproxy
    [prometheus]=prometheus
    [promtool]=prometheus
    [dockerd]=docker.io
    [docker-compose]=docker-compose
    [debootstrap]=debootstrap
)
missing=()
for bin in "${!NEED[@]}"; do
    command -v "$bin" >/dev/null 2>&1 || missing+=("${NEED[$bin]}")
done
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "note: missing system packages: ${missing[*]}"
    echo "      install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}"
    echo "      (the tests that need them skip until then)"
    exit 0
fi
extra=()
for pkg in "${missing[@]}"; do
    [ "$pkg" = docker.io ] && extra+=(containerd runc iptables)
done
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
timeout 600 apt-get update -qq
timeout 900 apt-get install -y -qq --no-install-recommends "${missing[@]}" "${extra[@]}" >/dev/null
