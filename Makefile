# The README's two commands are `make run` and `make test`; each sets up .venv itself on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 7071
DATA_DIR ?= .data

.PHONY: run run-azure cli test lint unit e2e bench clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)  ## the app on the embedded default: http://localhost:$(PORT)/api
	$(PY) -m infra.devhost --port $(PORT) --data-dir $(DATA_DIR)

run-azure: $(STAMP)  ## the same functions on Cosmos DB and Event Hubs (emulators or real), settings from local.settings.json
	$(PY) -m infra.devhost --backend azure --port $(PORT) --data-dir $(DATA_DIR)

cli: $(STAMP)  ## the read-model operator tool on the embedded data: make cli ARGS="verify --all"
	$(PY) -m infra.cli $(ARGS) --data-dir $(DATA_DIR)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy .

test: lint  ## lint, type-check, then every test
	$(PY) -m pytest

unit: $(STAMP)
	$(PY) -m pytest -m "not e2e"

# Benchmarks (issue 6): their own dependencies on top of the dev ones; never part of `make test`.
BENCH_STAMP := $(VENV)/.bench-installed
BENCH ?= --quick
$(BENCH_STAMP): $(STAMP) requirements-bench.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)  ## speed and cost vs the peers: bench-results/report.md (BENCH=--full: about ten minutes)
	$(PY) -m bench $(BENCH) --out bench-results

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
