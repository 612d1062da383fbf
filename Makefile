# Headrace: `make dev` runs the product, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DASHBOARD_STAMP := dashboard/dist/index.html
PYTEST_ARGS ?=

.PHONY: install dashboard browser dev test test-slow lint format bench clean

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

dev: install
	$(BIN)/headrace dev

# The dashboard's browser tests drive Debian's Chromium (a Playwright download is not
# possible here); install it when we may, else those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
	  || echo "chromium is not installed: the browser tests will be skipped"; }

test: install browser
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

bench: install
	$(BIN)/python bench/interpreter.py

clean:
	rm -rf $(VENV) .headrace dashboard/dist dashboard/node_modules
