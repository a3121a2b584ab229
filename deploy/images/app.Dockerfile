# The project and its dependencies, installed offline from the wheelhouse built on the host
# (`deploy/images/build.sh`): no index is consulted, as on an air-gapped site.
ARG PYTHON_IMAGE=triton-suite/python:bookworm
FROM ${PYTHON_IMAGE}
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN python3 -m venv /opt/venv
# Dependencies first: this layer is reused until a dependency changes.
COPY wheelhouse/deps /tmp/wheels/deps
RUN pip install --no-index --find-links /tmp/wheels/deps /tmp/wheels/deps/*.whl \
    && rm -rf /tmp/wheels/deps
COPY wheelhouse/project /tmp/wheels/project
RUN pip install --no-index --no-deps /tmp/wheels/project/*.whl \
    && rm -rf /tmp/wheels \
    && useradd --create-home --uid 10001 app
