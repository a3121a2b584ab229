# Debian bookworm + Python 3.11 from Debian's packages. libpython3.11 is what the embedded
# Triton's python-backend stub links; curl serves the compose healthchecks.
ARG BASE_IMAGE=triton-suite/debian:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 python3-venv libpython3.11 curl ca-certificates \
    && rm -rf /var/lib/apt/lists/*
