# Headrace: `make dev` runs the product, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DASHBOARD_STAMP := dashboard/dist/index.html
PYTEST_ARGS ?=

.PHONY: install dashboard tools bytecode dev test test-slow lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)
	@if [ -f dashboard/package.json ]; then $(MAKE) --no-print-directory dashboard; fi

dashboard: $(DASHBOARD_STAMP)

$(DASHBOARD_STAMP): $(shell find dashboard/src -type f 2>/dev/null) dashboard/package.json
	cd dashboard && npm ci --no-audit --no-fund && npm run build

# The Temporal sandbox re-imports the interpreter's modules for every run: with bytecode on
# disk that is a load, without it a compile (and some environments set
# PYTHONDONTWRITEBYTECODE, so nothing would ever write it). compileall skips what is current.
bytecode:
	@$(BIN)/python -m compileall -q api activities temporal_workflows worker db core cli

dev: install bytecode
	$(BIN)/headrace dev

# Tools the tests drive that come from Debian, not PyPI: Chromium for the dashboard's browser
# tests (a Playwright download is not possible here) and docker-compose, which validates the
# compose file offline, and kubectl, whose embedded kustomize renders deploy/k8s. Installed
# when we may; else those tests skip (or, in CI, fail) and say why.
DEBIAN_TOOLS := chromium:chromium docker-compose:docker-compose kubectl:kubectl

tools:
	@missing=""; for pair in $(DEBIAN_TOOLS); do command -v "$${pair%%:*}" >/dev/null 2>&1 \
	  || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
	  else echo "not installed:$$missing (their tests will be skipped)"; fi; fi

test: install tools bytecode
	@if [ -f dashboard/package.json ]; then cd dashboard && npm test --silent; fi
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

test-slow: install
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install bytecode
	$(BIN)/python bench/interpreter.py

clean:
	rm -rf $(VENV) .headrace dashboard/dist dashboard/node_modules
