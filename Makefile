# The README's two commands are `make run` and `make test`; both start with
# `make setup`, which installs only what is missing. Stamp files make a
# second run with nothing changed skip every install.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Debian's Python, because every uid a pod runs as must be able to execute
# the venv's interpreter (pyenv's lives under a root-only /root).
PYTHON ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .stamps
# Kept inside the venv, so a venv removed by hand is reinstalled, not trusted.
PY_STAMP := $(VENV)/.installed
STATIC_BUILD := labplatform/web/static/build
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: help setup run test test-fast lint bench images lock clean host-packages

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: host-packages $(PY_STAMP) $(STAMPS)/frontend ## install what is missing (idempotent)

host-packages:
	@bash scripts/host-packages.sh $(if $(filter test test-fast,$(MAKECMDGOALS)),test,run)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"

$(PY_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	@echo "setup: installing Python packages into $(VENV)"
	$(BIN)/python -m pip install --quiet --progress-bar off -c constraints.txt -e '.[test]'
	@touch $@

$(STAMPS)/node-modules: frontend/package.json frontend/package-lock.json
	@echo "setup: npm ci"
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/frontend: $(STAMPS)/node-modules $(shell find frontend/src -type f 2>/dev/null) frontend/build.mjs
	@echo "setup: building the frontend into $(STATIC_BUILD)"
	cd frontend && npm run --silent build
	@mkdir -p $(STAMPS) && touch $@

run: setup ## start the course server on the embedded backend (HOST, PORT)
	$(BIN)/labplatform serve --host $(HOST) --port $(PORT)

test: setup ## the whole suite, end-to-end tests included
	bash scripts/pytest.sh -n 2 $(PYTEST_ARGS)

test-fast: setup ## the suite without the slow end-to-end tests
	bash scripts/pytest.sh -n 2 -m "not e2e" $(PYTEST_ARGS)

lint: $(PY_STAMP) $(STAMPS)/node-modules ## ruff, mypy and the TypeScript checker
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	cd frontend && npx --no-install tsc --noEmit

bench: setup ## benchmarks that print figures
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b; done

images: $(PY_STAMP) ## build the container images for kind and real clusters (needs Docker)
	$(BIN)/labplatform images build

lock: | $(BIN)/python ## re-resolve Python dependencies and rewrite constraints.txt
	$(BIN)/python -m pip install --quiet --upgrade -e '.[test]'
	$(BIN)/python -m pip freeze --exclude-editable --exclude labplatform | sort > constraints.txt

clean: ## remove the venv, node_modules, build output and stamps
	rm -rf $(VENV) $(STAMPS) frontend/node_modules $(STATIC_BUILD)
