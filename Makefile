# The two commands of the README: `make demo` and `make test`. Both install into ./.venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install system-packages demo test lint typecheck pytest compose-smoke clean

install: $(STAMP) system-packages

# haproxy, prometheus/promtool, docker.io, docker-compose, debootstrap: installed when root
# with apt, otherwise the script says how and the tests that need them skip.
system-packages:
	@bash scripts/system-packages.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: install
	$(PY) -m generator build specs --out model_repository
	$(PY) -m generator validate model_repository
	$(PY) -m clients.demo --repository model_repository
	$(PY) -m loadtests run --model image_diagnosis --protocol grpc --scenario steady \
	    --users 4 --spawn-rate 4 --duration 10s --quiet --report-dir .reports/demo

lint: install
	$(VENV)/bin/ruff check .

typecheck: install
	$(VENV)/bin/mypy

pytest: install
	$(VENV)/bin/pytest

test: lint typecheck pytest

# The whole compose stack on a real Docker engine, images built offline (docs/deployment.md).
compose-smoke: install
	@bash scripts/dockerd.sh start
	$(PY) -m serving.compose smoke

clean:
	rm -rf .reports .pytest_cache .mypy_cache .ruff_cache
