# Strata: every target installs what it needs from python3, make and the package registries.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help up demo test lint contracts contracts-check governance bench system-deps clean

help:
	@echo "make up         start the whole stack (demo shop, two Tryton ERPs, every service)"
	@echo "make demo       play the demo scenario against the stack make up started"
	@echo "make test       lint, contract checks and every test"
	@echo "make lint       ruff, mypy and the import-layer contracts"
	@echo "make contracts  regenerate the OpenAPI documents under openapi/"
	@echo "make bench      run the benchmark suite, writing bench/results/latest.json"

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,tryton]'
	touch $(STAMP)

# What the tests and the stack run for real: redis-server, Node.js (Spectral, the Zendesk app),
# and Debian's Chromium with its driver for the browser test.
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v redis-cli >/dev/null || missing="$$missing redis-tools"; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "please install:$$missing (Debian package names)"; exit 1; fi; \
	fi

openapi/node_modules/.installed: openapi/package.json openapi/package-lock.json | system-deps
	npm ci --prefix openapi --no-audit --no-fund --loglevel=error
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

contracts: $(STAMP)
	$(BIN)/strata contracts

contracts-check: $(STAMP)
	$(BIN)/strata contracts --check

governance: $(STAMP) openapi/node_modules/.installed
	$(BIN)/python -m strata.contracts.lint
	$(BIN)/python -m strata.contracts.check

test: $(STAMP) system-deps lint contracts-check governance
	$(BIN)/pytest -q

bench: $(STAMP) system-deps
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk; } \
	  || { echo "please install wrk (Debian: apt-get install wrk)"; exit 1; }
	$(BIN)/python -m bench

up: $(STAMP) system-deps
	$(BIN)/strata up

demo: $(STAMP)
	$(BIN)/strata demo

clean:
	rm -rf $(VENV) var openapi/node_modules
