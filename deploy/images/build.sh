#!/usr/bin/env bash
# Build every image of the offline stack from Debian's archive and a wheelhouse, with no
# registry: nothing is pulled, so an air-gapped site (with a Debian mirror) builds the same way.
#
#   deploy/images/build.sh            # all images; cached base images are reused
#   REBUILD_BASE=1 deploy/images/build.sh
#
# Images (prefix triton-suite/):
#   debian:bookworm      debootstrap --variant=minbase + docker import (cached by tag)
#   python:bookworm      + python3, libpython3.11, curl                 (cached by tag)
#   app:local            + this project and its dependencies from the wheelhouse
#   triton-cpu:2.51      app + entrypoint running the embedded tritonserver
#   locust:local         app + locust entrypoint
#   haproxy:2.6          Debian's haproxy
#   prometheus:2.42      Debian's prometheus
#
# Needs: root (debootstrap), a running Docker engine, and the project venv (.venv) whose
# pip builds the wheelhouse. Prints one line per step; every step is bounded by `timeout`.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
HERE="$ROOT/deploy/images"
BUILD="$ROOT/.build/images"
PIP="${PIP:-$ROOT/.venv/bin/pip}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PREFIX="${IMAGE_PREFIX:-triton-suite}"
export DOCKER_BUILDKIT=0

step() { printf '[images] %-44s %s\n' "$1" "$2"; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }
build() {  # build TAG DOCKERFILE CONTEXT [--build-arg ...]
    local tag="$1" dockerfile="$2" context="$3"; shift 3
    local started=$SECONDS
    if ! timeout 900 docker build --quiet -t "$tag" -f "$dockerfile" "$@" "$context" \
            >"$BUILD/$(echo "$tag" | tr '/:' '__').log" 2>&1; then
        step "$tag" "FAILED (log: $BUILD/$(echo "$tag" | tr '/:' '__').log)"
        tail -n 30 "$BUILD/$(echo "$tag" | tr '/:' '__').log" >&2
        exit 1
    fi
    step "$tag" "built in $((SECONDS - started)) s"
}

mkdir -p "$BUILD/empty"
docker info >/dev/null 2>&1 || { echo "[images] no Docker engine is reachable" >&2; exit 1; }

# 1. Debian base from debootstrap, cached by tag.
if [ -n "${REBUILD_BASE:-}" ] || ! have_image "$PREFIX/debian:bookworm"; then
    command -v debootstrap >/dev/null || { echo "[images] debootstrap is not installed" >&2; exit 1; }
    started=$SECONDS
    rootfs="$(mktemp -d "$BUILD/rootfs.XXXXXX")"
    trap 'rm -rf "$rootfs"' EXIT
    timeout 900 debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$BUILD/debootstrap.log" 2>&1 \
        || { step "$PREFIX/debian:bookworm" "debootstrap FAILED (log: $BUILD/debootstrap.log)"; exit 1; }
    tar -C "$rootfs" -c . | timeout 300 docker import - "$PREFIX/debian:bookworm" >/dev/null
    rm -rf "$rootfs"; trap - EXIT
    step "$PREFIX/debian:bookworm" "debootstrapped in $((SECONDS - started)) s"
else
    step "$PREFIX/debian:bookworm" "cached"
fi

# 2. Python base, cached by tag.
if [ -n "${REBUILD_BASE:-}" ] || ! have_image "$PREFIX/python:bookworm"; then
    build "$PREFIX/python:bookworm" "$HERE/python.Dockerfile" "$BUILD/empty" \
        --build-arg "BASE_IMAGE=$PREFIX/debian:bookworm"
else
    step "$PREFIX/python:bookworm" "cached"
fi

# 3. Wheelhouse on the host: dependencies (rebuilt when pyproject.toml changes) and the project.
started=$SECONDS
wheels="$BUILD/wheelhouse"
stamp="$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
if [ "$(cat "$wheels/deps/.stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$wheels/deps"; mkdir -p "$wheels/deps"
    timeout 900 "$PIP" wheel --quiet --wheel-dir "$wheels/deps" "$ROOT" >"$BUILD/wheelhouse.log" 2>&1 \
        || { step "wheelhouse" "FAILED (log: $BUILD/wheelhouse.log)"; exit 1; }
    rm -f "$wheels"/deps/triton_suite-*.whl
    echo "$stamp" >"$wheels/deps/.stamp"
fi
rm -rf "$wheels/project"; mkdir -p "$wheels/project"
timeout 300 "$PIP" wheel --quiet --no-deps --wheel-dir "$wheels/project" "$ROOT" >>"$BUILD/wheelhouse.log" 2>&1 \
    || { step "wheelhouse" "FAILED (log: $BUILD/wheelhouse.log)"; exit 1; }
step "wheelhouse ($(du -sh "$wheels" | cut -f1))" "ready in $((SECONDS - started)) s"

# 4. Application images.
build "$PREFIX/app:local" "$HERE/app.Dockerfile" "$BUILD" \
    --build-arg "PYTHON_IMAGE=$PREFIX/python:bookworm"
build "$PREFIX/triton-cpu:2.51" "$HERE/triton.Dockerfile" "$BUILD/empty" \
    --build-arg "APP_IMAGE=$PREFIX/app:local"
build "$PREFIX/locust:local" "$HERE/locust.Dockerfile" "$BUILD/empty" \
    --build-arg "APP_IMAGE=$PREFIX/app:local"
build "$PREFIX/haproxy:2.6" "$HERE/haproxy.Dockerfile" "$BUILD/empty" \
    --build-arg "BASE_IMAGE=$PREFIX/debian:bookworm"
build "$PREFIX/prometheus:2.42" "$HERE/prometheus.Dockerfile" "$BUILD/empty" \
    --build-arg "BASE_IMAGE=$PREFIX/debian:bookworm"
step "all images" "done"
